"""The pending jobs, handed to the workers in groups that may be one computation."""
from __future__ import annotations

import json
import threading

from parity.run.job import unresolved_settings
from parity.run.matrix import Job
from parity.spec.config import run_to_dict


# A framework gets one more worker when it has at least this many jobs left: starting one costs
# about a job's time (TF's import and first trace), so fewer would not pay for it.
MIN_JOBS_FOR_NEW_WORKER = 4


class JobBoard:
    """The pending jobs of every framework, handed out in groups to whichever worker of it asks.

    A group holds the jobs that may be one computation: same framework, seed and settings
    except their labels and the knob values a worker resolves against its framework's
    defaults (``parity.run.job.computation_key``). One worker takes a whole group, so its
    record of what it computed answers the repeats instead of a second worker training again.
    """

    def __init__(self, jobs: list[Job]):
        self.lock = threading.Lock()
        self.groups: dict[str, list[list[Job]]] = {}
        by_key: dict[tuple, list[Job]] = {}
        for job in jobs:
            key = (job.framework, job.seed, json.dumps(unresolved_settings(run_to_dict(job.run)), sort_keys=True))
            if key not in by_key:
                by_key[key] = []
                self.groups.setdefault(job.framework, []).append(by_key[key])
            by_key[key].append(job)
        self.unavailable: set[str] = set()

    def mark_unavailable(self, framework: str) -> None:
        with self.lock:
            self.unavailable.add(framework)

    def take(self, framework: str) -> list[Job] | None:
        with self.lock:
            groups = self.groups.get(framework)
            return groups.pop(0) if groups else None

    def _left(self) -> dict[str, int]:
        """Jobs left per framework that can still run (not marked unavailable)."""
        with self.lock:
            return {fw: sum(len(g) for g in groups) for fw, groups in self.groups.items()
                    if fw not in self.unavailable}

    def left(self, framework: str) -> int:
        return self._left().get(framework, 0)

    def first_frameworks(self, frameworks: list[str], slots: int) -> list[str]:
        """The framework each of at most ``slots`` workers starts with: in turn, never more than one per group."""
        with self.lock:
            groups = {fw: len(self.groups.get(fw, [])) for fw in frameworks}
        firsts: list[str] = []
        while len(firsts) < slots and any(groups.values()):
            for fw in frameworks:
                if groups[fw] and len(firsts) < slots:
                    firsts.append(fw)
                    groups[fw] -= 1
        return firsts

    def needing_a_worker(self) -> str | None:
        """The framework with the most jobs left, if a new worker of it would pay for itself."""
        left = self._left()
        best = max(left, key=left.get, default=None)
        return best if best is not None and left[best] >= MIN_JOBS_FOR_NEW_WORKER else None
