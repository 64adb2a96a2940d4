"""Who is who, end to end: roles by reply, consent, and a participant list of exactly the consenting attendees."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db.models import Person
from helpers import authenticated, mail
from list_helpers import html_part, received, reply_to, text_part
from network import profiles
from network.exports import attendee_rows
from network.privacy import forget
from pioniers import cli

PEOPLE = [("Anna de Vries <anna@utrecht.nl>", "anna@utrecht.nl"), ("Bert Bakker <bert@schiedam.nl>", "bert@schiedam.nl"),
          ("Carla <carla@rijk.example>", "carla@rijk.example"), ("Dirk <dirk@zwolle.nl>", "dirk@zwolle.nl")]


def _person(world, address: str) -> Person:
    with world.app.sm.begin() as s:
        return s.scalar(select(Person).where(Person.email == address))


def test_who_is_who_by_reply_and_the_participant_list(world, capsys, monkeypatch):
    world.meeting("2027-03-18", capacity=5)
    for sender, _ in PEOPLE:
        world.deliver(mail(sender=sender))
    # A registration can say it at once; this sender gives no display name.
    # Words for the participant list need proof of the From: here our server's DMARC pass.
    world.deliver(mail(sender="frank@den-haag.nl", body="Graag! Ik ben pionier.\nOnderwerp: algoritmeregister\n"
                                                        "Ja, deel mijn gegevens.\n",
                       headers=authenticated("frank@den-haag.nl")))
    world.deliver(mail(sender="Eva <eva@delft.nl>"))  # the sixth: waiting list
    world.poll()
    confirmations = {r: m for r, m, _ in received(world) if "bevestigd" in str(m["Subject"])}
    assert set(confirmations) == {a for _, a in PEOPLE} | {"frank@den-haag.nl"}
    text = text_part(confirmations["anna@utrecht.nl"])
    assert '"pionier"' in text and '"lerende"' in text and '"meedenker"' in text
    assert '"ja, deel mijn gegevens"' in text and "je mailadres delen we nooit" in text
    frank = _person(world, "frank@den-haag.nl")
    assert (frank.role, frank.topic, frank.share_consent) == ("pioneer", "algoritmeregister", True)

    start = len(world.sink.messages)
    anna = reply_to(confirmations["anna@utrecht.nl"], "Anna de Vries <anna@utrecht.nl>",
                    body="rol: pionier\nonderwerp: open data in de wijk\nja, deel mijn gegevens\n")
    world.deliver(anna)
    world.deliver(reply_to(confirmations["bert@schiedam.nl"], "Bert Bakker <bert@schiedam.nl>",
                           body="Ik ben lerende.\n\nJa, deel mijn gegevens!\n\nMet vriendelijke groet,\nBert\n"))
    world.deliver(reply_to(confirmations["carla@rijk.example"], "Carla <carla@rijk.example>", body="meedenker\n"))
    world.deliver(reply_to(confirmations["dirk@zwolle.nl"], "Dirk <dirk@zwolle.nl>", body="ja, deel mijn gegevens\n"))
    (waitlisted,) = [m for r, m, _ in received(world) if r == "eva@delft.nl"]
    world.deliver(reply_to(waitlisted, "Eva <eva@delft.nl>", body="ja, deel mijn gegevens\n"))
    world.poll()
    # Anna says the same again (not acknowledged twice); Dirk withdraws.
    world.deliver(reply_to(confirmations["anna@utrecht.nl"], "Anna de Vries <anna@utrecht.nl>",
                           body="Rol: pionier\nJa, deel mijn gegevens\n"))
    world.deliver(reply_to(confirmations["dirk@zwolle.nl"], "Dirk <dirk@zwolle.nl>",
                           body="Nee, deel mijn gegevens niet.\n"))
    world.poll()
    acks = [(r, m) for r, m, _ in received(world, start)]
    assert [r for r, _ in acks] == ["anna@utrecht.nl", "bert@schiedam.nl", "carla@rijk.example", "dirk@zwolle.nl",
                                    "eva@delft.nl", "dirk@zwolle.nl"], "one acknowledgement per change"
    assert all(str(m["Subject"]).startswith("Genoteerd") for _, m in acks)
    anna_ack = text_part(acks[0][1])
    assert "pionier" in anna_ack and "open data in de wijk" in anna_ack and "toestemming" in anna_ack
    assert "delen je gegevens niet" in text_part(acks[2][1])  # Carla gave a role, no consent
    assert "delen je gegevens niet" in text_part(acks[5][1])  # Dirk withdrew
    assert not _person(world, "dirk@zwolle.nl").share_consent

    # Roles in the host's export and in `meeting list`.
    rows = {r[2]: r for r in attendee_rows(world.app, dt.date(2027, 3, 18))}
    assert rows["anna@utrecht.nl"][6] == "pionier" and rows["carla@rijk.example"][6] == "meedenker"
    assert rows["dirk@zwolle.nl"][6] == ""
    monkeypatch.setattr(cli, "_app", lambda args: world.app)
    assert cli.main(["--config", str(world.config_path), "meeting", "list"]) == 0
    listing = capsys.readouterr().out
    assert "roles P/L/M/?" in listing and " 2/1/1/1 " in listing

    # Three days before: the participant list, to the consenting attendees only, naming only them.
    world.clock.now = dt.datetime(2027, 3, 14, 23, 30, tzinfo=dt.timezone.utc)  # 15 March in Amsterdam
    before = len(world.sink.messages)
    world.poll()
    lists = {r: m for r, m, _ in received(world, before) if str(m["Subject"]).startswith("Wie komen er")}
    assert set(lists) == {"anna@utrecht.nl", "bert@schiedam.nl", "frank@den-haag.nl"}
    everyone = ["anna@utrecht.nl", "bert@schiedam.nl", "carla@rijk.example", "dirk@zwolle.nl", "eva@delft.nl",
                "frank@den-haag.nl"]
    for rcpt, msg in lists.items():
        body, html = text_part(msg), html_part(msg)
        assert str(msg["To"]) == rcpt and msg["Cc"] is None and msg["Bcc"] is None
        for address in everyone:  # no address visible to anyone
            assert address not in body and address not in html
        for absent in ("Carla", "Dirk", "Eva"):
            assert absent not in body and absent not in html
        assert "Over 3 dagen" in body
    anna_list = text_part(lists["anna@utrecht.nl"])
    assert "- Bert Bakker, Gemeente Schiedam (lerende)" in anna_list
    assert "- (naam onbekend), Gemeente Den Haag (pionier)\n  werkt aan: algoritmeregister" in anna_list
    assert "Anna" not in anna_list.split("deelnemers die")[1].split("Wie geen")[0]  # not herself
    assert "- Anna de Vries, Gemeente Utrecht (pionier)\n  werkt aan: open data in de wijk" in \
        text_part(lists["bert@schiedam.nl"])
    # Nothing twice; someone who consents later still gets it, the others are not sent it again.
    world.deliver(reply_to(confirmations["carla@rijk.example"], "Carla <carla@rijk.example>",
                           body="Ja, deel mijn gegevens\n"))
    world.poll()
    world.poll()
    late = [(r, m) for r, m, _ in received(world, before) if str(m["Subject"]).startswith("Wie komen er")]
    assert sorted(r for r, _ in late) == sorted([*lists, "carla@rijk.example"])
    assert "Anna de Vries" in text_part(dict(late)["carla@rijk.example"])

    # Forgetting a person removes who they said they were with them.
    forget(world.app, "anna@utrecht.nl")
    assert _person(world, "anna@utrecht.nl") is None


def test_profile_from_a_stranger_needs_a_human_and_no_list_when_alone(world):
    world.meeting("2027-02-03")
    world.deliver(mail(subject="Over mij", sender="Onbekend <iemand@example.org>", body="rol: pionier\n"))
    world.deliver(mail(subject="Pioniersnetwerk 3 februari 2027", sender="Anna <anna@utrecht.nl>",
                       body="ja, deel mijn gegevens\n"))
    world.poll()
    from db.models import InboundMessage

    with world.app.sm.begin() as s:
        outcomes = {m.sender: (m.outcome, m.reason) for m in s.scalars(select(InboundMessage))}
    assert outcomes["iemand@example.org"][0] == "attention" and "never registered" in outcomes["iemand@example.org"][1]
    assert outcomes["anna@utrecht.nl"][0] == "processed" and "consent" in outcomes["anna@utrecht.nl"][1]
    # The only consenting attendee gets no (empty) list.
    assert profiles.queue_participant_lists(world.app) == 0
    assert not [m for _, m, _ in received(world) if str(m["Subject"]).startswith("Wie komen er")]


def test_a_registration_with_a_profile_keeps_its_need_and_hands_on_its_question(world):
    """Registering, saying who you are and what you need in one mail: the need is kept on the registration (for
    the host's list), and a question in it still reaches a person."""
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Gijs <gijs@delft.nl>", body="Graag meld ik me aan. Ik ben pionier.\n"
                       "Ja, deel mijn gegevens.\nIk ben vegetarisch.\n", headers=authenticated("gijs@delft.nl")))
    world.deliver(mail(sender="Hanna <hanna@delft.nl>", body="Graag meld ik me aan. Ik ben lerende.\n"
                       "Ja, deel mijn gegevens.\nIs het gebouw rolstoeltoegankelijk?\n",
                       headers=authenticated("hanna@delft.nl")))
    world.poll()
    from db.models import InboundMessage, Registration
    with world.app.sm.begin() as s:
        notes = {r.person.email: (r.status, r.note) for r in s.scalars(select(Registration))}
        outcomes = {m.sender: m.outcome for m in s.scalars(select(InboundMessage))}
    assert notes["gijs@delft.nl"][0] == "confirmed" and "vegetarisch" in notes["gijs@delft.nl"][1]
    assert notes["hanna@delft.nl"][0] == "confirmed" and outcomes["hanna@delft.nl"] == "attention"
    assert _person(world, "gijs@delft.nl").share_consent and _person(world, "hanna@delft.nl").role == "learner"
