"""Progress for people reading a log: plain lines on stderr when it is not a terminal.

A rich progress bar redraws itself in place, which a log file, ``nohup``, a CI job or ``2> run.log``
turn into nothing (rich hides it) or into noise. :func:`progress_lines` instead writes a line
every ``every_s`` seconds, and after every ``every_frac`` of the tiles (but never two within
``min_gap_s``), and one at the end of a run that took longer than ``min_gap_s``::

    detect scene.tif: 45/441 tiles (10%), 1.9 tiles/s, 3m28s left
    detect scene.tif: 89/441 tiles (20%), 1.9 tiles/s, 3m05s left
    ...
    detect scene.tif: 441/441 tiles in 3m52s (1.9 tiles/s)

A run that takes a few seconds, or fails at once, writes none: its stderr stays the answer's
summary, or the one line of its error.

The rate counts the tiles finished since the first one (so model warm-up is not taken for slowness;
replayed tiles of a ``--resume`` count too); the time left is the tiles left at that rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["LinePacer", "duration", "progress_lines"]

T = TypeVar("T")

#: Seconds between two progress lines (at most; more often when ``every_frac`` of the tiles is done).
EVERY_S = 30.0
#: Share of the tiles after which a line is written even if ``EVERY_S`` has not passed.
EVERY_FRAC = 0.1
#: No line more often than this (seconds), whatever ``every_frac`` says.
MIN_GAP_S = 5.0


def duration(seconds: float) -> str:
    """A duration for people.

    >>> duration(7.2), duration(169), duration(3 * 3600 + 125)
    ('7s', '2m49s', '3h02m')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class LinePacer:
    """Decides when a progress line is due, and writes it: ``update(done, total)`` as work lands,
    ``finish(done, total)`` at the end (see the module doc; :func:`progress_lines` drives one).

    ``unit`` names what is counted (``tiles``, ``samples``).
    """

    def __init__(self, label: str, write: Callable[[str], None], *, unit: str = "tiles",
                 every_s: float | None = None, every_frac: float | None = None, min_gap_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.write, self.unit, self.clock = label, write, unit, clock
        self.every_s = EVERY_S if every_s is None else every_s
        self.every_frac = EVERY_FRAC if every_frac is None else every_frac
        self.min_gap_s = MIN_GAP_S if min_gap_s is None else min_gap_s
        self.start = self.last = clock()
        self.next_count: int | None = None
        self.first: tuple[int, float] | None = None  # (done, time) at the first update with work done

    def update(self, done: int, total: int | None) -> None:
        now = self.clock()
        if self.next_count is None and total:
            self.next_count = max(1, int(total * self.every_frac))
        step = max(1, int(total * self.every_frac)) if total else None
        due = now - self.last >= self.every_s or (
            self.next_count is not None and done >= self.next_count and now - self.last >= self.min_gap_s)
        if self.first is None and done > 0:
            self.first = (done, now)
        if due and done > 0 and (not total or done < total):
            text = (f"{self.label}: {done}/{total} {self.unit} ({done / total:.0%})" if total
                    else f"{self.label}: {done} {self.unit}")
            n0, t0 = self.first
            if done > n0 and now > t0:  # the rate since the first result: start-up is not work
                rate = (done - n0) / (now - t0)
                text += f", {rate:.2g} {self.unit}/s"
                if total:
                    text += f", {duration((total - done) / rate)} left"
            self.write(text)
            self.last = now
        while step is not None and self.next_count is not None and done >= self.next_count:
            self.next_count += step

    def finish(self, done: int, total: int | None) -> None:
        elapsed = self.clock() - self.start
        if elapsed >= self.min_gap_s:
            self.write(f"{self.label}: {done}/{total if total is not None else done} {self.unit} in "
                       f"{duration(elapsed)} ({done / max(elapsed, 1e-9):.2g} {self.unit}/s)")


def progress_lines(
    items: Iterable[T],
    total: int | None,
    label: str,
    write: Callable[[str], None],
    *,
    every_s: float | None = None,
    every_frac: float | None = None,
    min_gap_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield ``items``, writing progress lines with ``write`` (see the module doc).

    ``every_s``, ``every_frac``, ``min_gap_s``: default :data:`EVERY_S`, :data:`EVERY_FRAC`,
    :data:`MIN_GAP_S`.

    >>> ticks = iter(range(0, 1000, 10))
    >>> lines = []
    >>> list(progress_lines(range(4), 4, "count s.tif", lines.append, every_s=25, every_frac=1,
    ...                     clock=lambda: next(ticks)))  # a tile every 10 s
    [0, 1, 2, 3]
    >>> for line in lines: print(line)
    count s.tif: 3/4 tiles (75%), 0.1 tiles/s, 10s left
    count s.tif: 4/4 tiles in 50s (0.08 tiles/s)
    """
    pacer = LinePacer(label, write, every_s=every_s, every_frac=every_frac, min_gap_s=min_gap_s, clock=clock)
    done = 0
    for item in items:
        yield item
        done += 1
        pacer.update(done, total)
    pacer.finish(done, total)
