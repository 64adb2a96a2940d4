"""Posting to the list by mail, end to end: real Dovecot in, real SMTP sink out, on SQLite and PostgreSQL."""
from __future__ import annotations

import email
import email.policy
from collections import Counter

from sqlalchemy import func, select

from db.models import Announcement, Delivery, InboundMessage, Registration
from helpers import ORGANISER, REG, mail
from mailer.msgid import make_msgid
from list_helpers import (add_members, html_part, list_copies, member, post, received, reply_to, text_part,
                          token_of)

MEMBERS = [("anna@utrecht.nl", "Anna de Vries"), ("bert@schiedam.nl", "Bért Çelik"), ("carla@rijk.example", ""),
           ("dirk@zwolle.nl", "Dirk"), ("eva@delft.nl", "Eva")]


def _preview(world, since: int = 0):
    (rcpt, preview, _), = [r for r in received(world, since) if "[#" in str(r[1]["Subject"])]
    return rcpt, preview


def test_post_approved_by_reply_reaches_every_member_once_with_list_headers(world):
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    add_members(world, *MEMBERS)
    world.deliver(post(subject="Nieuws: Pioniersnetwerk 17 juni 2027 in Utrecht"))
    world.poll()
    rcpt, preview = _preview(world)
    assert rcpt == ORGANISER and len(world.sink.messages) == 1, "only the preview; nothing to the list yet"
    token = token_of(preview)
    assert str(preview["Reply-To"]) == f"nieuws+approve-{token}@pioniers.test"
    assert "5 leden" in text_part(preview) and "Beste leden," in text_part(preview)
    assert 'Beantwoord deze mail met "ja".' in text_part(preview) and "Let op" not in text_part(preview)
    attached = [p for p in preview.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert attached, "the member's copy is attached as it will be sent"

    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>"))
    world.poll()
    copies = list_copies(world)
    assert Counter(r for r, _, _ in copies) == Counter(a for a, _ in MEMBERS), "every member exactly once"
    by_rcpt = {r: (m, env) for r, m, env in copies}
    for address, name in MEMBERS:
        msg, envelope = by_rcpt[address]
        m = member(world, address)
        assert msg["To"] == address and len(msg.get_all("To")) == 1
        assert msg["List-Id"] == "Pioniersnetwerk Open Overheid <nieuws.pioniers.test>"
        assert msg["List-Unsubscribe"] == f"<mailto:nieuws+unsubscribe-{m.token}@pioniers.test?subject=unsubscribe>"
        assert msg["List-Unsubscribe-Post"] is None  # no https URL configured
        assert msg["Precedence"] == "list"
        assert str(msg["Message-ID"]).endswith("@pioniers.test>")
        assert envelope == f"bounces+{m.token}@pioniers.test"  # VERP
        assert str(msg["Reply-To"]) == REG  # a meeting is referenced: a plain reply registers
        assert "Pioniersnetwerk 17 juni 2027" in str(msg["Subject"])
        text, html = text_part(msg), html_part(msg)
        assert text.startswith("Beste leden,\n"), "the organiser's own greeting opens it, and no second one"
        assert "<p>Beste leden,</p>" in html and "Beste deelnemer" not in html and f"Beste {name}," not in html
        assert "Het nieuws van deze maand." in text and "<b>nieuws</b>" in html
        assert f"nieuws+unsubscribe-{m.token}@pioniers.test" in text and "uitschrijven" in html
        (pdf,) = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert pdf.get_filename() == "agenda.pdf" and pdf.get_content() == b"%PDF-1.4 agenda"
    assert len({str(m["Message-ID"]) for _, m, _ in copies}) == len(MEMBERS)
    # The organiser hears it is on its way; nothing goes out twice on later polls.
    assert any(r == ORGANISER and "verstuurd" in str(m["Subject"]) for r, m, _ in received(world))
    world.poll()  # and when it has gone, how it went (queued as the send finished, sent with the next pass)
    (done,) = [m for r, m, _ in received(world) if r == ORGANISER and str(m["Subject"]).startswith("Verstuurd:")]
    assert f"verstuurd naar {len(MEMBERS)} leden" in text_part(done) and "lukte het niet" not in text_part(done)
    before = len(world.sink.messages)
    world.poll()
    assert len(world.sink.messages) == before
    with world.app.sm.begin() as s:
        assert s.scalar(select(Announcement.status)) == "sent"
        assert s.scalar(select(func.count(Delivery.id)).where(Delivery.status == "sent")) == len(MEMBERS)
    # A member's plain reply to the announcement registers them for the meeting.
    anna = by_rcpt["anna@utrecht.nl"][0]
    world.deliver(reply_to(anna, "Anna de Vries <anna@utrecht.nl>", body="Ik kom graag!\n"))
    world.poll()
    with world.app.sm.begin() as s:
        assert s.scalar(select(Registration.status)) == "confirmed"


def test_forged_post_without_the_organisers_reply_reaches_no_one(world):
    add_members(world, *MEMBERS)
    # Anyone can write an organiser's address in From.
    world.deliver(post(subject="Dringend: nieuwe bankgegevens", sender=f"Organisatie <{ORGANISER}>"))
    world.poll()
    rcpt, preview = _preview(world)
    assert rcpt == ORGANISER  # the preview goes to the real organiser, not to the forger
    token = token_of(preview)
    # The forger cannot approve: not with a guessed token, nor with the real one from another address,
    # nor by mailing the approval address without the token.
    world.deliver(mail(sender="Oplichter <fraud@evil.example>", to=f"nieuws+approve-{'0' * 26}@pioniers.test",
                       subject="RE: [#" + "1" * 26 + "] Ter goedkeuring", body="ja\n"))
    world.deliver(mail(sender="Oplichter <fraud@evil.example>", to=f"nieuws+approve-{token}@pioniers.test",
                       subject=f"RE: [#{token}] Ter goedkeuring", body="ja\n"))
    world.poll()
    assert list_copies(world) == []
    assert {r for r, _, _ in received(world)} == {ORGANISER}
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Delivery.id))) == 0
        assert s.scalar(select(Announcement.status)) == "held"
        reasons = [r for r in s.scalars(select(InboundMessage.reason).where(InboundMessage.outcome == "attention"))]
    assert any("not to the sender" in r for r in reasons) and any("unknown token" in r for r in reasons)
    # The organiser says no: discarded, and a later "yes" with the same (used) token sends nothing.
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="nee, dit is niet van mij\n"))
    world.poll()
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="toch wel\n"))
    world.poll()
    assert list_copies(world) == []
    with world.app.sm.begin() as s:
        assert s.scalar(select(Announcement.status)) == "discarded"


def test_non_organiser_is_refused_at_most_once_a_day(world):
    add_members(world, *MEMBERS)
    world.deliver(post(sender="Jan <jan@schiedam.nl>", subject="Mijn evenement"))
    world.deliver(post(sender="Jan <jan@schiedam.nl>", subject="Mijn evenement (nogmaals)"))
    world.poll()
    (rcpt, refusal, _), = received(world)
    assert rcpt == "jan@schiedam.nl" and "Niet verstuurd" in str(refusal["Subject"])
    assert "alleen de organisatoren" in text_part(refusal)
    world.clock.advance(days=1, hours=1)
    world.deliver(post(sender="Jan <jan@schiedam.nl>", subject="Mijn evenement (weer)"))
    world.poll()
    assert [r for r, _, _ in received(world)] == ["jan@schiedam.nl", "jan@schiedam.nl"]
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Announcement.id))) == 0
    assert list_copies(world) == []


def test_expired_approval_sends_nothing(world):
    add_members(world, *MEMBERS)
    world.deliver(post())
    world.poll()
    _, preview = _preview(world)
    world.clock.advance(hours=73)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>"))
    world.poll()
    assert list_copies(world) == []
    assert any("verlopen" in text_part(m) for r, m, _ in received(world) if r == ORGANISER)


def _with_msgid(raw: bytes, msgid: str) -> bytes:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    msg.replace_header("Message-ID", msgid)
    return msg.as_bytes()


def test_organiser_at_our_own_domain_posting_from_thunderbird_gets_the_preview(world):
    # Thunderbird and Apple Mail make the Message-ID at the sender's domain, which is ours: still a person.
    add_members(world, *MEMBERS)
    world.deliver(_with_msgid(post(subject="Terugblik Schiedam", headers={"User-Agent": "Thunderbird/115.3.1"}),
                              "<5f0c2a9e-1b7d-4c3e-9a6f-2d8e4b1c7a90@pioniers.test>"))
    world.poll()
    rcpt, preview = _preview(world)
    assert rcpt == ORGANISER and "Terugblik Schiedam" in str(preview["Subject"])
    with world.app.sm.begin() as s:
        assert s.scalar(select(Announcement.status)) == "held"


def test_our_own_letter_coming_back_is_ignored(world):
    # One of our letters, bounced back by someone's forwarding rule: its Message-ID carries our mark.
    world.meeting("2027-03-18")
    ours = make_msgid(world.app.cfg.secret, "pioniers.test", "jan@schiedam.nl")
    world.deliver(mail(sender="Doorsturen <forward@schiedam.nl>", subject="Aanmelding bevestigd: Pioniersnetwerk "
                       "18 maart 2027", msgid=ours))
    world.poll()
    assert received(world) == []
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Registration.id))) == 0
        (reason,) = s.scalars(select(InboundMessage.reason))
    assert "our own Message-ID" in reason


def test_the_preview_says_a_named_meeting_is_full_or_was_announced_before(world):
    """Before the organiser says yes: the meeting the post names is full, and it was announced before."""
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht", capacity=1)
    add_members(world, *MEMBERS)
    world.deliver(mail(subject="Pioniersnetwerk 17 juni 2027", sender="Anna <anna@utrecht.nl>"))
    world.deliver(post(subject="Nieuws: Pioniersnetwerk 17 juni 2027 in Utrecht"))
    world.poll()
    _, preview = _preview(world)
    text = " ".join(text_part(preview).split())
    assert ("Let op: de bijeenkomst van donderdag 17 juni 2027 is vol (1 van 1 plaatsen): wie zich nu aanmeldt, "
            "komt op de wachtlijst.") in text
    assert "al eerder aangekondigd" not in text and "<strong>Let op:</strong>" in html_part(preview)
    start = len(world.sink.messages)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="ja\n"))
    world.poll()
    world.deliver(post(subject="Herinnering: Pioniersnetwerk 17 juni 2027"))
    world.poll()
    _, second = _preview(world, start)
    assert "is al eerder aangekondigd (op " in " ".join(text_part(second).split())
