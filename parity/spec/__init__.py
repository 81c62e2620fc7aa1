"""What to run: config files, scenarios and suites, knobs (conventions and conversions), architectures."""
