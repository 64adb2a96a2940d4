"""The organiser's desk by command: `register`, `cancel`, and the attention folder as a work list acted on with
`messages resolve`. Run in-process on the World (real Dovecot, real SMTP sink, both databases); the person gets
what self-service sends, and nobody is mailed when nothing changes."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db import members
from db.models import InboundMessage, Registration
from helpers import mail, parts, text_of
from network.meetings import cancel_meeting
from network.privacy import forget
from pioniers import cli, cli_desk
from pioniers.cli_admin import status

DAY = "2027-03-18"


def _cli(world, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(cli, "_app", lambda args: world.app)
    monkeypatch.setattr(cli_desk, "_app", lambda args: world.app)
    code = cli.main(["--config", str(world.config_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _to(world, address: str, start: int = 0) -> list:
    return [m for m in world.replies()[start:] if str(m["To"]) == address]


def _method(msg) -> str | None:
    cal = parts(msg).get("text/calendar")
    return cal[0].get_param("method") if cal else None


def _status(world, address: str) -> str | None:
    with world.app.sm.begin() as s:
        regs = s.scalars(select(Registration)).all()
        return next((r.status for r in regs if r.person.email == address), None)


def test_register_and_cancel_by_command(world, monkeypatch, capsys):
    world.meeting(DAY, capacity=2)
    world.deliver(mail(sender="Jan Jansen <jan@schiedam.nl>"))  # self-service, for contrast: joins the list
    world.poll()

    code, out, err = _cli(world, monkeypatch, capsys, "register", "Piet@Gouda.nl", DAY, "--name", "Piet Jansen",
                          "--organisation", "Gemeente Gouda")
    assert code == 0, err
    assert "registered piet@gouda.nl for 2027-03-18 (confirmed)" in out and "mailed: piet@gouda.nl" in out
    (letter,) = _to(world, "piet@gouda.nl")
    assert str(letter["Subject"]) == "Aanmelding bevestigd: Pioniersnetwerk 18 maart 2027"
    assert _method(letter) == "REQUEST"
    text = text_of(letter).replace("\r\n", "\n")
    assert text.startswith("Beste Piet Jansen,")
    assert ("Een organisator van het Pioniersnetwerk Open Overheid heeft je aangemeld voor de bijeenkomst van "
            "donderdag 18 maart 2027. Fijn dat je erbij bent!\n\nWanneer:") in text
    assert "mailinglijst" not in text  # not put on the list, so not told so
    assert letter["Auto-Submitted"] == "auto-generated"  # a person asked for it: no automatic reply

    # Registering twice changes nothing and mails nobody.
    sent = len(world.replies())
    code, out, _ = _cli(world, monkeypatch, capsys, "register", "piet@gouda.nl", DAY)
    assert code == 0 and "already registered for 2027-03-18 (confirmed)" in out and "nobody was mailed" in out
    assert len(world.replies()) == sent

    # The meeting is full: the waiting-list letter, without an invite.
    code, out, _ = _cli(world, monkeypatch, capsys, "register", "anna@utrecht.nl", DAY, "--name", "Anna")
    assert code == 0 and "(waitlisted, place 1" in out
    (waiting,) = _to(world, "anna@utrecht.nl")
    assert str(waiting["Subject"]).startswith("Je staat op de wachtlijst") and _method(waiting) is None
    assert "heeft je aangemeld, maar de bijeenkomst van donderdag 18 maart 2027 is helaas vol" in text_of(waiting)
    _cli(world, monkeypatch, capsys, "register", "bert@delft.nl", DAY)  # second on the waiting list

    # The person is not added to the mailing list; a self-service registrant is.
    with world.app.sm.begin() as s:
        assert members.find(s, "jan@schiedam.nl") is not None
        assert members.find(s, "piet@gouda.nl") is None and members.find(s, "anna@utrecht.nl") is None

    # Cancelling a confirmed person: the cancellation with a CANCEL; the first waiting moves up and is named.
    start = len(world.replies())
    code, out, _ = _cli(world, monkeypatch, capsys, "cancel", "piet@gouda.nl", DAY)
    assert code == 0
    assert "cancelled piet@gouda.nl for 2027-03-18 (was confirmed)" in out
    assert "moved up from the waiting list (they get the invite): anna@utrecht.nl" in out
    assert "mailed: piet@gouda.nl, anna@utrecht.nl" in out
    (cancelled,) = _to(world, "piet@gouda.nl", start)
    assert str(cancelled["Subject"]) == "Je bent afgemeld: Pioniersnetwerk 18 maart 2027"
    assert _method(cancelled) == "CANCEL"
    assert "Een organisator van het Pioniersnetwerk Open Overheid heeft je afgemeld" in text_of(cancelled)
    (promoted,) = _to(world, "anna@utrecht.nl", start)
    assert str(promoted["Subject"]).startswith("Er is een plek vrijgekomen") and _method(promoted) == "REQUEST"
    assert not _to(world, "bert@delft.nl", start)  # still waiting: told nothing
    assert (_status(world, "piet@gouda.nl"), _status(world, "anna@utrecht.nl"),
            _status(world, "bert@delft.nl")) == ("cancelled", "confirmed", "waitlisted")

    # Cancelling a waitlisted person: the letter, but no calendar CANCEL for an appointment they never had.
    start = len(world.replies())
    code, out, _ = _cli(world, monkeypatch, capsys, "cancel", "bert@delft.nl", DAY)
    assert code == 0 and "(was waitlisted)" in out and "moved up" not in out
    (letter,) = _to(world, "bert@delft.nl", start)
    assert _method(letter) is None and "agenda" not in text_of(letter)
    assert len(world.replies()) == start + 1

    # Not registered (any more): nothing changes, nobody is mailed.
    start = len(world.replies())
    code, out, _ = _cli(world, monkeypatch, capsys, "cancel", "bert@delft.nl", DAY)
    assert code == 0 and "was not registered" in out and "mailed" not in out.replace("nobody was mailed", "")
    assert len(world.replies()) == start

    # Registering again after a cancellation is a change (same clock tick, a new letter); Jan and Anna hold the
    # two places now.
    code, out, _ = _cli(world, monkeypatch, capsys, "register", "piet@gouda.nl", DAY)
    assert code == 0 and "(waitlisted, place 1" in out
    assert [str(m["Subject"]).split(":")[0] for m in _to(world, "piet@gouda.nl", start)] == [
        "Je staat op de wachtlijst"]


def test_mistakes_are_one_line(world, monkeypatch, capsys):
    world.meeting(DAY)
    world.meeting("2027-01-14")  # passed (the clock says 1 February 2027)
    world.meeting("2027-06-17")
    cancel_meeting(world.app, dt.date(2027, 6, 17), "geen zaal")
    forget(world.app, "weg@example.nl")
    start = len(world.replies())
    for args, says in [
        (("register", "piet@gouda.nl", "2027-04-01"), "no meeting on 2027-04-01"),
        (("register", "piet@gouda.nl", "2027-01-14"), "has passed"),
        (("cancel", "piet@gouda.nl", "2027-06-17"), "is cancelled"),
        (("register", "piet-at-gouda.nl", DAY), "is not an email address"),
        (("register", "piet@gouda.nl", "18-03-2027"), "is not a date"),
        (("register", "weg@example.nl", DAY), "asked to be forgotten"),
        (("cancel", "weg@example.nl", DAY), "asked to be forgotten"),
        (("messages", "resolve", "999", "done"), "no message #999"),
        (("messages", "resolve", "999", "register"), "no message #999"),
    ]:
        code, out, err = _cli(world, monkeypatch, capsys, *args)
        assert code == 2, args
        assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)
    assert len(world.replies()) == start
    with world.app.sm.begin() as s:
        assert not s.scalars(select(Registration)).all()


def test_attention_work_list_and_resolve(world, monkeypatch, capsys):
    world.meeting(DAY)
    question = mail(subject="Vraag", body="Hoe laat begint het?\n", sender="Karin de Boer <karin@zwolle.nl>",
                    msgid="<vraag-1@client.example>",
                    headers={"References": "<eerder-0@client.example>"})
    world.deliver(question)
    world.deliver(mail(subject="Parkeren", body="Waar kan ik parkeren?\n", sender="Dirk <dirk@zwolle.nl>"))
    world.poll()
    with world.app.sm.begin() as s:
        waiting = {m.sender: m.id for m in s.scalars(select(InboundMessage).where(InboundMessage.outcome == "attention"))}
    assert set(waiting) == {"karin@zwolle.nl", "dirk@zwolle.nl"}, "both need a person"
    assert status(world.app)["attention_waiting"] == 2

    code, out, _ = _cli(world, monkeypatch, capsys, "messages", "--attention")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "received", "sender", "subject"]
    karin_line = next(line for line in lines if "karin@zwolle.nl" in line)
    assert karin_line.startswith(f"#{waiting['karin@zwolle.nl']} ") and "'Vraag'" in karin_line
    assert lines[-1] == ("2 message(s) wait for a person; act with: "
                         "pioniers messages resolve ID register DATE|cancel DATE|done")

    # Register Karin in reply to her message: her confirmation threads under it; the message leaves the list.
    start = len(world.replies())
    karin = waiting["karin@zwolle.nl"]
    code, out, err = _cli(world, monkeypatch, capsys, "messages", "resolve", str(karin), "register", DAY)
    assert code == 0, err
    assert f"message #{karin} resolved (register 2027-03-18 by the command line)" in out
    assert "registered karin@zwolle.nl for 2027-03-18 (confirmed)" in out
    (letter,) = _to(world, "karin@zwolle.nl", start)
    assert letter["In-Reply-To"] == "<vraag-1@client.example>"
    assert str(letter["References"]).split() == ["<eerder-0@client.example>", "<vraag-1@client.example>"]
    assert str(letter["Subject"]).startswith("Aanmelding bevestigd") and _method(letter) == "REQUEST"
    assert text_of(letter).startswith("Beste Karin de Boer,")  # the name from her message
    assert _status(world, "karin@zwolle.nl") == "confirmed"
    with world.app.sm.begin() as s:
        assert members.find(s, "karin@zwolle.nl") is None  # not put on the mailing list

    _, out, _ = _cli(world, monkeypatch, capsys, "messages", "--attention")
    assert "karin@zwolle.nl" not in out and "dirk@zwolle.nl" in out and "1 message(s) wait" in out
    assert status(world.app)["attention_waiting"] == 1
    _, out, _ = _cli(world, monkeypatch, capsys, "messages")
    karin_line = next(line for line in out.splitlines() if line.startswith(f"#{karin} "))
    assert karin_line.endswith("resolved: register 2027-03-18 by the command line")

    # Resolving twice is a one-line error, and mails nobody.
    start = len(world.replies())
    code, _, err = _cli(world, monkeypatch, capsys, "messages", "resolve", str(karin), "cancel", DAY)
    assert code == 2 and f"message #{karin} was already resolved: register 2027-03-18" in err
    assert len(err.strip().splitlines()) == 1
    assert _status(world, "karin@zwolle.nl") == "confirmed"

    # Done: nothing is sent; the list is empty.
    dirk = waiting["dirk@zwolle.nl"]
    code, out, _ = _cli(world, monkeypatch, capsys, "messages", "resolve", str(dirk), "done")
    assert code == 0 and f"message #{dirk} resolved (done by the command line): nobody was mailed" in out
    assert len(world.replies()) == start
    _, out, _ = _cli(world, monkeypatch, capsys, "messages", "--attention")
    assert out.strip() == "nothing waits for a person"
    assert status(world.app)["attention_waiting"] == 0
    code, _, err = _cli(world, monkeypatch, capsys, "messages", "resolve", str(dirk), "done")
    assert code == 2 and "already resolved: done" in err


def test_resolve_cancel_answers_in_the_thread(world, monkeypatch, capsys):
    """A person cancels in words the reader hands to a person: resolve cancel acts for the sender, as a reply."""
    world.meeting(DAY)
    world.deliver(mail(sender="Eva <eva@delft.nl>"))
    world.poll()
    world.deliver(mail(subject="Vraag", body="Hoe laat begint het?\n", sender="Eva <eva@delft.nl>",
                       msgid="<eva-2@client.example>"))
    world.poll()
    with world.app.sm.begin() as s:
        (msg_id,) = s.scalars(select(InboundMessage.id).where(InboundMessage.outcome == "attention")).all()
    start = len(world.replies())
    code, out, _ = _cli(world, monkeypatch, capsys, "messages", "resolve", str(msg_id), "cancel", DAY)
    assert code == 0 and "cancelled eva@delft.nl for 2027-03-18 (was confirmed)" in out
    (letter,) = _to(world, "eva@delft.nl", start)
    assert letter["In-Reply-To"] == "<eva-2@client.example>" and _method(letter) == "CANCEL"
    code, _, err = _cli(world, monkeypatch, capsys, "messages", "resolve", str(msg_id), "register")
    assert code == 2 and "already resolved" in err


def test_outcomes_for_the_desk_by_mail(world):
    """The same actions through network/desk.py, as the desk by mail calls them: one Dutch sentence for the
    organiser, and who was told."""
    from network import desk

    world.meeting(DAY, capacity=1)
    day, cfg = dt.date(2027, 3, 18), world.app.cfg
    with world.app.sm.begin() as s:
        first = desk.register_for(s, cfg, email="piet@gouda.nl", day=day, now=world.app.now(), name="Piet Jansen",
                                  by="organisatie@pioniers.test")
        again = desk.register_for(s, cfg, email="piet@gouda.nl", day=day, now=world.app.now())
        waiting = desk.register_for(s, cfg, email="anna@utrecht.nl", day=day, now=world.app.now(), name="Anna")
        gone = desk.cancel_for(s, cfg, email="piet@gouda.nl", day=day, now=world.app.now())
        nothing = desk.cancel_for(s, cfg, email="piet@gouda.nl", day=day, now=world.app.now())
    assert (first.changed, first.told) == (True, ("piet@gouda.nl",))
    assert first.dutch == ("Piet Jansen (piet@gouda.nl) is aangemeld voor de bijeenkomst van 18 maart 2027 en heeft "
                           "de bevestiging met de agenda-uitnodiging gekregen.")
    assert (again.changed, again.told) == (False, ())
    assert again.dutch == "Piet Jansen (piet@gouda.nl) was al aangemeld voor de bijeenkomst van 18 maart 2027; " \
                         "er is niets veranderd."
    assert waiting.dutch.startswith("De bijeenkomst van 18 maart 2027 is vol: Anna (anna@utrecht.nl) staat op de "
                                    "wachtlijst (plaats 1)")
    assert (gone.changed, gone.told) == (True, ("piet@gouda.nl", "anna@utrecht.nl"))
    assert gone.dutch == ("Piet Jansen (piet@gouda.nl) is afgemeld voor de bijeenkomst van 18 maart 2027 en heeft "
                          "daarover een mail gekregen. Anna (anna@utrecht.nl) schuift door van de wachtlijst en "
                          "krijgt de bevestiging.")
    assert (nothing.changed, nothing.told) == (False, ())
    world.poll()
    assert sorted(str(m["To"]) for m in world.replies()) == ["anna@utrecht.nl", "anna@utrecht.nl",
                                                            "piet@gouda.nl", "piet@gouda.nl"]
