"""The opening of a member's copy, end to end (real Dovecot in, real SMTP sink out, SQLite and PostgreSQL): one
greeting (the post's own, or ours when it has none), and a member already registered for the meeting the post
names reads that at the top instead of being invited as if not."""
from __future__ import annotations

import re

from sqlalchemy import select

from db.models import Person, Registration
from helpers import mail
from test_wording import problems_nl
from list_helpers import ORGANISER, add_members, html_part, list_copies, post, received, reply_to, text_part

MEMBERS = [("anna@utrecht.nl", "Anna de Vries"), ("bert@schiedam.nl", "Bert"), ("carla@rijk.example", "")]
DAY = "Pioniersnetwerk 17 juni 2027"
REGISTERED = "Je bent al aangemeld voor deze bijeenkomst; je hoeft je niet opnieuw aan te melden."
WAITING = "Je staat al op de wachtlijst voor deze bijeenkomst; je hoeft je niet opnieuw aan te melden."


def _send(world, raw: bytes) -> dict[str, tuple[str, str]]:
    """Post, approve by reply, send: {member: (text, html)} of the copies."""
    since = len(world.sink.messages)
    world.deliver(raw)
    world.poll()
    (preview,) = [m for r, m, _ in received(world, since) if r == ORGANISER and "[#" in str(m["Subject"])]
    said = text_part(preview)
    day = r"(?:maan|dins|woens|donder|vrij|zater|zon)dag"
    assert re.search(rf"dat kan tot {day} \d{{1,2}} [a-z]+ \d{{1,2}}\.\d{{2}} uur\.", said)
    assert said.startswith("Beste Organisatie,") and not problems_nl(said), problems_nl(said)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>"))
    world.poll()
    return {r: (text_part(m).replace("\r\n", "\n"), html_part(m)) for r, m, _ in list_copies(world, since)}


def test_one_greeting_and_a_word_for_who_is_already_registered(world):
    world.meeting("2027-06-17", capacity=1, host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    add_members(world, *MEMBERS)
    world.deliver(mail(subject=DAY, sender="Anna de Vries <anna@utrecht.nl>"))
    world.deliver(mail(subject=DAY, sender="Bert <bert@schiedam.nl>"))
    world.poll()
    with world.app.sm.begin() as s:
        status = dict(s.execute(select(Person.email, Registration.status).join(Person)).all())
    assert status == {"anna@utrecht.nl": "confirmed", "bert@schiedam.nl": "waitlisted"}

    # A post without a greeting of its own: ours opens it, then the note for who is registered.
    copies = _send(world, post(subject=f"Programma {DAY}", text="Het programma staat vast.\n",
                               html="<html><body><p>Het programma staat vast.</p></body></html>", pdf=None))
    assert set(copies) == {a for a, _ in MEMBERS}
    anna, bert, carla = (copies[a] for a, _ in MEMBERS)
    assert anna[0].startswith(f"Beste Anna de Vries,\n\n{REGISTERED}\n\nHet programma staat vast.\n")
    assert bert[0].startswith(f"Beste Bert,\n\n{WAITING}\n\nHet programma staat vast.\n")
    assert carla[0].startswith("Beste deelnemer,\n\nHet programma staat vast.\n")
    assert f"<p>{REGISTERED}</p>" in anna[1] and f"<p>{WAITING}</p>" in bert[1]
    assert "aangemeld voor deze" not in carla[0] + carla[1] and "wachtlijst" not in carla[0] + carla[1]
    assert anna[1].index("Beste Anna de Vries,") < anna[1].index(REGISTERED) < anna[1].index("Het programma")

    # A post that greets: the organiser's greeting stays and is the only one; the note still comes first.
    copies = _send(world, post(subject=f"Nog even: {DAY}", text="Hallo allemaal!\n\nNeem je laptop mee.\n",
                               html="<html><body><p>Hallo allemaal!</p><p>Neem je laptop mee.</p></body></html>",
                               pdf=None))
    anna, bert, carla = (copies[a] for a, _ in MEMBERS)
    assert anna[0].startswith(f"{REGISTERED}\n\nHallo allemaal!\n\nNeem je laptop mee.")
    assert bert[0].startswith(f"{WAITING}\n\nHallo allemaal!")
    assert carla[0].startswith("Hallo allemaal!\n\nNeem je laptop mee.")
    for text, html in (anna, bert, carla):
        assert "Beste" not in text and "Beste" not in html


def test_news_without_a_meeting_greets_everyone_alike(world):
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    add_members(world, *MEMBERS)
    world.deliver(mail(subject=DAY, sender="Anna de Vries <anna@utrecht.nl>"))
    world.poll()
    copies = _send(world, post(subject="Nieuws uit het netwerk", text="Er is een nieuwe handreiking.\n", pdf=None))
    assert copies["anna@utrecht.nl"][0].startswith("Beste Anna de Vries,\n\nEr is een nieuwe handreiking.")
    assert all("aangemeld voor deze" not in t for t, _ in copies.values())


def test_what_counts_as_the_posts_own_greeting():
    from mailer.listmail import greets
    for text in ("Beste pioniers,\n\nNieuws.", "\n  Hallo allemaal!\nNieuws", "Hoi,\n", "Goedemorgen collega's,",
                 "Geachte leden van het netwerk,", "Dag allemaal", "Beste", "Dear members,"):
        assert greets(text), text
    for text in ("Het programma staat vast.\nBeste groet", "Dag van de Open Overheid op 17 juni in Utrecht",
                 "Bestemmingsplannen en open data", "Halloweenfeest", "", "Dagprogramma:\n- 14.00 uur"):
        assert not greets(text), text


def test_a_copy_prepared_before_this_change_is_still_filled(tmp_path):
    """An announcement prepared by the previous version (a GT greeting, then a blank line) sends as it did."""
    import datetime as dt

    from base.config import load_config
    from helpers import write_config
    from mailer import listmail

    cfg = load_config(write_config(tmp_path / "config.toml", "sqlite:///x.db"))
    src = listmail.Source(subject="Nieuws", text="Het nieuws.\n")
    prepared = listmail.prepare(cfg, src, announcement_id=1, reply_to="", now=dt.datetime(2027, 2, 1))
    nonce = prepared.split(b"\r\n", 1)[0].removeprefix(listmail.MAGIC)
    old = prepared.replace(b"@@" + nonce + b":OPEN@@", b"@@" + nonce + b":GT@@\r\n\r\n")
    for data in (prepared, old):
        body = listmail.as_message(listmail.compile_prepared(cfg, data).fill(
            email="a@b.nl", member_id=1, token="f" * 26, name="Jan", registered="confirmed")).get_body(("plain",))
        text = body.get_content().replace("\r\n", "\n")
        assert text.startswith("Beste Jan,\n\n")
        assert (REGISTERED in text) == (data is prepared)  # the note needs the new placeholder; old copies go as before
