"""The one outbox state machine (mailer/states.py): replies and list copies are held by a named process, wait
for the provider on a temporary refusal, fail on a permanent one, and a dead process's claims are free at once."""
from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

from sqlalchemy import select, update

from base.process import holder_id
from db.models import Delivery, Meeting, OutboundMessage
from db.states import DeliveryStatus, MeetingStatus, OutboundStatus, PollStatus
from helpers import REG
from list_helpers import add_members
from mailer import states
from mailer.fanout import Fanout, finish_announcements
from mailer.outbox import deliver_due, queue
from mailer.states import POLICY, OutboxState
from network import announcements as ann_ops
from pioniers.service import make_transport

NOW = dt.datetime(2027, 3, 1, 12, tzinfo=dt.timezone.utc)


def test_stored_words_are_unchanged():
    assert [*OutboundStatus] == ["queued", "waiting", "sent", "failed"]
    assert DeliveryStatus.SKIPPED == "skipped" and PollStatus.CLOSING == "closing"
    assert MeetingStatus("scheduled") is MeetingStatus.SCHEDULED and f"{MeetingStatus.CANCELLED}" == "cancelled"


def test_one_retry_policy():
    assert [POLICY.backoff(n).total_seconds() for n in range(7)] == [30, 30, 60, 120, 240, 480, 900]
    assert POLICY.backoff(10_000) == dt.timedelta(minutes=15)
    waiting = states.refused("451 4.7.0 rate limited", temporary=True, attempts=1, since=NOW, now=NOW)
    assert waiting["status"] == OutboxState.WAITING and waiting["next_attempt_at"] == NOW + dt.timedelta(seconds=30)
    late = states.refused("451 again", temporary=True, attempts=9, since=NOW - POLICY.max_age, now=NOW)
    assert late["status"] == OutboxState.FAILED and late["last_error"] == "gave up: 451 again"
    assert states.refused("550 no such user", temporary=False, attempts=1, since=NOW, now=NOW)["status"] == "failed"
    assert states.not_tried(states.NOT_TRIED_STOPPING, attempts=3, now=NOW)["next_attempt_at"] == NOW
    assert "status" not in states.not_tried(states.NOT_TRIED_DOWN, attempts=0, now=NOW)


def test_state_names():
    me = holder_id()
    assert states.state_of("queued", me, NOW + dt.timedelta(minutes=1), NOW) == OutboxState.HELD
    assert states.state_of("waiting", me, NOW - dt.timedelta(minutes=1), NOW) == OutboxState.WAITING  # lease over
    assert states.state_of("waiting", None, NOW + dt.timedelta(minutes=1), NOW) == OutboxState.WAITING
    assert states.state_of("sent", None, NOW, NOW) == OutboxState.SENT


def _dead_process() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}"


def _held_reply(world, holder: str) -> None:
    """A reply as a sender left it: held by holder, its lease minutes ahead."""
    now = world.app.now()
    with world.app.sm.begin() as s:
        queue(s, secret=b"s" * 32, key="k", recipient="a@schiedam.nl", kind="test",
              message=b"Subject: x\r\n\r\nx\r\n", now=now)
    with world.app.sm.begin() as s:
        s.execute(update(OutboundMessage).values(claimed_by=holder, next_attempt_at=now + POLICY.lease))


def _send_replies(world) -> int:
    transport = make_transport(world.app)
    try:
        return deliver_due(world.app.sm, transport, REG, world.app.now).sent
    finally:
        transport.close()


def test_a_reply_held_by_a_dead_process_is_free_at_once(world):
    _held_reply(world, _dead_process())
    assert _send_replies(world) == 1
    with world.app.sm.begin() as s:
        row = s.scalar(select(OutboundMessage))
        assert row.status == OutboundStatus.SENT and row.claimed_by is None


def test_a_reply_held_by_a_process_elsewhere_waits_for_its_lease(world):
    _held_reply(world, "elsewhere.example:1")
    assert _send_replies(world) == 0
    world.clock.advance(seconds=POLICY.lease.total_seconds())
    assert _send_replies(world) == 1


def _announce(world, n: int) -> None:
    add_members(world, *[(f"lid{i}@example.org", "") for i in range(n)])
    world.meeting("2027-03-18")
    with world.app.sm.begin() as s:
        ann_ops.start_sending(s, world.app, ann_ops.draft_for_meeting(s, world.app, s.scalar(select(Meeting))))


def _send_list(world):
    fanout = Fanout(world.app, lambda: make_transport(world.app))
    try:
        return fanout.run()
    finally:
        fanout.close()


def test_list_copies_wait_for_the_provider_then_go(world):
    _announce(world, 3)
    world.sink.fail_with = 451  # a quota or rate answer
    stats = _send_list(world)
    assert (stats.sent, stats.retry, stats.failed) == (0, 3, 0)
    with world.app.sm.begin() as s:
        rows = list(s.scalars(select(Delivery)))
        assert {r.status for r in rows} == {DeliveryStatus.WAITING} and all("451" in r.last_error for r in rows)
        (counts,) = ann_ops.counts(s)
        assert (counts.waiting, counts.queued, counts.announcement.status) == (3, 0, "sending")  # not done
    world.sink.fail_with = None
    assert _send_list(world).sent == 0  # not due yet
    world.clock.advance(seconds=POLICY.backoff(1).total_seconds())
    assert _send_list(world).sent == 3
    finish_announcements(world.app.sm, world.app.now())
    with world.app.sm.begin() as s:
        assert {r.status for r in s.scalars(select(Delivery))} == {DeliveryStatus.SENT}
        assert ann_ops.counts(s)[0].announcement.status == "sent"


def test_a_permanent_refusal_fails_a_list_copy_with_the_answer(world):
    _announce(world, 1)
    world.sink.fail_with = 550
    assert _send_list(world).failed == 1
    with world.app.sm.begin() as s:
        row = s.scalar(select(Delivery))
        assert row.status == DeliveryStatus.FAILED and row.last_error.startswith("550") and row.claimed_by is None


def test_a_list_copy_held_by_a_dead_process_is_free_at_once(world):
    _announce(world, 2)
    with world.app.sm.begin() as s:
        s.execute(update(Delivery).values(claimed_by=_dead_process(), next_attempt_at=world.app.now() + POLICY.lease))
    assert _send_list(world).sent == 2


def test_status_and_messages_name_a_reply_s_state(world):
    from pioniers.cli import _reply_state
    from pioniers.cli_admin import status

    now = world.app.now()
    with world.app.sm.begin() as s:
        for key in ("a", "b", "c"):
            queue(s, secret=b"s" * 32, key=key, recipient=f"{key}@schiedam.nl", kind="test",
                  message=b"Subject: x\r\n\r\nx\r\n", now=now)
    with world.app.sm.begin() as s:
        s.execute(update(OutboundMessage).where(OutboundMessage.key == "b").values(
            claimed_by="elsewhere.example:1", next_attempt_at=now + POLICY.lease))
        s.execute(update(OutboundMessage).where(OutboundMessage.key == "c").values(
            status=OutboundStatus.WAITING, last_error="452 4.2.2 quota", next_attempt_at=now + POLICY.backoff(1)))
    assert status(world.app)["replies"] == {"queued": 1, "held": 1, "waiting": 1, "sent_last_24h": 0}
    assert _reply_state("waiting", None, now, "452 4.2.2 quota", now) == "  [reply waiting: 452 4.2.2 quota]"
    assert _reply_state("queued", "h:1", now + POLICY.lease, "", now) == "  [reply held]"
