"""The desk's commands read from Dutch mail (inbox/desk_commands.py), and which mail is a command at all
(inbox/desk_rules.py in inbox/decide.py). Pure: no database, no servers."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpers import AUTHSERV, authenticated, mail
from inbox import decision as d
from inbox import desk_commands as dc
from inbox import desk_rules
from inbox import listrules as lr
from inbox.decide import decide
from inbox.message import parse_message

MEETINGS = [dt.date(2027, 3, 18), dt.date(2027, 6, 17), dt.date(2027, 9, 16)]
TODAY = dt.date(2027, 2, 1)
JUNE = dt.date(2027, 6, 17)


def _read(subject: str, body: str = "") -> dc.Command:
    return dc.parse(subject, body, MEETINGS, TODAY)


@pytest.mark.parametrize("subject, kind, day", [
    ("deelnemers 17 juni", dc.ATTENDEES, JUNE),
    ("Deelnemers 17-6", dc.ATTENDEES, JUNE),
    ("deelnemerslijst 17 juni 2027", dc.ATTENDEES, JUNE),
    ("RE: FW: Deelnemers 17 juni", dc.ATTENDEES, JUNE),
    ("Antw: DEELNEMERS do 17/6", dc.ATTENDEES, JUNE),
    ("Deelnemers voor 17 juni a.s.", dc.ATTENDEES, JUNE),
    ("deelnemers: 2027-06-17", dc.ATTENDEES, JUNE),
    ("deelnemers", dc.ATTENDEES, None),  # the next meeting, chosen by the handler
    ("Deelnemers 18 juni", dc.ATTENDEES, dt.date(2027, 6, 18)),  # a date that is no meeting's: the handler says so
    ("aanmeldingen 16 september", dc.ATTENDEES, dt.date(2027, 9, 16)),
    ("overzicht", dc.OVERVIEW, None),
    ("Overzicht!", dc.OVERVIEW, None),
    ("WG: overzicht bijeenkomsten", dc.OVERVIEW, None),
    ("aandacht", dc.ATTENTION, None),
    ("Aandacht graag", dc.ATTENTION, None),
    ("help", dc.HELP, None),
    ("Hulp", dc.HELP, None),
    ("?", dc.HELP, None),
    ("overview", dc.OVERVIEW, None),
    ("attendees 17 June", dc.ATTENDEES, JUNE),
])
def test_reading_commands_in_the_subject(subject, kind, day):
    command = _read(subject)
    assert (command.kind, command.day, command.problem, command.unknown) == (kind, day, "", False)
    assert not command.changes


@pytest.mark.parametrize("subject, email, name, organisation", [
    ("aanmelden piet@gouda.nl 17 juni", "piet@gouda.nl", "", ""),
    ("Aanmelden piet@gouda.nl 17 juni Piet Jansen", "piet@gouda.nl", "Piet Jansen", ""),
    ("aanmelden Piet@Gouda.NL 17 juni Piet Jansen, Gemeente Gouda", "piet@gouda.nl", "Piet Jansen", "Gemeente Gouda"),
    ("Aanmelden: Piet Jansen <piet@gouda.nl> voor 17 juni", "piet@gouda.nl", "Piet Jansen", ""),
    ("RE: aanmelden piet@gouda.nl op do 17-6", "piet@gouda.nl", "", ""),
    ("inschrijven piet@gouda.nl 17 juni 2027 Anne-Marie van der Berg", "piet@gouda.nl", "Anne-Marie van der Berg", ""),
])
def test_register_reads_address_date_and_name(subject, email, name, organisation):
    command = _read(subject)
    assert (command.kind, command.email, command.day, command.name, command.organisation) == \
        (dc.REGISTER, email, JUNE, name, organisation)
    assert command.changes and command.problem == ""


def test_cancel_reads_address_and_date_and_never_a_name():
    command = _read("Afmelden piet@gouda.nl 17 juni Piet Jansen")
    assert (command.kind, command.email, command.day, command.name) == (dc.CANCEL, "piet@gouda.nl", JUNE, "")
    assert _read("afmelding piet@gouda.nl 17-6").kind == dc.CANCEL


@pytest.mark.parametrize("subject, problem", [
    ("aanmelden piet@gouda.nl", dc.NO_DATE),
    ("afmelden piet@gouda.nl volgende week", dc.NO_DATE),
    ("aanmelden 17 juni", dc.NO_ADDRESS),
    ("afmelden Piet Jansen 17 juni", dc.NO_ADDRESS),
    ("behandeld", dc.NO_ADDRESS),
])
def test_incomplete_changes_are_not_carried_out(subject, problem):
    command = _read(subject)
    assert command.problem == problem and not command.changes


@pytest.mark.parametrize("subject, action, number, day", [
    ("behandeld 12", "done", 12, None),
    ("Behandeld #12", "done", 12, None),
    ("afgehandeld 7", "done", 7, None),
    ("aanmelden 12 17 juni", "register", 12, JUNE),
    ("afmelden 12 17-6", "cancel", 12, JUNE),
])
def test_acting_on_a_message_in_the_attention_folder(subject, action, number, day):
    command = _read(subject)
    assert (command.kind, command.action, command.message_id, command.day) == (dc.RESOLVE, action, number, day)
    assert command.changes


def test_the_command_on_the_first_line_under_an_outlook_greeting_and_signature():
    body = ("Deelnemers 17 juni\n\nMet vriendelijke groet,\n\nAnna de Vries\nCommunicatieadviseur\n"
            "Gemeente Gouda | T 06-12345678\naanmelden x@y.nl 18 maart\n")
    assert _read("", body).kind == dc.ATTENDEES
    assert _read("Vraag", "Hoi,\noverzicht\n").kind == dc.OVERVIEW  # a greeting line first
    assert _read("Deelnemers 17 juni", "aanmelden piet@gouda.nl 17 juni\n").kind == dc.ATTENDEES  # subject first
    # A reply to one of our letters: its subject ("Balie: ...") is no command, the first line is.
    assert _read("RE: Balie: overzicht van de bijeenkomsten", "deelnemers 16 september\n\n> Hallo,\n").day == \
        dt.date(2027, 9, 16)


@pytest.mark.parametrize("subject, body", [
    ("Vraag", "Wat kan ik hier?\n"),
    ("Balie: deelnemers Pioniersnetwerk 17 juni 2027", "Dank je!\n"),  # thanks for our letter: no second list
    ("Pioniersnetwerk 17 juni", ""),  # a registration's words are no command
    ("Nieuws van het netwerk", "Beste leden,\n"),
])
def test_anything_else_is_help_and_says_what_was_not_understood(subject, body):
    command = _read(subject, body)
    assert command.kind == dc.HELP and command.unknown and command.text == subject
    assert _read("", "").unknown is False  # nothing written: help, nothing to quote


# --- which mail is a command -------------------------------------------------------------------------

ORG = "organisatie@pioniers.test"
DESK = "nieuws+balie@pioniers.test"
CTX = d.Context(network_name="Pioniersnetwerk", own_addresses=frozenset({"aanmelden@pioniers.test",
                "nieuws@pioniers.test", "bounces@pioniers.test", DESK}), own_domain="pioniers.test",
                meetings=[d.MeetingInfo(day, f"uid-{day}") for day in MEETINGS], today=TODAY,
                authserv_id=AUTHSERV, post_address="nieuws@pioniers.test", bounce_address="bounces@pioniers.test",
                desk_address=DESK, organisers=frozenset({ORG}), secret=b"s" * 32)


def _decide(to: str, sender: str = ORG, subject: str = "deelnemers 17 juni", proven: bool = True,
            body: str = "Groet,\nAnna\n") -> d.Decision:
    raw = mail(sender=f"Anna <{sender}>", to=to, subject=subject, body=body,
               headers=authenticated(sender) if proven else None)
    return decide(parse_message(raw), CTX)


def test_only_mail_to_the_desk_is_a_command():
    decision = _decide(DESK)
    assert decision.action == desk_rules.COMMAND and decision.detail == _read("deelnemers 17 juni")
    assert _decide(f"Balie <{DESK}>", subject="overzicht").action == desk_rules.COMMAND
    assert _decide("nieuws@pioniers.test", subject="overzicht").action == lr.POST  # the post address: a post
    assert _decide("aanmelden@pioniers.test").action not in (desk_rules.COMMAND, lr.POST)


def test_who_may_use_the_desk():
    assert _decide(DESK, sender="jan@schiedam.nl").action == desk_rules.REFUSE
    assert _decide(DESK, proven=False).action == desk_rules.UNVERIFIED
    # a post-like mail by an organiser to the desk is a command (not understood), never a post
    assert _decide(DESK, subject="Nieuws van het netwerk").action == desk_rules.COMMAND


def test_a_yes_to_a_desk_token_is_a_token_reply():
    decision = _decide(DESK, subject="RE: [#" + "a" * 26 + "] Balie: graag je bevestiging", body="ja\n",
                       proven=False)
    assert (decision.action, decision.token) == (lr.TOKEN_YES, "a" * 26)


@pytest.mark.parametrize("english, dutch", [
    ("no meeting on 2027-06-18: see 'pioniers meeting list'", "Er is geen bijeenkomst op die datum."),
    ("the meeting on 2027-06-17 is cancelled", "Die bijeenkomst gaat niet door."),
    ("the meeting on 2027-01-14 has passed", "Die bijeenkomst is al geweest."),
    ("piet@gouda.nl asked to be forgotten: they are on the do-not-mail list", "niet meer gemaild"),
    ("'piet@' is not an email address", "Dat is geen geldig e-mailadres."),
    ("no message #12 waits for a person: see 'pioniers messages --attention'", "geen bericht met dat nummer"),
    ("message #12 was already resolved: done by x", "Dat bericht is al afgehandeld."),
    ("message #12 has no sender address to act for", "geen afzender"),
])
def test_the_desks_mistakes_reach_the_organiser_in_dutch(english, dutch):
    from inbox.desk_handlers import dutch_problem
    said = dutch_problem(english)
    assert dutch in said and "pioniers" not in said and not said.startswith("Dat kon niet")
    assert dutch_problem("something new went wrong").startswith("Dat kon niet: ")  # the fallback


def test_why_a_message_waits_is_said_in_dutch():
    from inbox.desk_handlers import dutch_reason
    assert dutch_reason("no meeting date recognised near the network name: for a person") == \
        "geen datum van een bijeenkomst gevonden"
    assert "vervalst" in dutch_reason("DMARC failed for evil.example: sender may be forged")
    assert dutch_reason("something else") == "something else"


def test_machine_mail_to_the_desk_is_never_answered():
    for headers in ({"Auto-Submitted": "auto-replied"}, {"Precedence": "list"}, {"X-Autoreply": "yes"}):
        raw = mail(sender=f"Anna <{ORG}>", to=DESK, subject="Automatisch antwoord: overzicht",
                   headers={**authenticated(ORG), **headers})
        decision = decide(parse_message(raw), CTX)
        assert decision.action == d.IGNORE and not decision.may_reply, headers


def test_the_desk_address_defaults_to_a_tag_of_the_post_address_and_is_our_own(tmp_path):
    from base.config import ConfigError, load_config
    from helpers import write_config

    cfg = load_config(write_config(tmp_path / "a.toml", "sqlite://"))
    assert cfg.desk_address == DESK and DESK in cfg.own_addresses
    cfg = load_config(write_config(tmp_path / "b.toml", "sqlite://", extra='[list]\ndesk_address = "Balie@pioniers.test"\n'))
    assert cfg.desk_address == "balie@pioniers.test" and "balie@pioniers.test" in cfg.own_addresses
    for wrong in ("nieuws@pioniers.test", "balie"):
        with pytest.raises(ConfigError, match="desk_address"):
            load_config(write_config(tmp_path / "c.toml", "sqlite://", extra=f'[list]\ndesk_address = "{wrong}"\n'))


def test_the_readme_for_organisers_names_every_desk_command() -> None:
    """The Dutch page for organisers and the help letter the desk mails list the same commands."""
    root = Path(__file__).resolve().parent.parent
    help_text = (root / "templates" / "nl" / "desk_help.txt").read_text(encoding="utf-8")
    commands = {line.split()[0] for line in help_text.splitlines()
                if line and not line[0].isspace() and line.split()[0].islower() and len(line.split()[0]) > 3
                and line.split()[0] in dc._KIND_OF}
    readme = (root / "README.md").read_text(encoding="utf-8")
    page = readme.split("## Voor organisatoren")[1].split("\n## ")[0]
    assert {"overzicht", "deelnemers", "aandacht", "aanmelden", "afmelden", "behandeld", "hulp"} <= commands
    for word in commands:
        assert f"`{word}" in page, word
