"""What a run shows while it runs: a line per finished job in any log, rich's live bar on a terminal."""
from __future__ import annotations

import sys
import threading
import time

from parity.run.matrix import Job


class Progress:
    """One line per finished job (count, outcome, ETA from the jobs so far): the run's record in any log.

    On a terminal (or a given rich ``console``) rich's live bar stays below those lines and moves
    while a job trains, with the elapsed time and an estimate of what is left.
    """

    def __init__(self, total: int, log, console=None):
        self.total, self.done, self.log = total, 0, log
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        self.console = console
        self.bar = self.task = None

    def __enter__(self) -> Progress:
        """The live bar runs inside ``with`` only, so it always stops (cursor and stderr given back)."""
        if self.total and (self.console is not None or sys.stderr.isatty()):
            self.bar, self.task = _live_bar(self.total, self.console)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            try:   # a closed terminal (SIGHUP) must not turn an interrupt into an internal error
                self.bar.stop()
            except (OSError, ValueError):
                pass
            self.bar = None

    def finished(self, job: Job, status: str, seconds: float, error: str | None, computed_by: str | None = None) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / self.done * (self.total - self.done)
            tail = "" if status == "ok" else f" -- {error}"
            same = f", the computation of {computed_by}" if computed_by else ""
            self.log(f"{self.done}/{self.total} {job.label()}: {status} ({seconds:.1f}s{same}), ETA {_fmt(eta)}{tail}")
            if self.bar is not None:
                self.bar.advance(self.task)


def _live_bar(total: int, console=None):
    """rich's progress bar on stderr; the log's lines (printed to stderr) go above it while it is live."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Bar(TextColumn("jobs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
              TimeRemainingColumn(), console=console or Console(stderr=True), transient=True, redirect_stdout=False)
    task = bar.add_task("jobs", total=total)
    bar.start()
    return bar, task


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"
