"""Every Dutch text a person reads, reviewed in one place: each letter and partial in templates/nl rendered in
every variant test_templates.py takes (its sample contexts), and the Dutch sentences the code builds itself.

A Dutch mail has no English words, no shell commands, "de gemeente X" in running text, times as "14.00 uur"
(the one format of mailer/format.py) and one word for the list: the nieuwsbrief (the network's own flyer calls it
that; incoming mail still understands "mailinglijst"). English letters have no Dutch words of their own.
The folders are iterated, so letters added later are checked too.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from base.html import html_to_text
from mailer import format as fmt
from mailer.compose import environment
from test_templates import PIECES, TEMPLATES, _variants

# Common English words that are no Dutch words (not "is", "in", "over", "team", "data", "open", "ook", "die", ...).
ENGLISH = frozenset("""
the and please click here your you yours meeting meetings poll polls list lists close closed first already confirm
cancel cancelled theme themes with this that these those from have has will would should could can't cannot
dear regards thanks thank hello registration registered register unsubscribe subscribe subscribed newsletter
mailing attendee attendees participant participants waiting sent send sending failed there their they which when
where what who why how about reply answer yes no not only just again still before after until today tomorrow
results result vote votes voted proposal proposals approve approved discard discarded preview members member
organiser organisers organizer organizers paused provider nothing everything something anyone nobody
""".split())

# Dutch words that are no English words: in an English letter they are a sentence left untranslated.
DUTCH = frozenset("""
de het een je jij jouw wij ons onze niet geen wel ook maar voor naar bij van met aan uit tot dan dat die deze
dit wat wie waar hoe waarom nog al nu hier daar graag beste groet tot bijeenkomst bijeenkomsten aanmelden afmelden
aangemeld afgemeld uitschrijven nieuwsbrief mailinglijst wachtlijst deelnemer deelnemers organisator organisatoren
thema stemming stemmen voorstel uur gemeente bericht berichten antwoord antwoorden beantwoord verstuurd
""".split())

SHELL = [
    (re.compile(r"\bpioniers\s+(?:themes|meeting|announce|members|messages|list|attendees|register|cancel|poll|run"
                r"|stats|forget|send|checkin|config|admin|profiles?)\b", re.I), "a pioniers command"),
    (re.compile(r"(?<![\w-])--[a-z]"), "a command-line option"),
    (re.compile(r"`"), "a backtick"),
    (re.compile(r"\bconfig\.toml\b|\bthemes\s+(?:open|close|results)\b", re.I), "a configuration or command word"),
    (re.compile(r"Traceback|Error:|Exception\b"), "a program trace"),
]
TIMES = [
    (re.compile(r"\b\d{1,2}:\d{2}\b"), "a time with a colon (write 14.00 uur)"),
    (re.compile(r"\b\d{1,2}\.\d{2}\b(?!-\d{1,2}\.\d{2} uur| uur)"), "a time without 'uur'"),
    (re.compile(r"\b\d{1,2}-\d{1,2}-\d{4}\b|\b\d{4}-\d{2}-\d{2}\b"), "a date in digits (write 7 december)"),
]
# "bij Gemeente Schiedam": in running text the municipality is "de gemeente Schiedam"
RUNNING_GEMEENTE = re.compile(r"\b[a-zà-ÿ]+ +Gemeente\b")
ADDRESS = re.compile(r"\S+@\S+")


def problems_nl(text: str) -> list[str]:
    """What a Dutch reader should not find in text; [] when it reads as Dutch from people."""
    found = []
    words = re.findall(r"[A-Za-zÀ-ÿ']+", ADDRESS.sub(" ", text))
    english = sorted({w for w in words if w.lower() in ENGLISH})
    if english:
        found.append(f"English words {english}")
    for pattern, what in SHELL + TIMES:
        if (m := pattern.search(text)):
            found.append(f"{what}: {text[max(0, m.start() - 30):m.end() + 30]!r}")
    if (m := RUNNING_GEMEENTE.search(text)):
        found.append(f"'{m.group(0)}' in running text: write 'de gemeente ...'")
    if re.search(r"mailinglijst|mailing list", text, re.I):
        found.append("the list is the nieuwsbrief in Dutch texts, not the mailinglijst")
    return found


def _rendered(lang: str, name: str) -> list[str]:
    env = environment(lang)
    out = []
    for ctx in _variants(name):
        text = env.get_template(f"{name}.txt").render(**ctx)
        html = html_to_text(env.get_template(f"{name}.html").render(**ctx))
        out.append(text.removeprefix("Subject: ") + "\n" + html)
    return out


def test_the_checks_find_what_they_look_for() -> None:
    """Each check catches the mistake it is for, and lets good Dutch through."""
    good = ("Beste organisator,\n\nDe bijeenkomst van donderdag 12 maart 2026, 14.00-17.00 uur, is bij de gemeente "
            "Schiedam. Gemeente Utrecht doet ook mee. Stuur een mail naar aanmelden@pioniers.test voor de nieuwsbrief "
            "tot maandag 7 december 16.12 uur. Het team is in Den Haag; open data is over.\nGastheer: Gemeente Gouda")
    assert problems_nl(good) == []
    for bad in ("Close it first with 'pioniers themes close'.", "Klik op de link: click here",
                "Sluit hem met pioniers themes close", "gebruik --yes", "zet het in `config.toml`",
                "Begint om 14:00.", "tot 07-12-2026 16.12 uur", "Begint om 16.12.", "bij Gemeente Schiedam",
                "Je staat op de mailinglijst."):
        assert problems_nl(bad), bad


@pytest.mark.parametrize("name", PIECES)
def test_dutch_letters_read_as_dutch(name: str) -> None:
    for i, rendered in enumerate(_rendered("nl", name)):
        assert not problems_nl(rendered), f"nl/{name} (variant {i}): {problems_nl(rendered)}"


@pytest.mark.parametrize("name", sorted(p.stem for p in (TEMPLATES / "en").iterdir()))
def test_english_letters_say_nothing_in_dutch(name: str) -> None:
    """The words the English templates write themselves (the sample values are Dutch, so not those)."""
    for kind in ("txt", "html"):
        source = (TEMPLATES / "en" / f"{name}.{kind}").read_text(encoding="utf-8")
        written = re.sub(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", " ", source, flags=re.S)
        if kind == "html":
            written = html_to_text(written)
        written = ADDRESS.sub(" ", re.sub(r'"[^"\n]*"', " ", written))  # the words people write to us stay Dutch
        dutch = sorted({w for w in re.findall(r"[A-Za-zÀ-ÿ]+", written) if w.lower() in DUTCH})
        assert not dutch, f"en/{name}.{kind} writes Dutch: {dutch}"


def test_times_in_code_are_the_product_format() -> None:
    """The one format the letters print: "14.00-17.00 uur", and a moment as "maandag 7 december 16.12 uur"."""
    assert fmt.time_range("14:00", "17:00", "nl") == "14.00-17.00 uur"
    moment = fmt.moment(dt.datetime(2026, 12, 7, 16, 12), "nl")
    assert moment == "maandag 7 december 16.12 uur" and not problems_nl(f"Dat kan tot {moment}.")
    assert fmt.moment(dt.datetime(2026, 12, 7, 16, 12), "en") == "Monday 7 December 16:12"


# Mail that goes to organisers only: they are addressed as organisers, never as "deelnemer".
ORGANISER_LETTERS = ("list_preview", "list_approved", "list_discarded", "list_finished", "list_token_invalid",
                     "list_token_unclear", "poll_proposal", "poll_refused", "poll_results", "send_paused")


@pytest.mark.parametrize("lang, greeting", [("nl", "Beste organisator,"), ("en", "Dear organiser,")])
def test_organisers_are_addressed_as_organisers(lang: str, greeting: str) -> None:
    env = environment(lang)
    marked = {p.stem for p in (TEMPLATES / lang).glob("*.txt") if "set organiser = true" in p.read_text("utf-8")}
    assert set(ORGANISER_LETTERS) <= marked
    for name in sorted(marked):
        for ctx in _variants(name):
            for kind in ("txt", "html"):
                out = env.get_template(f"{name}.{kind}").render(**{**ctx, "name": ""})
                assert greeting in out and "deelnemer," not in out and "participant," not in out, f"{lang}/{name}"
                named = env.get_template(f"{name}.{kind}").render(**{**ctx, "name": "Olga"})
                assert ("Beste Olga," if lang == "nl" else "Dear Olga,") in named


def test_a_proposal_without_a_vote_is_not_told_its_last_vote_counts() -> None:
    env = environment("nl")
    base = next(v for v in _variants("poll_reply") if v["option"] and not v["problem"] and v["closes"])
    proposal_only = env.get_template("poll_reply.txt").render(**{**base, "option": None, "previous": None})
    assert "Je voorstel \"Algoritmeregister\" is doorgegeven" in proposal_only
    assert "laatste stem" not in proposal_only
    assert "Stemmen op een thema kan tot en met 19 februari 2026" in proposal_only
    voted = env.get_template("poll_reply.txt").render(**base)
    assert "alleen je laatste stem telt" in voted


def test_the_change_sentences_the_code_builds_read_as_dutch() -> None:
    from types import SimpleNamespace

    from db.models import Meeting
    from network.meetings import _describe_changes
    app: Any = SimpleNamespace(cfg=SimpleNamespace(network=SimpleNamespace(language="nl")))
    before = Meeting(date=dt.date(2027, 3, 18), start="14:00", end="17:00", location="Stadskantoor, Schiedam",
                     host="Gemeente Schiedam", theme="")
    after = Meeting(date=dt.date(2027, 3, 25), start="13:30", end="16:30", location="Raadzaal, Gouda",
                    host="Gemeente Gouda", theme="Algoritmes")
    said = _describe_changes(app, before, after)
    assert len(said) == 6 and "De bijeenkomst begint nu om 13.30 uur in plaats van 14.00 uur." in said
    assert "Gastheer is nu de gemeente Gouda in plaats van de gemeente Schiedam." in said
    for sentence in said + _describe_changes(app, after, before):
        assert not problems_nl(sentence), sentence
