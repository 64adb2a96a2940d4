"""Sending while reading: during a burst a second process delivers the outbox while this one works the inbox.

Confirmations go out as soon as each chunk of the inbox commits instead of after the last one, and the sending
runs on another core. The child is forked (it shares the loaded configuration and the injected clock), uses
its own database connections and SMTP connection, and ends when the parent says so or goes away.
"""
from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import threading
from collections.abc import Callable

from db.app import App
from mailer.outbox import DeliveryStats
from mailer.sending import deliver
from mailer.transport import Transport

log = logging.getLogger("pioniers.service")
_PR_SET_PDEATHSIG = 1


class BackgroundDelivery:
    """`nudge(remaining)` after each committed chunk; `finish()` waits for the child to send what is due."""

    def __init__(self, app: App, make_transport: Callable[[], Transport]) -> None:
        self.app, self.make_transport = app, make_transport
        self.pid, self._wfd, self._back = 0, -1, -1

    def nudge(self, remaining: int) -> None:
        if self.pid:
            try:
                os.write(self._wfd, b".")
            except BrokenPipeError:  # it stopped (logged there); finish() reaps it and the caller sends the rest
                pass
        elif remaining > 0 and threading.active_count() == 1:  # forking beside other threads is unsafe
            self._start()

    def _start(self) -> None:
        rfd, wfd = os.pipe()
        back_r, back_w = os.pipe()  # the child's counts, for the parent's report
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(wfd)
            os.close(back_r)
            code = 0
            try:
                _die_with(parent)
                stats = _deliver_until_done(self.app, self.make_transport, rfd)
                os.write(back_w, f"{stats.sent} {stats.retry} {stats.failed}".encode())
            except BaseException:  # noqa: BLE001 - the parent sends whatever is left
                log.exception("background delivery stopped")
                code = 1
            finally:
                os._exit(code)  # never return into the parent's code (and close nothing of the parent's)
        os.close(rfd)
        os.close(back_w)
        self.pid, self._wfd, self._back = pid, wfd, back_r
        log.info("background delivery started (pid %d)", pid)

    def finish(self) -> DeliveryStats:
        """What the child sent (zeros when there was none)."""
        stats = DeliveryStats()
        if not self.pid:
            return stats
        os.close(self._wfd)  # end of file: the child sends what is due, then exits
        _, status = os.waitpid(self.pid, 0)
        counts = os.read(self._back, 100).split()
        os.close(self._back)
        if len(counts) == 3:
            stats.sent, stats.retry, stats.failed = (int(c) for c in counts)
        if os.waitstatus_to_exitcode(status) != 0:
            log.warning("background delivery ended with status %s; sending the rest here", status)
        self.pid = 0
        return stats


def _checkpoint(app: App) -> None:
    """SQLite: copy the write-ahead log into the database here, on this core, not in the reading process's
    next commit (PASSIVE: it waits for no one and blocks no one)."""
    engine = app.sm.kw["bind"]
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception as exc:  # noqa: BLE001 - the next commit checkpoints instead
        log.debug("checkpoint skipped: %s", exc)
    finally:
        raw.close()


def _die_with(parent: int) -> None:
    """Killed with the parent, as one process would be: a kill then repeats at most the message in flight."""
    try:  # PR_SET_PDEATHSIG (Linux) has no stdlib wrapper; elsewhere the closed pipe ends the child
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _deliver_until_done(app: App, make_transport: Callable[[], Transport], rfd: int) -> DeliveryStats:
    app.sm.kw["bind"].dispose(close=False)  # the parent's pooled connections stay the parent's
    transport = make_transport()
    total, done = DeliveryStats(), False
    try:
        while True:
            total.add(deliver(app, transport))
            _checkpoint(app)
            if done:
                return total
            ready, _, _ = select.select([rfd], [], [], 1.0)  # the next chunk, or the end
            done = bool(ready) and not os.read(rfd, 4096)  # end of file: the parent is done (or gone)
    finally:
        transport.close()
