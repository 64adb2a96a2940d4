"""New people and their registrations are written as pending rows during an inbox chunk (db/pending.py).
Whatever else the same chunk does with them must see them: a cancel, a second sign-up, a full meeting, a
failure after they were added. One poll handles all of a test's messages in one chunk."""
from __future__ import annotations

from sqlalchemy import func, select

from db.models import InboundMessage, Person, Registration
from helpers import authenticated, mail


def _registrations(world) -> list[tuple[str, str, str]]:
    with world.app.sm.begin() as s:
        return [(r.person.email, str(r.meeting.date), r.status)
                for r in s.scalars(select(Registration).order_by(Registration.id))]


def _people(world) -> int:
    with world.app.sm.begin() as s:
        return s.scalar(select(func.count(Person.id))) or 0


def test_new_person_registers_and_cancels_in_one_chunk(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Jan <jan@schiedam.nl>"))
    world.deliver(mail(sender="Jan <jan@schiedam.nl>", subject="Afmelding Pioniersnetwerk 18 maart 2027",
                       headers=authenticated("jan@schiedam.nl")))
    result = world.poll()
    assert result.inbox.processed == 2
    assert _registrations(world) == [("jan@schiedam.nl", "2027-03-18", "cancelled")]
    subjects = [r["Subject"] for r in world.replies()]
    assert subjects[0].startswith("Aanmelding bevestigd") and subjects[1].startswith("Je bent afgemeld")
    assert _people(world) == 1


def test_new_person_registers_for_two_meetings_in_one_chunk(world):
    world.meeting("2027-03-18")
    world.meeting("2027-06-17")
    world.deliver(mail(sender="Els <els@utrecht.nl>"))
    world.deliver(mail(sender="Els <ELS@utrecht.nl>", subject="Pioniersnetwerk 17 juni 2027"))
    world.poll()
    assert _registrations(world) == [("els@utrecht.nl", "2027-03-18", "confirmed"),
                                     ("els@utrecht.nl", "2027-06-17", "confirmed")]
    assert _people(world) == 1


def test_full_meeting_in_one_chunk_waitlists_new_people_in_order(world):
    world.meeting("2027-03-18", capacity=2)
    for name in ("een", "twee", "drie", "vier"):
        world.deliver(mail(sender=f"{name}@delft.nl"))
    world.poll()
    assert [(email, status) for email, _, status in _registrations(world)] == [
        ("een@delft.nl", "confirmed"), ("twee@delft.nl", "confirmed"),
        ("drie@delft.nl", "waitlisted"), ("vier@delft.nl", "waitlisted")]
    replies = {r["To"]: r for r in world.replies()}
    assert "(plaats 1)" in replies["drie@delft.nl"].get_body(("plain",)).get_content()
    assert "(plaats 2)" in replies["vier@delft.nl"].get_body(("plain",)).get_content()


def test_failure_after_a_new_person_was_added_drops_only_that_persons_rows(world, monkeypatch):
    from inbox import handlers

    original = handlers.HANDLERS["register"]

    def explode_afterwards(job):
        outcome = original(job)  # the person, registration, member and reply rows are pending by now
        if job.msg.sender == "boom@schiedam.nl":
            raise RuntimeError("simulated failure")
        return outcome

    monkeypatch.setitem(handlers.HANDLERS, "register", explode_afterwards)
    world.meeting("2027-03-18")
    world.deliver(mail(sender="voor@schiedam.nl"))
    world.deliver(mail(sender="boom@schiedam.nl"))
    world.deliver(mail(sender="na@schiedam.nl"))
    result = world.poll()
    assert (result.inbox.processed, result.inbox.attention) == (2, 1)
    assert [email for email, _, _ in _registrations(world)] == ["voor@schiedam.nl", "na@schiedam.nl"]
    assert _people(world) == 2
    assert sorted(r["To"] for r in world.replies()) == ["na@schiedam.nl", "voor@schiedam.nl"]
    with world.app.sm.begin() as s:
        parked = s.scalar(select(InboundMessage).where(InboundMessage.sender == "boom@schiedam.nl"))
        assert parked.outcome == "attention" and "simulated failure" in parked.reason


def test_a_chunk_of_many_new_people_commits_at_once(world, caplog):
    """More rows than db/pending.py holds per table: each write must still put people before registrations,
    or the chunk falls back to one savepoint per message (correct, but many times slower)."""
    world.meeting("2027-03-18")
    for i in range(250):
        world.deliver(mail(sender=f"Deelnemer {i} <deelnemer{i:03d}@gemeente.example>"))
    with caplog.at_level("INFO", logger="pioniers.inbox"):
        result = world.poll()
    assert result.inbox.processed == 250 and result.outbox.sent == 250
    assert not [r for r in caplog.records if "message by message" in r.getMessage()]
    regs = _registrations(world)
    assert len(regs) == 250 and {status for _, _, status in regs} == {"confirmed"}
    assert _people(world) == 250


def test_places_counted_once_per_chunk_stay_true_through_cancel_and_promotion(world):
    """One chunk: the meeting fills, someone confirmed cancels, the first waiting is promoted; whoever comes
    next must find it full again (never overbooked) and get the right place on the waiting list."""
    world.meeting("2027-03-18", capacity=2)
    for name in ("een", "twee", "drie"):
        world.deliver(mail(sender=f"{name}@delft.nl"))
    world.deliver(mail(sender="een@delft.nl", subject="Afmelding Pioniersnetwerk 18 maart 2027",
                       headers=authenticated("een@delft.nl")))
    for name in ("vier", "vijf"):
        world.deliver(mail(sender=f"{name}@delft.nl"))
    world.poll()
    assert {email: status for email, _, status in _registrations(world)} == {
        "een@delft.nl": "cancelled", "twee@delft.nl": "confirmed", "drie@delft.nl": "confirmed",
        "vier@delft.nl": "waitlisted", "vijf@delft.nl": "waitlisted"}
    texts = {}
    for reply in world.replies():
        texts.setdefault(reply["To"], []).append(reply.get_body(("plain",)).get_content())
    assert "(plaats 1)" in texts["vier@delft.nl"][0] and "(plaats 2)" in texts["vijf@delft.nl"][0]
    assert len(texts["drie@delft.nl"]) == 2  # first on the waiting list, then promoted
