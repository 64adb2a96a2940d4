"""Progress on stderr for a command that sends or processes many items, one helper for all of them.

At a terminal: one line redrawn in place, at most five times a second, once there are more than THRESHOLD items
or the work has taken DELAY seconds (a few dozen mails stay silent). Not at a terminal (cron, a pipe, a log): a
plain line at most every QUIET_EVERY seconds, and only once the work has run that long; a script's log then shows
that a long send is alive without filling up with redraws, and a quick one stays as it was. stdout is left alone:
it holds the command's result, which scripts read.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

THRESHOLD = 200  # items: above this a terminal shows progress from the start
DELAY = 2.0  # seconds: after this a terminal shows it anyway (a slow relay)
REDRAW = 0.2  # seconds between two redraws at a terminal
QUIET_EVERY = 10.0  # seconds between two lines when stderr is not a terminal
WIDTH = 30


def is_terminal() -> bool:
    """Is stderr a terminal? (Tests replace this to see what a person at a terminal sees.)"""
    return sys.stderr.isatty()


class Progress:
    """with Progress("sending", total) as p: ... p.update(done, "sent 3, failed 0") ...

    update() is cheap when nothing is drawn; due() says whether a draw would happen, for callers whose count
    costs a query."""

    def __init__(self, label: str, total: int, *, terminal: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, stream: TextIO | None = None) -> None:
        self.label, self.total = label, total
        self.terminal = is_terminal() if terminal is None else terminal
        self.clock = clock
        self.stream = stream if stream is not None else sys.stderr
        self.started = clock()
        self.last = float("-inf")
        self.done, self.detail, self.drawn, self.finished = 0, "", False, False

    def due(self) -> bool:
        now = self.clock()
        elapsed = now - self.started
        if self.terminal:
            return (self.total > THRESHOLD or elapsed >= DELAY) and now - self.last >= REDRAW
        return elapsed >= QUIET_EVERY and now - self.last >= QUIET_EVERY

    def update(self, done: int, detail: str = "") -> None:
        self.done, self.detail = done, detail
        if self.due():
            self._draw()

    def _line(self) -> str:
        total = max(self.total, self.done)
        count = f"{self.done}/{total}" + (f" ({self.detail})" if self.detail else "")
        if not self.terminal:
            return f"{self.label}: {count}, {self.clock() - self.started:.0f} s"
        filled = WIDTH * self.done // total if total else WIDTH
        return f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {count}"

    def _draw(self) -> None:
        self.last = self.clock()
        self.drawn = True
        self.stream.write(("\r" + self._line() + "\x1b[K") if self.terminal else self._line() + "\n")
        self.stream.flush()

    def finish(self, done: int | None = None, detail: str | None = None) -> None:
        """The last count, where progress was shown (nothing was done: nothing to show). Once."""
        if self.finished:
            return
        self.finished = True
        if done is not None:
            self.done = done
        if detail is not None:
            self.detail = detail
        if self.drawn:
            self._draw()
            if self.terminal:
                self.stream.write("\n")
                self.stream.flush()

    def __enter__(self) -> Progress:
        return self  # drawn at the first update: a command that finds nothing to do shows nothing

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.finish()
        elif self.drawn and self.terminal:
            self.stream.write("\n")  # an error's one line starts on its own line
