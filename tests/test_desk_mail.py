"""The organisers' desk by mail, end to end: real Dovecot in, real SMTP sink out, on SQLite and PostgreSQL.

Only an organiser whose message is proven (our server's DMARC pass) gets data; what changes data is done only
after their "ja" to a single-use token, as list posts are approved."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from db.models import Announcement, InboundMessage, Registration
from helpers import ORGANISER, REG, authenticated, mail, parts
from helpers import text_of as crlf_text_of
from list_helpers import POST, post, reply_to

DESK = "nieuws+balie@pioniers.test"
DAY = "2027-06-17"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _order(world, subject: str, body: str = "Met vriendelijke groet,\nOrganisatie\n", sender: str = ORGANISER,
           proven: bool = True, to: str = DESK, headers: dict | None = None) -> None:
    extra = {**(authenticated(sender) if proven else {}), **(headers or {})}
    world.deliver(mail(sender=f"Organisatie <{sender}>", to=to, subject=subject, body=body, headers=extra))
    world.poll()


def text_of(msg) -> str:
    return crlf_text_of(msg).replace("\r\n", "\n")


def _to(world, address: str, start: int = 0) -> list:
    return [m for m in world.replies()[start:] if str(m["To"]) == address]


def _sign_up(world, *people: tuple[str, str], day: str = "17 juni 2027") -> None:
    for address, name in people:
        world.deliver(mail(sender=f"{name} <{address}>", to=REG, subject=f"Pioniersnetwerk {day}"))
    world.poll()


def _registrations(world) -> dict[str, str]:
    with world.app.sm.begin() as s:
        return {r.person.email: r.status for r in s.scalars(select(Registration))}


def _xlsx(msg) -> bytes | None:
    found = parts(msg).get(XLSX)
    return found[0].get_content() if found else None


def _outcomes(world) -> list[tuple[str, str]]:
    with world.app.sm.begin() as s:
        return [(m.outcome, m.reason) for m in s.scalars(select(InboundMessage).order_by(InboundMessage.id))]


def _token(msg) -> str:
    return re.search(r"\[#([0-9a-f]{26})\]", str(msg["Subject"])).group(1)


def test_an_authenticated_organiser_gets_the_attendee_list_as_xlsx(world):
    world.meeting(DAY, host="Gemeente Gouda", capacity=10)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"), ("bert@schiedam.nl", "Bért Çelik"))
    before = len(world.sink.messages)
    _order(world, "RE: Deelnemers 17-6")
    (reply,) = _to(world, ORGANISER, before)
    assert str(reply["Subject"]) == "Balie: deelnemers Pioniersnetwerk 17 juni 2027"
    text = text_of(reply)
    assert "Aangemeld: 2 van de 10 plaatsen" in text and "Wachtlijst: 0" in text
    assert "bij de gemeente Gouda" in text
    (attachment,) = parts(reply)[XLSX]
    assert attachment.get_filename() == "deelnemers-2027-06-17.xlsx"
    sheet = load_workbook(io.BytesIO(attachment.get_content())).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Naam", "Organisatie", "E-mailadres"] and all(c.font.bold for c in sheet[1])
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert sorted(r[2] for r in rows) == ["anna@utrecht.nl", "bert@schiedam.nl"]
    assert {r[0] for r in rows} == {"Anna de Vries", "Bért Çelik"} and {r[3] for r in rows} == {"aangemeld"}
    assert _outcomes(world)[-1][0] == "processed" and "attendee list of 2027-06-17 sent" in _outcomes(world)[-1][1]
    assert "organiser, authenticated" in _outcomes(world)[-1][1]


def test_the_list_of_the_next_meeting_without_a_date_and_a_date_that_is_no_meeting(world):
    world.meeting(DAY)
    world.meeting("2027-09-16")
    _sign_up(world, ("anna@utrecht.nl", "Anna"))
    start = len(world.sink.messages)
    _order(world, "deelnemerslijst")
    _order(world, "", body="Deelnemers 18 juni\n\nMet vriendelijke groet,\nOrganisatie\nGemeente Gouda\n")
    first, second = _to(world, ORGANISER, start)
    assert "17 juni 2027" in str(first["Subject"]) and _xlsx(first) is not None
    assert _xlsx(second) is None and str(second["Subject"]) == "Balie: dat lukte niet"
    text = text_of(second)
    assert "Er is geen bijeenkomst op vrijdag 18 juni 2027." in text
    assert "donderdag 17 juni 2027" in text and "donderdag 16 september 2027" in text  # what there is instead


def test_a_forged_organiser_gets_no_data(world):
    world.meeting(DAY)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"))
    start = len(world.sink.messages)
    # No proof at all: nothing is done, the organiser's own address hears so once, and a person looks.
    _order(world, "deelnemers 17 juni", proven=False)
    _order(world, "overzicht", proven=False)
    # Our server says DMARC failed: forged, not a word back.
    _order(world, "deelnemers 17 juni", proven=False, headers={
        "Authentication-Results": "mx.pioniers.test; dmarc=fail header.from=pioniers.test"})
    sent = world.replies()[start:]
    assert all(_xlsx(m) is None for m in sent) and "Anna" not in "".join(text_of(m) for m in sent)
    (note,) = sent
    assert str(note["To"]) == ORGANISER and "niet nagaan dat die echt van jou kwam" in text_of(note)
    assert str(note["Reply-To"]) == DESK
    outcomes = _outcomes(world)[-3:]
    assert [o for o, _ in outcomes] == ["attention"] * 3
    assert "not proven" in outcomes[0][1] and "DMARC failed" in outcomes[2][1]
    # A reply to that note is proof of the address: then the command is answered.
    world.deliver(reply_to(note, f"Organisatie <{ORGANISER}>", body="deelnemers 17 juni\n"))
    world.poll()
    assert _xlsx(world.replies()[-1]) is not None and str(world.replies()[-1]["To"]) == ORGANISER


def test_someone_else_is_refused_once_a_day_and_gets_no_data(world):
    world.meeting(DAY)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"))
    start = len(world.sink.messages)
    _order(world, "deelnemers 17 juni", sender="jan@schiedam.nl")
    _order(world, "overzicht", sender="jan@schiedam.nl")
    (refusal,) = world.replies()[start:]
    assert str(refusal["To"]) == "jan@schiedam.nl" and _xlsx(refusal) is None
    assert "alleen voor de organisatoren" in text_of(refusal) and "Anna" not in text_of(refusal)
    assert [o for o, _ in _outcomes(world)[-2:]] == ["processed", "processed"]
    world.clock.advance(days=1, hours=1)
    _order(world, "aandacht", sender="jan@schiedam.nl")
    assert len(world.replies()[start:]) == 2


def test_help_lists_every_command(world):
    world.meeting(DAY)
    _order(world, "Vraag", body="Hoi, wat kan ik hier allemaal?\n")
    (reply,) = _to(world, ORGANISER)
    text = text_of(reply)
    assert 'Je bericht "Vraag" begreep ik niet.' in text
    for command in ("overzicht", "deelnemers 17 juni", "aandacht", "aanmelden piet@gouda.nl 17 juni Piet Jansen",
                    "afmelden piet@gouda.nl 17 juni", "behandeld 12", "hulp"):
        assert f"\n{command}\n" in text, command
    assert DESK in text
    _order(world, "hulp")
    assert "begreep ik niet" not in text_of(_to(world, ORGANISER)[-1])


def test_overview_counts_confirmed_waiting_and_places(world):
    world.meeting(DAY, host="Gemeente Gouda", theme="Algoritmes", capacity=2)
    world.meeting("2027-09-16", host="Provincie Utrecht", theme="")
    world.meeting("2027-01-14")  # past: not in the overview
    _sign_up(world, ("anna@utrecht.nl", "Anna"), ("bert@schiedam.nl", "Bert"), ("carla@delft.nl", "Carla"))
    start = len(world.sink.messages)
    _order(world, "Overzicht")
    (reply,) = _to(world, ORGANISER, start)
    text = text_of(reply)
    assert "donderdag 17 juni 2027, 14.00-17.00 uur, bij de gemeente Gouda" in text
    assert "Thema: Algoritmes" in text and "Aangemeld: 2 van de 2 plaatsen, wachtlijst: 1" in text
    assert "donderdag 16 september 2027, 14.00-17.00 uur, bij Provincie Utrecht" in text
    assert "Aangemeld: 0, wachtlijst: 0" in text and "14 januari" not in text


def test_register_waits_for_the_organisers_yes_to_the_token(world):
    world.meeting(DAY, host="Gemeente Gouda")
    start = len(world.sink.messages)
    _order(world, "aanmelden piet@gouda.nl 17 juni Piet Jansen, Gemeente Gouda")
    (ask,) = world.replies()[start:]
    assert str(ask["To"]) == ORGANISER and str(ask["Reply-To"]) == DESK
    text = text_of(ask)
    assert "Er is nog NIETS gedaan." in text
    assert "Aanmelden: Piet Jansen (piet@gouda.nl), Gemeente Gouda" in text
    assert "donderdag 17 juni 2027, 14.00-17.00 uur, bij de gemeente Gouda" in text
    assert "piet@gouda.nl krijgt de gewone bevestiging met een uitnodiging voor de agenda." in text
    assert _registrations(world) == {}, "nothing on the From header alone"
    # Someone else replying "ja" with the token does nothing.
    world.deliver(reply_to(ask, "Oplichter <fraud@evil.example>", body="ja\n"))
    world.poll()
    assert _registrations(world) == {}
    # The organiser's "ja": Piet is registered and gets what self-service sends.
    mark = len(world.sink.messages)
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="ja\n"))
    world.poll()
    assert _registrations(world) == {"piet@gouda.nl": "confirmed"}
    (confirmation,) = _to(world, "piet@gouda.nl", mark)
    assert "text/calendar" in parts(confirmation) and "organisator" in text_of(confirmation)
    (done,) = _to(world, ORGANISER, mark)
    assert "Piet Jansen (piet@gouda.nl) is aangemeld voor de bijeenkomst van 17 juni 2027" in text_of(done)
    assert "Een mail ging naar: piet@gouda.nl." in text_of(done)
    # The same token again: used, so nothing happens; the organiser hears why.
    mark = len(world.sink.messages)
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="ja\n"))
    world.poll()
    (again,) = world.replies()[mark:]
    assert str(again["To"]) == ORGANISER and "al gebruikt" in text_of(again)
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Registration.id))) == 1


def test_cancel_with_no_does_nothing_and_an_unclear_answer_asks_again(world):
    world.meeting(DAY)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"))
    start = len(world.sink.messages)
    _order(world, "afmelden anna@utrecht.nl 17 juni")
    (ask,) = _to(world, ORGANISER, start)
    assert "Afmelden: Anna de Vries (anna@utrecht.nl)" in text_of(ask)
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="hmm, wacht even\n"))
    world.poll()
    unclear = _to(world, ORGANISER)[-1]
    assert "geen duidelijk" in text_of(unclear) and _token(unclear) == _token(ask)
    assert _registrations(world) == {"anna@utrecht.nl": "confirmed"}
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="nee\n"))
    world.poll()
    assert "Je antwoordde \"nee\"" in text_of(_to(world, ORGANISER)[-1])
    assert _registrations(world) == {"anna@utrecht.nl": "confirmed"}
    assert _to(world, "anna@utrecht.nl", start) == []
    # A cancellation for someone who is not registered is refused at once, with no token.
    _order(world, "afmelden piet@gouda.nl 17 juni")
    assert "niet aangemeld" in text_of(_to(world, ORGANISER)[-1]) and "[#" not in str(_to(world, ORGANISER)[-1]["Subject"])


def test_attention_lists_what_waits_and_done_resolves_it_after_yes(world):
    world.meeting(DAY)
    world.deliver(mail(sender="Karin <karin@zwolle.nl>", to=REG, subject="Vraag over parkeren",
                       body="Kan ik bij jullie parkeren?\n"))
    world.poll()
    with world.app.sm.begin() as s:
        (waiting,) = s.scalars(select(InboundMessage).where(InboundMessage.outcome == "attention")).all()
        number = waiting.id
    start = len(world.sink.messages)
    _order(world, "aandacht")
    (reply,) = _to(world, ORGANISER, start)
    text = text_of(reply)
    assert f"{number}. Vraag over parkeren" in text and "karin@zwolle.nl" in text and f"behandeld {number}" in text
    assert "Reden: geen datum van een bijeenkomst gevonden" in text and "ontvangen maandag 1 februari 2027" in text
    _order(world, f"behandeld {number}")
    ask = _to(world, ORGANISER)[-1]
    assert f"Bericht {number} van karin@zwolle.nl" in text_of(ask)
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="Ja\n"))
    world.poll()
    assert "is afgehandeld" in text_of(_to(world, ORGANISER)[-1])
    with world.app.sm.begin() as s:
        assert s.get(InboundMessage, number).resolved_at is not None
    _order(world, "aandacht")
    assert "Er wacht niets op een mens." in text_of(_to(world, ORGANISER)[-1])


def test_the_desk_never_takes_a_post_for_a_command_nor_a_command_for_a_post(world):
    world.meeting(DAY)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"))
    start = len(world.sink.messages)
    # "overzicht" to the post address is a post: held for approval, no overview.
    world.deliver(post(subject="Overzicht van het jaar", sender=f"Organisatie <{ORGANISER}>",
                       headers=authenticated(ORGANISER)))
    # "deelnemers" to the registration address is no command: nobody gets a list.
    world.deliver(mail(sender=f"Organisatie <{ORGANISER}>", to=REG, subject="deelnemers 17 juni",
                       headers=authenticated(ORGANISER)))
    world.poll()
    assert all(_xlsx(m) is None for m in world.replies()[start:])
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Announcement.id))) == 1
    # A post-like mail to the desk is a command (here: not understood), never a post.
    _order(world, "Nieuws van het netwerk", body="Beste leden,\n\nHet nieuws.\n")
    assert "begreep ik niet" in text_of(_to(world, ORGANISER)[-1])
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Announcement.id))) == 1
    # And "aanmelden ..." to the desk never registers the organiser themselves.
    assert ORGANISER not in _registrations(world) and POST not in _registrations(world)


def test_cancel_after_yes_moves_the_waiting_list_up_and_says_who_was_told(world):
    world.meeting(DAY, capacity=1)
    _sign_up(world, ("anna@utrecht.nl", "Anna de Vries"), ("bert@schiedam.nl", "Bert"))
    assert _registrations(world) == {"anna@utrecht.nl": "confirmed", "bert@schiedam.nl": "waitlisted"}
    # Registering someone for a full meeting says beforehand that they go on the waiting list.
    _order(world, "aanmelden carla@delft.nl 17 juni")
    assert "De bijeenkomst is vol: carla@delft.nl komt op de wachtlijst" in text_of(_to(world, ORGANISER)[-1])
    start = len(world.sink.messages)
    _order(world, "afmelden anna@utrecht.nl 17 juni")
    ask = _to(world, ORGANISER)[-1]
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="Ja, graag.\n"))
    world.poll()
    assert _registrations(world) == {"anna@utrecht.nl": "cancelled", "bert@schiedam.nl": "confirmed"}
    assert _to(world, "anna@utrecht.nl", start) and _to(world, "bert@schiedam.nl", start)
    report = text_of(_to(world, ORGANISER)[-1])
    assert "Anna de Vries (anna@utrecht.nl) is afgemeld" in report
    assert "Een mail ging naar: anna@utrecht.nl, bert@schiedam.nl." in report


def test_an_expired_confirmation_does_nothing(world):
    world.meeting(DAY)
    _order(world, "aanmelden piet@gouda.nl 17 juni")
    ask = _to(world, ORGANISER)[-1]
    world.clock.advance(hours=73)
    world.deliver(reply_to(ask, f"Organisatie <{ORGANISER}>", body="ja\n"))
    world.poll()
    assert _registrations(world) == {}
    assert "verlopen of al gebruikt" in text_of(_to(world, ORGANISER)[-1])
    assert _outcomes(world)[-1][0] == "processed" and "token expired" in _outcomes(world)[-1][1]
