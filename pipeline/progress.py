"""Progress of the annotate stage, the job's longest (every signal of every rule set, language
ID): documents/s and, since the number of documents to annotate is known by then (a side input),
the share done and an ETA for the stage.

Each process counts what it annotated. With several worker processes each logs its own figures
and its ETA assumes the workers share the documents evenly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

PROGRESS_SECONDS = 30.0  # default interval between progress lines (--progress_seconds)


class Progress:
    def __init__(self, interval: float, total_docs: int | None = None, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic, out=None):
        self.interval, self.total, self.workers = interval, total_docs, max(workers, 1)
        self.clock, self.out = clock, out
        self.start = self.last = clock()
        self.docs = self.bytes = 0

    def add(self, docs: int = 0, nbytes: int = 0) -> str | None:
        """Counts documents; returns (and writes) a progress line once the interval has passed."""
        self.docs += docs
        self.bytes += nbytes
        now = self.clock()
        if self.interval <= 0 or now - self.last < self.interval:
            return None
        self.last = now
        line = self.line(now)
        print(line, file=self.out or sys.stderr, flush=True)
        return line

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        text = (f"sieve progress: annotated {self.docs:,} documents in {elapsed:.0f} s "
                f"({self.docs / elapsed:,.0f} docs/s, {self.bytes / 1e6 / elapsed:.2f} MB/s)")
        if self.total:
            share = self.total / self.workers
            done = min(self.docs / share, 1.0)
            eta = elapsed * (1 - done) / done if done > 0 else float("inf")
            who = "" if self.workers == 1 else f" of this worker's ~1/{self.workers} share"
            text += f"; {done:.1%}{who} of {self.total:,}; annotate stage ETA {eta:,.0f} s"
        return text
