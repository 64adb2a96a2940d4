"""How the service reads people's own words, end to end: real Dovecot in, real SMTP sink out, both databases.
Decliners are not registered, doubters are asked, questions reach a person, and a hesitant answer to a preview
sends nothing to the list."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db.models import Announcement, InboundMessage, Registration
from helpers import ORGANISER, mail, reply_mail, text_of
from list_helpers import add_members, list_copies, post, received, reply_to, text_part, token_of


def _registrations(world) -> list[tuple[str, str]]:
    with world.app.sm.begin() as s:
        return [(r.person.email, r.status) for r in s.scalars(select(Registration).order_by(Registration.id))]


def _rows(world) -> list[tuple[str, str]]:
    with world.app.sm.begin() as s:
        return [(r.outcome, r.reason) for r in s.scalars(select(InboundMessage).order_by(InboundMessage.id))]


def test_a_decliner_is_not_registered_and_gets_a_short_answer(world):
    world.meeting("2027-03-18")
    world.deliver(mail(subject="Pioniersnetwerk 18 maart 2027", body="Nee, ik kan helaas niet op 18 maart.\n"))
    world.deliver(mail(sender="Piet <piet@delft.nl>", subject="Niet aanmelden: Pioniersnetwerk 18 maart 2027",
                       body="\n"))
    world.poll()
    assert _registrations(world) == []
    replies = world.replies()
    assert len(replies) == 2 and all("niet aangemeld" in str(r["Subject"]) for r in replies)
    assert all("cancel" in reason for _, reason in _rows(world))


def test_a_doubter_is_asked_and_ja_registers(world):
    world.meeting("2027-03-18")
    world.deliver(mail(body="Ik twijfel nog of ik kan.\n"))
    world.poll()
    assert _registrations(world) == []
    (question,) = world.replies()
    assert str(question["Subject"]) == "Aanmelden voor Pioniersnetwerk 18 maart 2027?"
    assert '"ja"' in text_of(question)
    world.deliver(reply_mail(world, "Jan Jansen <jan.jansen@schiedam.nl>", "Ja\n\n> Bedoel je dat je ...\n"))
    world.poll()
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed")]
    assert "Aanmelding" in str(world.replies()[-1]["Subject"]) or "bevestig" in text_of(world.replies()[-1]).lower()


def test_nee_to_the_question_changes_nothing_and_is_acknowledged(world):
    world.meeting("2027-03-18")
    world.deliver(mail(body="Misschien kom ik.\n"))
    world.poll()
    world.deliver(reply_mail(world, "Jan Jansen <jan.jansen@schiedam.nl>", "Nee\n"))
    world.poll()
    assert _registrations(world) == []
    assert str(world.replies()[-1]["Subject"]).startswith("Genoteerd")


def test_a_question_goes_to_a_person_with_an_acknowledgement(world):
    world.meeting("2027-03-18")
    world.deliver(mail(subject="RE: Pioniersnetwerk 18 maart 2027", body="Hoi, waar is het en hoe laat begint het?\n"))
    result = world.poll()
    assert result.inbox.attention == 1 and len(world.mailbox.messages("Aandacht")) == 1
    assert _registrations(world) == []
    (ack,) = world.replies()
    assert "organisatoren" in text_of(ack)
    assert _rows(world)[0][0] == "attention" and "question" in _rows(world)[0][1]


def test_a_registration_with_a_question_registers_and_reaches_a_person(world):
    world.meeting("2027-03-18")
    world.deliver(mail(body="Graag meld ik me aan. Is het gebouw rolstoeltoegankelijk?\n"))
    world.poll()
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed")]
    assert len(world.mailbox.messages("Aandacht")) == 1
    (outcome, reason), = _rows(world)
    assert outcome == "attention" and "also for a person" in reason and "need" in reason


def test_wacht_even_to_a_preview_sends_nothing_then_ja_sends_it(world):
    world.meeting("2027-06-17")
    add_members(world, ("anna@utrecht.nl", "Anna"), ("bert@schiedam.nl", "Bert"))
    world.deliver(post(subject="Nieuws van juni"))
    world.poll()
    (_, preview, _), = received(world)
    token = token_of(preview)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="Wacht even, er staat een fout in de datum"))
    world.poll()
    assert list_copies(world) == []
    with world.app.sm.begin() as s:
        assert s.scalar(select(Announcement.status)) == "held"
    (_, note, _), = received(world, 1)
    assert "nog niet verstuurd" in text_part(note) and token_of(note) == token
    assert str(note["Reply-To"]) == f"nieuws+approve-{token}@pioniers.test"
    world.deliver(reply_to(note, f"Organisatie <{ORGANISER}>", body="ja"))
    world.poll()
    assert sorted(r for r, _, _ in list_copies(world)) == ["anna@utrecht.nl", "bert@schiedam.nl"]


def test_an_empty_answer_or_stop_sends_nothing(world):
    add_members(world, ("anna@utrecht.nl", "Anna"))
    world.deliver(post(subject="Nieuws"))
    world.poll()
    (_, preview, _), = received(world)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body=""))
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="STOP"))
    world.poll()
    assert list_copies(world) == []
    assert all("not sent" in reason for _, reason in _rows(world)[1:])


def test_a_need_is_kept_on_the_registration_for_the_host(world):
    from network.exports import COLUMNS, MACHINE_COLUMNS, attendee_rows, attendee_sheet

    world.meeting("2027-03-18")
    world.deliver(mail(body="Graag meld ik me aan. Ik ben vegetarisch.\n\nMet vriendelijke groet,\nJan\n"))
    world.poll()
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed")]
    (row,) = attendee_sheet(world.app, dt.date(2027, 3, 18)).rows
    assert row[COLUMNS.index("note")] == "Ik ben vegetarisch."
    # not in the scripts' CSV, whose columns stay as they were
    (machine,) = attendee_rows(world.app, dt.date(2027, 3, 18))
    assert len(machine) == len(MACHINE_COLUMNS) and "Ik ben vegetarisch." not in machine
    # told later, in reply to the confirmation: the note follows, and a person reads it too
    world.deliver(reply_mail(world, "Jan Jansen <jan.jansen@schiedam.nl>", "Ik heb ook een notenallergie.\n"))
    world.poll()
    (row,) = attendee_sheet(world.app, dt.date(2027, 3, 18)).rows
    assert row[COLUMNS.index("note")] == "Ik heb ook een notenallergie."


def test_toch_niet_in_reply_to_the_confirmation_cancels(world):
    world.meeting("2027-09-16")
    world.deliver(mail(subject="Pioniersnetwerk 16 september 2027"))
    world.poll()
    world.deliver(reply_mail(world, "Jan Jansen <jan.jansen@schiedam.nl>",
                             "Toch niet, ik kan op 16 september niet meer. Sorry!\n"))
    world.poll()
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "cancelled")]
    assert "cancelled (confirmed)" in _rows(world)[-1][1]
