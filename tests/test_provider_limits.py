"""A provider's own limits (Exchange Online's rate and daily quota, Gmail's) pause the send: never a recipient
marked failed for the sender's quota. A connection lost after the message went out is never resent at once.

Real servers: an aiosmtpd server that answers as Exchange Online and Gmail do, or drops the connection after
DATA; the whole service against the test world's sink.
"""
from __future__ import annotations

import asyncio
import email
import email.policy

import pytest
from aiosmtpd.controller import Controller

from db.models import OutboundMessage
from helpers import mail
from mailer.transport import SendError, SmtpTransport, provider_limit
from servers import LOOPBACK, free_port
from test_wording import problems_nl

QUOTA = ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due "
         "to a permanent exception with message [BeginDiagnosticData]Message submission quota exceeded")


@pytest.mark.parametrize("reply, limit", [
    (QUOTA, True),
    ("550 5.4.5 Daily user sending quota exceeded.", True),
    ("550-5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits", True),
    ("421 4.4.2 Message submission rate for this client has exceeded the configured limit", True),
    ("452 4.5.3 Too many recipients", True),
    ("451 4.7.500 Server busy, please try again later", True),
    ("421 4.7.0 Try again later, closing connection.", True),
    ("550 5.1.1 The email account that you tried to reach does not exist", False),
    ("550 5.7.1 Service unavailable, client host blocked using Spamhaus", False),
    ("452 4.2.2 The email account that you tried to reach is over quota", False),  # the recipient's mailbox
    ("451 4.3.0 Temporary server error", False),
])
def test_what_counts_as_the_providers_limit(reply: str, limit: bool) -> None:
    assert provider_limit(reply) is limit


class _Provider:
    """Answers DATA as the recipient's name asks: 'quota' as Exchange Online at its daily limit, 'drop' by
    closing the connection once the message is in, anything else 250. Counts what it received."""

    def __init__(self, pipelining: bool) -> None:
        self.received: list[str] = []
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        rcpt = envelope.rcpt_tos[0]
        self.received.append(rcpt)
        if rcpt.startswith("quota"):
            return QUOTA
        if rcpt.startswith("drop"):
            server.transport.close()
            await asyncio.sleep(0.05)
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["pipelining", "stepwise"])
def provider(request):
    handler = _Provider(request.param)
    controller = Controller(handler, hostname=LOOPBACK, port=free_port(), ready_timeout=10)
    controller.start()
    yield controller, handler
    controller.stop()


def test_a_quota_answer_pauses_instead_of_failing_the_recipient(provider) -> None:
    controller, handler = provider
    transport = SmtpTransport(controller.hostname, controller.port)
    with pytest.raises(SendError) as refused:
        transport.send("aanmelden@pioniers.test", "quota@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.temporary and refused.value.connection  # the whole send waits
    assert "SubmissionQuotaExceeded" in refused.value.reply and "b'" not in refused.value.reply  # readable
    transport.send("aanmelden@pioniers.test", "jan@example.org", b"Subject: x\r\n\r\nx\r\n")  # and it goes on
    transport.close()


def test_a_connection_lost_after_data_is_never_resent_at_once(provider) -> None:
    controller, handler = provider
    transport = SmtpTransport(controller.hostname, controller.port)
    with pytest.raises(SendError) as lost:
        transport.send("aanmelden@pioniers.test", "drop@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert lost.value.temporary and "may have arrived" in lost.value.reply
    assert handler.received == ["drop@example.org"]  # once: the retry waits for the backoff
    transport.close()


def test_a_stale_connection_is_reopened_and_the_message_sent_once(provider) -> None:
    controller, handler = provider
    transport = SmtpTransport(controller.hostname, controller.port)
    transport.send("aanmelden@pioniers.test", "een@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert transport._conn is not None
    transport._conn.sock.close()  # the server (or a NAT) closed the idle connection meanwhile
    transport.send("aanmelden@pioniers.test", "twee@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert handler.received == ["een@example.org", "twee@example.org"]
    transport.close()


def test_confirmations_wait_out_the_providers_quota(world) -> None:
    """Exchange Online's daily quota reached in the middle of a burst: nobody marked failed; when the quota is
    back, everyone gets their confirmation once."""
    world.meeting()
    for n in range(6):
        world.deliver(mail(sender=f"deelnemer{n}@schiedam.nl"))
    world.sink.fail_with = QUOTA
    world.poll()
    with world.app.sm.begin() as s:
        states = [m.status for m in s.query(OutboundMessage).filter(OutboundMessage.kind == "confirmation")]
    assert len(states) == 6 and "failed" not in states and "sent" not in states
    world.sink.fail_with = None
    world.clock.advance(hours=1)
    world.poll()
    confirmed = [m.rcpt_tos[0] for m in world.sink.messages if m.rcpt_tos[0] != "organisatie@pioniers.test"]
    assert sorted(confirmed) == [f"deelnemer{n}@schiedam.nl" for n in range(6)]


def test_replies_wait_within_the_providers_rate_and_daily_quota(tmp_path, db_url, mailbox, smtp_sink) -> None:
    """[limits] messages_per_minute and recipients_per_day, for all sending together: what does not fit waits
    (never fails) and goes when the window has moved on; poll --once says what waits and why."""
    from helpers import World

    world = World.create(tmp_path, db_url, mailbox, smtp_sink,
                         extra="\n[limits]\nmessages_per_minute = 3\nrecipients_per_day = 5\n")
    world.meeting()
    for n in range(7):
        world.deliver(mail(sender=f"deelnemer{n}@schiedam.nl"))
    result = world.poll()
    assert (result.outbox.sent, result.outbox.failed) == (3, 0) and "provider's limit" in result.outbox.paused
    world.clock.advance(minutes=1)
    assert world.poll().outbox.sent == 2  # the day's 5 reached
    world.clock.advance(minutes=5)
    assert world.poll().outbox.sent == 0
    with world.app.sm.begin() as s:
        confirmations = s.query(OutboundMessage).filter(OutboundMessage.kind == "confirmation")
        assert sorted(m.status for m in confirmations) == ["queued"] * 2 + ["sent"] * 5
    world.clock.advance(days=1)
    assert world.poll().outbox.sent == 3  # the last two, and the organisers' note that sending waited
    assert len(world.sink.messages) == 8
    world.close()


def test_messages_failed_lists_what_did_not_go_with_the_answer(world, capsys) -> None:
    from pioniers.cli import main

    world.meeting()
    world.deliver(mail(sender="weg@schiedam.nl"))
    world.sink.fail_with = 550
    world.poll()
    assert main(["--config", str(world.config_path), "messages", "--failed"]) == 0
    out = capsys.readouterr().out
    assert "weg@schiedam.nl" in out and "reply confirmation" in out and "[failed: 550" in out


def test_the_organisers_hear_once_a_day_that_sending_waits(world) -> None:
    world.meeting()
    for n in range(3):
        world.deliver(mail(sender=f"deelnemer{n}@schiedam.nl"))
    world.sink.fail_with = QUOTA
    world.poll()
    world.poll()
    with world.app.sm.begin() as s:
        told = [(m.recipient, m.subject) for m in s.query(OutboundMessage).filter(OutboundMessage.kind == "send_paused")]
    assert told == [("organisatie@pioniers.test", "Verzenden wacht op je mailprovider")]
    with world.app.sm.begin() as s:
        (raw,) = [m.raw for m in s.query(OutboundMessage).filter(OutboundMessage.kind == "send_paused")]
    note = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
    assert note.startswith("Beste organisator,") and "de grens van je mailprovider voor versturen is bereikt" in note
    assert not problems_nl(note), "no server answer in English in the organisers' Dutch note"
    world.sink.fail_with = None
    world.clock.advance(hours=1)
    world.poll()
    assert {m.rcpt_tos[0] for m in world.sink.messages} >= {"organisatie@pioniers.test", "deelnemer0@schiedam.nl"}
