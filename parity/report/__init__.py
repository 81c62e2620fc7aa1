"""Reading results: tables, statistics, the regression gate, plots and report.html."""
