"""A registration's life: cancel, waiting list, calendar replies, meeting changes, reminders (real inbox and sink)."""
from __future__ import annotations

import datetime as dt
import threading
from email.message import EmailMessage

import pytest
import vobject
from sqlalchemy import select

from db.models import Meeting, Registration
from helpers import REG, authenticated, mail, parts, reply_mail, text_of
from network.meetings import Update, UserError, cancel_meeting, update_meeting

DAY = dt.date(2027, 3, 18)


def statuses(world) -> dict[str, str]:
    with world.app.sm.begin() as s:
        return {r.person.email: r.status for r in s.scalars(select(Registration))}


def invite_of(msg) -> vobject.base.Component | None:
    cal = parts(msg).get("text/calendar")
    return vobject.readOne(cal[0].get_payload(decode=True).decode()) if cal else None


def meeting_uid(world) -> str:
    with world.app.sm.begin() as s:
        return s.scalar(select(Meeting.uid))


def register(world, *senders: str) -> None:
    for sender in senders:
        world.deliver(mail(sender=sender))
    world.poll()


def test_cancel_by_mail_sends_cancel_invite(world):
    world.meeting()
    register(world, "jan@schiedam.nl")
    world.deliver(mail(sender="jan@schiedam.nl", subject="Afmelding Pioniersnetwerk 18 maart 2027", body="Sorry!\n"))
    world.poll()
    # A bare mail proves nothing about its From: the address is asked first, and its reply cancels.
    assert statuses(world) == {"jan@schiedam.nl": "confirmed"}
    world.deliver(reply_mail(world, "jan@schiedam.nl", "Ja\n"))
    world.poll()
    confirmation, asked, cancelled = world.replies()
    assert "bevestigen" in asked["Subject"]
    assert statuses(world) == {"jan@schiedam.nl": "cancelled"}
    assert "afgemeld" in cancelled["Subject"]
    first, second = invite_of(confirmation), invite_of(cancelled)
    assert second.method.value == "CANCEL" and second.vevent.status.value == "CANCELLED"
    assert second.vevent.uid.value == first.vevent.uid.value == meeting_uid(world)
    assert int(second.vevent.sequence.value) > int(first.vevent.sequence.value)


def test_reply_to_confirmation_saying_cannot_come_cancels(world):
    world.meeting()
    register(world, "jan@schiedam.nl")
    body = ("Hoi, ik kan toch niet komen helaas.\n\nVan: Pioniersnetwerk Open Overheid <aanmelden@pioniers.test>\n"
            "Verzonden: maandag 1 februari 2027 10:00\nAan: jan@schiedam.nl\n"
            "Onderwerp: Aanmelding bevestigd: Pioniersnetwerk 18 maart 2027\n")
    world.deliver(reply_mail(world, "jan@schiedam.nl", body,
                             subject="RE: Aanmelding bevestigd: Pioniersnetwerk 18 maart 2027"))
    world.poll()
    assert statuses(world) == {"jan@schiedam.nl": "cancelled"}


def test_cancel_when_not_registered_gets_friendly_answer_and_no_registration(world):
    world.meeting()
    world.deliver(mail(sender="onbekend@delft.nl", subject="Afmelden Pioniersnetwerk 18 maart 2027"))
    world.poll()
    (reply,) = world.replies()
    assert "niet aangemeld" in reply["Subject"]
    assert invite_of(reply) is None
    assert statuses(world) == {}


def test_waiting_list_is_fifo_and_freed_place_goes_to_the_first(world):
    world.meeting(capacity=2)
    register(world, "a@schiedam.nl", "b@schiedam.nl", "c@schiedam.nl", "d@schiedam.nl")
    assert statuses(world) == {"a@schiedam.nl": "confirmed", "b@schiedam.nl": "confirmed",
                               "c@schiedam.nl": "waitlisted", "d@schiedam.nl": "waitlisted"}
    waitlisted = [m for m in world.replies() if m["To"] == "c@schiedam.nl"][0]
    assert "wachtlijst" in waitlisted["Subject"] and invite_of(waitlisted) is None
    assert "plaats 1" in text_of(waitlisted)
    world.deliver(reply_mail(world, "b@schiedam.nl", "Afmelden, sorry.\n",
                             subject="Afmelden Pioniersnetwerk 18 maart 2027"))
    world.sink.clear()
    world.poll()
    assert statuses(world)["c@schiedam.nl"] == "confirmed"
    assert statuses(world)["d@schiedam.nl"] == "waitlisted"
    promoted = [m for m in world.replies() if m["To"] == "c@schiedam.nl"]
    assert len(promoted) == 1 and "vrijgekomen" in promoted[0]["Subject"]
    assert invite_of(promoted[0]).method.value == "REQUEST"


def _calendar_reply(sender: str, uid: str, partstat: str, subject: str, headers: dict | None = None) -> bytes:
    ics = ("BEGIN:VCALENDAR\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nMETHOD:REPLY\r\n"
           "BEGIN:VEVENT\r\nATTENDEE;PARTSTAT=" + partstat + ";CN=Jan Jansen:mailto:" + sender + "\r\n"
           "UID:" + uid + "\r\nSEQUENCE:0\r\nSUMMARY;LANGUAGE=nl-NL:" + subject + "\r\n"
           "DTSTART;TZID=W. Europe Standard Time:20270318T140000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    msg = EmailMessage()
    msg["From"] = f"Jan Jansen <{sender}>"
    msg["To"] = REG
    msg["Subject"] = subject
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content("")
    msg.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    return msg.as_bytes()


def test_calendar_replies(world):
    world.meeting(capacity=1)
    register(world, "jan@schiedam.nl", "piet@schiedam.nl")
    uid = meeting_uid(world)
    world.sink.clear()
    world.deliver(_calendar_reply("jan@schiedam.nl", uid, "ACCEPTED", "Geaccepteerd: Pioniersnetwerk Open Overheid"))
    world.deliver(_calendar_reply("jan@schiedam.nl", uid, "TENTATIVE", "Voorlopig: Pioniersnetwerk Open Overheid"))
    result = world.poll()
    assert result.inbox.attention == 0 and world.sink.messages == []
    with world.app.sm.begin() as s:
        reg = s.scalar(select(Registration).where(Registration.status == "confirmed"))
        assert (reg.person.email, reg.partstat) == ("jan@schiedam.nl", "TENTATIVE")
    # A DECLINED cancels, so it needs proof of its From: here our server's DMARC pass.
    world.deliver(_calendar_reply("jan@schiedam.nl", uid, "DECLINED", "Geweigerd: Pioniersnetwerk Open Overheid",
                                  authenticated("jan@schiedam.nl")))
    result = world.poll()
    assert result.inbox.attention == 0
    assert statuses(world) == {"jan@schiedam.nl": "cancelled", "piet@schiedam.nl": "confirmed"}
    by_to = {m["To"]: m for m in world.replies()}
    assert invite_of(by_to["jan@schiedam.nl"]) is None  # already gone from their calendar
    assert invite_of(by_to["piet@schiedam.nl"]).method.value == "REQUEST"  # moved up from the waiting list


def test_meeting_update_sends_updated_invite_once(world):
    world.meeting()
    register(world, "jan@schiedam.nl", "piet@utrecht.nl")
    world.sink.clear()
    update = update_meeting(world.app, DAY, start="13:00", location="Raadzaal, Stadserf 1")
    assert update.queued == 2 and update.changes == [
        "De bijeenkomst begint nu om 13.00 uur in plaats van 14.00 uur.",
        "De bijeenkomst is nu in Raadzaal, Stadserf 1 in plaats van in Stadskantoor, Stadserf 1, Schiedam."]
    world.poll()
    assert len(world.replies()) == 2
    for msg in world.replies():
        cal = invite_of(msg)
        assert cal.method.value == "REQUEST" and int(cal.vevent.sequence.value) == 1
        assert cal.vevent.uid.value == meeting_uid(world)
        assert cal.vevent.dtstart.value.astimezone(dt.timezone.utc) == dt.datetime(2027, 3, 18, 12, 0,
                                                                                  tzinfo=dt.timezone.utc)
        assert "Raadzaal" in text_of(msg)
    # Running the same command again changes nothing and sends nothing.
    assert update_meeting(world.app, DAY, start="13:00", location="Raadzaal, Stadserf 1") == Update([], 0)
    world.poll()
    assert len(world.replies()) == 2


def test_meeting_moved_to_new_date_keeps_uid(world):
    world.meeting()
    register(world, "jan@schiedam.nl")
    world.sink.clear()
    update_meeting(world.app, DAY, new_date=dt.date(2027, 3, 25))
    world.poll()
    (msg,) = world.replies()
    cal = invite_of(msg)
    assert cal.vevent.uid.value == meeting_uid(world)
    assert cal.vevent.dtstart.value.date() == dt.date(2027, 3, 25)
    assert "25 maart 2027" in msg["Subject"]


def test_meeting_cancel_reaches_confirmed_and_waitlisted_once(world):
    world.meeting(capacity=1)
    register(world, "jan@schiedam.nl", "piet@utrecht.nl")
    world.sink.clear()
    assert cancel_meeting(world.app, DAY, "de gastheer is verhinderd") == 2
    assert cancel_meeting(world.app, DAY, "de gastheer is verhinderd") == 0  # interrupted and run again
    world.poll()
    assert sorted(m["To"] for m in world.replies()) == ["jan@schiedam.nl", "piet@utrecht.nl"]
    sent = {m["To"]: m for m in world.replies()}
    cal = invite_of(sent["jan@schiedam.nl"])  # confirmed: the appointment leaves the calendar
    assert cal.method.value == "CANCEL" and cal.vevent.status.value == "CANCELLED"
    assert "verdwijnt de afspraak uit je agenda" in text_of(sent["jan@schiedam.nl"])
    waiting = sent["piet@utrecht.nl"]  # never had the appointment: no calendar cancellation, nothing said of one
    assert not [p for p in waiting.walk() if p.get_content_type() in ("text/calendar", "application/ics")]
    assert "wachtlijst" in text_of(waiting) and "verdwijnt" not in text_of(waiting)
    for msg in world.replies():
        assert "verhinderd" in text_of(msg)


def test_reminder_sent_once_days_before(world):
    world.meeting()
    register(world, "jan@schiedam.nl")
    world.sink.clear()
    world.clock.now = dt.datetime(2027, 3, 14, 8, 0, tzinfo=dt.timezone.utc)  # four days before: not yet
    world.poll()
    assert world.replies() == []
    world.clock.now = dt.datetime(2027, 3, 15, 8, 0, tzinfo=dt.timezone.utc)
    world.poll()
    world.poll()
    (reminder,) = world.replies()
    assert "Herinnering" in reminder["Subject"] and invite_of(reminder).method.value == "REQUEST"
    assert reminder["Auto-Submitted"] == "auto-generated"  # not a reply, still made by the service (RFC 3834)


def test_no_reminder_after_a_fresh_confirmation(world):
    """Registering within the reminder's days: the confirmation and its invite, never a second request at once."""
    world.meeting()
    world.clock.now = dt.datetime(2027, 3, 16, 8, 0, tzinfo=dt.timezone.utc)  # two days before
    register(world, "laat@schiedam.nl")
    world.poll()
    subjects = [str(m["Subject"]) for m in world.replies()]
    assert len(subjects) == 1 and "Herinnering" not in subjects[0]


def test_two_workers_race_for_the_last_place(world):
    """Two workers handle registrations at the same moment; capacity holds (PostgreSQL row lock / SQLite lock)."""
    from inbox.runner import process_message
    from inbox.sources import RawMessage
    from db.app import App

    world.meeting(capacity=1)
    other = App.from_config(world.app.cfg, world.clock)
    for round_ in range(5):
        with world.app.sm.begin() as s:
            for reg in s.scalars(select(Registration)):
                s.delete(reg)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker(app, who):
            try:
                barrier.wait()
                process_message(app, "race", 1, RawMessage(who, mail(sender=f"{who}-{round_}@schiedam.nl")))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(a, w)) for a, w in ((world.app, "a"), (other, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(statuses(world).values()) == ["confirmed", "waitlisted"], round_
    other.sm.kw["bind"].dispose()


def test_meeting_add_refuses_the_past_and_empty_places(world):
    from network.meetings import UserError, add_meeting

    with pytest.raises(UserError, match="has passed"):
        add_meeting(world.app, dt.date(2027, 1, 31), "14:00", "17:00", "Stadhuis", "Gemeente Schiedam")
    for location, host in (("", "Gemeente Schiedam"), ("Stadhuis", "  ")):
        with pytest.raises(UserError, match="may not be empty"):
            add_meeting(world.app, DAY, "14:00", "17:00", location, host)
    with pytest.raises(UserError, match="may not be empty"):
        world.meeting()
        update_meeting(world.app, DAY, location=" ")


def test_capacity_never_takes_seats_and_says_who_moved_up(world):
    world.meeting(capacity=2)
    register(world, "een@schiedam.nl", "twee@schiedam.nl", "drie@schiedam.nl", "vier@schiedam.nl")
    with pytest.raises(UserError, match="2 people are confirmed"):
        update_meeting(world.app, DAY, capacity=1)
    update = update_meeting(world.app, DAY, capacity=3)
    assert update.capacity == (2, 3) and update.promoted == ("drie@schiedam.nl",) and update.changes == []


def test_a_chosen_theme_reads_as_a_sentence(world):
    world.meeting(theme="")
    assert update_meeting(world.app, DAY, theme="Algoritmes").changes == ["Het thema is gekozen: Algoritmes."]
    assert update_meeting(world.app, DAY, theme="Open data").changes == [
        "Het thema is nu Open data in plaats van Algoritmes."]
