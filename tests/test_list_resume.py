"""An interrupted send (the process is killed mid-send) resumes with no member mailed twice and none missed."""
from __future__ import annotations

import asyncio
import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from db.models import Delivery
from helpers import ORGANISER, World
from list_helpers import add_members, list_copies, post, received, reply_to
from servers import SmtpSink, SinkMessage


class _FreezingHandler:
    def __init__(self, sink: FreezingSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink._cond:
            frozen = sink.freeze_after is not None and len(sink.messages) >= sink.freeze_after
        if frozen:
            # Hold the client until it is killed; this message was never acknowledged, so it is not kept.
            sink.frozen.set()
            while not sink.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 Try again later"
        with sink._cond:
            sink.messages.append(SinkMessage(envelope.mail_from, list(envelope.rcpt_tos),
                                             bytes(envelope.original_content or b"")))
            sink._cond.notify_all()
        return "250 OK"


class FreezingSink(SmtpSink):
    """An SMTP sink that stops answering after `freeze_after` accepted messages, as a slow server would."""

    def __init__(self) -> None:
        super().__init__()
        self.freeze_after: int | None = None
        self.frozen = threading.Event()
        self.release = threading.Event()

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(_FreezingHandler(self), hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()

    def stop(self) -> None:
        self.release.set()
        super().stop()


@pytest.fixture
def freezing_sink():
    with FreezingSink() as sink:
        yield sink


def _cli(world, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pioniers.cli", "--config", str(world.config_path), *args],
                            cwd=world.config_path.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_killed_send_resumes_without_duplicates(tmp_path, db_url, mailbox, freezing_sink):
    sink = freezing_sink
    world = World.create(tmp_path, db_url, mailbox, sink, extra="\n[list]\nconnections = 3\n")
    try:
        # The child processes use the system clock; so does this test's world, for once.
        world.clock.now = dt.datetime.now(dt.timezone.utc)
        people = [(f"lid{i:02d}@gemeente{i % 4}.example", f"Lid {i}") for i in range(40)]
        add_members(world, *people)
        world.deliver(post())
        world.poll()
        (preview,) = [m for _, m, _ in received(world) if "[#" in str(m["Subject"])]
        world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>"))
        sink.freeze_after = len(sink.messages) + 15

        first = _cli(world, "poll", "--once")  # takes the approval and starts sending
        assert sink.frozen.wait(60), first.communicate(timeout=10)[0] if first.poll() is not None else "no freeze"
        time.sleep(0.5)  # what the server accepted is marked sent right away
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        sink.freeze_after = None
        sink.release.set()

        copies = list_copies(world)
        assert 0 < len(copies) < len(people), "killed mid-send"
        with world.app.sm.begin() as s:
            assert s.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")) == len(copies)
            assert s.scalar(select(func.count(Delivery.id)).where(Delivery.claimed_by.is_not(None))) > 0

        second = _cli(world, "poll", "--once")  # the restart: the dead worker's claims are taken over at once
        out = second.communicate(timeout=120)[0]
        assert second.returncode == 0, out
        counts = Counter(r for r, _, _ in list_copies(world))
        assert counts == Counter(a for a, _ in people), "everyone exactly once"
        with world.app.sm.begin() as s:
            assert s.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")) == len(people)
    finally:
        world.close()
