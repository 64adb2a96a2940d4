"""Registration end to end: real Dovecot in, real SMTP sink out, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import vobject
from sqlalchemy import func, select

from db.models import InboundMessage, OutboundMessage, Person, Registration
from helpers import REG, mail, parts, text_of


def _registrations(world) -> list[tuple[str, str]]:
    with world.app.sm.begin() as s:
        return [(r.person.email, r.status) for r in s.scalars(select(Registration).order_by(Registration.id))]


def _reread_invite(part) -> vobject.base.Component:
    """A second, independent iCalendar parser (vobject) reads what icalendar wrote."""
    return vobject.readOne(part.get_payload(decode=True).decode("utf-8"))


def test_registration_gets_confirmation_with_invite(world):
    world.meeting("2027-03-18")
    world.deliver(mail(subject="Aanmelding Pioniersnetwerk 18 maart 2027",
                       body="Hallo,\n\nIk kom graag.\n\nMet vriendelijke groet,\nJan Jansen\nAdviseur informatiebeheer\n"
                            "Gemeente Schiedam\n",
                       msgid="<AM0PR09MB1234567890ABCDEF1234567890ABCDEF12345678@AM0PR09MB1234.eurprd09.prod.outlook.com>"))
    result = world.poll()
    assert result.inbox.processed == 1 and result.outbox.sent == 1
    (reply,) = world.replies()
    assert world.sink.messages[0].rcpt_tos == ["jan.jansen@schiedam.nl"]
    assert reply["To"] == "jan.jansen@schiedam.nl"
    assert reply["From"].addresses[0].addr_spec == REG
    assert reply["Auto-Submitted"] == "auto-replied"
    # Outlook's long Message-ID survives unfolded and unencoded.
    raw = world.sink.messages[0].data.decode()
    assert "In-Reply-To: <AM0PR09MB1234567890ABCDEF1234567890ABCDEF12345678@AM0PR09MB1234.eurprd09.prod.outlook.com>" in raw
    text = text_of(reply)
    assert "donderdag 18 maart 2027, 14.00-17.00 uur" in text
    assert "Stadskantoor, Stadserf 1, Schiedam" in text and "Gemeente Schiedam" in text and "afmelden" in text
    assert reply.get_content_type() == "multipart/mixed"
    alt = [p for p in reply.iter_parts()][0]
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    cal_part = parts(reply)["text/calendar"][0]
    assert cal_part.get_param("method") == "REQUEST"
    assert parts(reply)["application/ics"], "the invite is also attached as an .ics file"
    cal = _reread_invite(cal_part)
    assert cal.method.value == "REQUEST"
    ev = cal.vevent
    assert ev.dtstart.value.astimezone(dt.timezone.utc) == dt.datetime(2027, 3, 18, 13, 0, tzinfo=dt.timezone.utc)
    assert ev.dtend.value.astimezone(dt.timezone.utc) == dt.datetime(2027, 3, 18, 16, 0, tzinfo=dt.timezone.utc)
    assert ev.attendee.value.lower() == "mailto:jan.jansen@schiedam.nl"
    assert ev.organizer.value.lower() == f"mailto:{REG}"
    assert "RRULE" in cal_part.get_payload(decode=True).decode() and "RDATE" not in cal_part.get_payload(decode=True).decode()
    # The registration is stored, with name and organisation, and the message moved to the processed folder.
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed")]
    with world.app.sm.begin() as s:
        person = s.scalar(select(Person))
        assert (person.name, person.organisation) == ("Jan Jansen", "Gemeente Schiedam")
    assert world.mailbox.messages("INBOX") == []
    assert len(world.mailbox.messages("Verwerkt")) == 1


def test_same_person_again_gets_already_registered_and_one_registration(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Jan <jan@schiedam.nl>"))
    world.deliver(mail(sender="Jan <JAN@Schiedam.NL>", subject="RE: Pioniersnetwerk 18 maart 2027"))
    world.poll()
    first, second = world.replies()
    assert first["Subject"].startswith("Aanmelding bevestigd")
    assert second["Subject"].startswith("Je was al aangemeld")
    assert parts(second)["text/calendar"], "the invite is sent again"
    assert _registrations(world) == [("jan@schiedam.nl", "confirmed")]


def test_organisation_from_domain_when_no_signature(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Els de Vries <e.devries@utrecht.nl>", body="Aanmelden graag.\n"))
    world.poll()
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person.organisation)) == "Gemeente Utrecht"


def test_date_that_is_no_meeting_lists_open_meetings(world):
    world.meeting("2027-03-18")
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    world.deliver(mail(subject="Pioniersnetwerk 19 maart 2027"))
    world.poll()
    (reply,) = world.replies()
    text = text_of(reply)
    assert "donderdag 18 maart 2027" in text and "donderdag 17 juni 2027" in text
    assert "Pioniersnetwerk 18 maart 2027" in text  # how to register, ready to copy
    assert "text/calendar" not in parts(reply)
    assert _registrations(world) == []


def test_past_meeting_says_it_has_taken_place(world):
    world.meeting("2027-01-14")
    world.meeting("2027-03-18")
    world.deliver(mail(subject="Pioniersnetwerk 14 januari 2027"))
    world.poll()
    (reply,) = world.replies()
    assert "al geweest" in reply["Subject"]
    assert "18 maart 2027" in text_of(reply)
    assert _registrations(world) == []


def test_unrecognised_mail_goes_to_a_person_with_reason_and_an_acknowledgement(world):
    world.meeting("2027-03-18")
    world.deliver(mail(subject="Vraagje over parkeren", body="Kan ik parkeren bij het stadhuis?\n"))
    result = world.poll()
    assert result.inbox.attention == 1
    (ack,) = world.replies()  # never silence for a human (was: no reply at all)
    assert "organisatoren" in text_of(ack)
    assert len(world.mailbox.messages("Aandacht")) == 1
    with world.app.sm.begin() as s:
        row = s.scalar(select(InboundMessage))
        assert row.outcome == "attention" and "no meeting date" in row.reason


def test_error_in_one_message_parks_it_and_the_next_is_processed(world, monkeypatch):
    from inbox import handlers

    original = handlers.HANDLERS["register"]

    def explode(job):
        if job.msg.sender == "boom@schiedam.nl":
            raise RuntimeError("simulated failure")
        return original(job)

    monkeypatch.setitem(handlers.HANDLERS, "register", explode)
    world.meeting("2027-03-18")
    world.deliver(mail(sender="boom@schiedam.nl"))
    world.deliver(mail(sender="ok@schiedam.nl"))
    result = world.poll()
    assert (result.inbox.processed, result.inbox.attention) == (1, 1)
    assert _registrations(world) == [("ok@schiedam.nl", "confirmed")]
    with world.app.sm.begin() as s:
        parked = s.scalar(select(InboundMessage).where(InboundMessage.sender == "boom@schiedam.nl"))
        assert parked.outcome == "attention" and "simulated failure" in parked.reason
    assert len(world.mailbox.messages("Aandacht")) == 1


def test_nothing_processed_twice_even_when_the_move_was_lost(world):
    world.meeting("2027-03-18")
    raw = mail()
    world.deliver(raw)
    world.poll()
    world.poll()  # a second poll --once finds nothing
    # As if we crashed after committing but before moving: the same message is back in the inbox.
    world.mailbox.append(raw)
    world.app.sm.kw["bind"]  # same database
    with world.app.sm.begin() as s:
        from db.models import FolderState

        for st in s.scalars(select(FolderState)):
            st.last_uid = 0
    result = world.poll()
    assert len(world.sink.messages) == 1
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed")]
    assert world.mailbox.messages("INBOX") == []
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(OutboundMessage.id))) == 1
    assert result.inbox.processed == 1  # seen, recognised, only moved


def test_messages_processed_in_uid_order_and_identity_recorded(world):
    world.meeting("2027-03-18", capacity=1)
    world.deliver(mail(sender="eerste@schiedam.nl"))
    world.deliver(mail(sender="tweede@schiedam.nl"))
    world.poll()
    assert _registrations(world) == [("eerste@schiedam.nl", "confirmed"), ("tweede@schiedam.nl", "waitlisted")]
    with world.app.sm.begin() as s:
        rows = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        assert [r.uid for r in rows] == ["1", "2"]
        assert all(len(r.sha256) == 64 and r.uidvalidity > 0 and r.message_id for r in rows)


def test_english_network_answers_in_english(tmp_path, db_url, mailbox, smtp_sink):
    from helpers import World

    world = World.create(tmp_path, db_url, mailbox, smtp_sink)
    world.config_path.write_text(world.config_path.read_text().replace('language = "nl"', 'language = "en"'))
    from db.app import App
    from base.config import load_config

    world.app = App.from_config(load_config(world.config_path), world.clock)
    world.meeting("2027-03-18")
    world.deliver(mail(subject="Pioniersnetwerk 18 March 2027", body="I'd like to join.\n"))
    world.poll()
    (reply,) = world.replies()
    text = text_of(reply)
    assert "Thursday 18 March 2027, 14:00-17:00" in text
    assert "Beste" not in text and "Dear" in text
    assert parts(reply)["text/calendar"]


def test_reply_to_our_confirmation_from_someone_registered_goes_to_a_person(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="jan@schiedam.nl"))
    world.poll()
    (confirmation,) = world.replies()
    world.deliver(mail(sender="jan@schiedam.nl", subject="RE: " + str(confirmation["Subject"]),
                       body="Is er parkeergelegenheid bij het stadskantoor?\n",
                       headers={"In-Reply-To": confirmation["Message-ID"], "References": confirmation["Message-ID"]}))
    result = world.poll()
    assert result.inbox.attention == 1
    # no "already registered" auto-reply to a question, but word that a person will answer (was: nothing at all)
    assert len(world.sink.messages) == 2 and "organisatoren" in text_of(world.replies()[-1])
    assert _registrations(world) == [("jan@schiedam.nl", "confirmed")]
    with world.app.sm.begin() as s:
        row = s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row.outcome == "attention" and "for a person to read" in row.reason
