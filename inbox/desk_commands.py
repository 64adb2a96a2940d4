"""The organisers' desk by mail: a short Dutch command in the subject or the first line, read into a Command.
Pure: text in, a typed command out; dates are read by base/dates.py as in registrations.

    help | hulp                          -> HELP (also whatever is not understood: kind HELP, unknown set)
    overzicht                            -> OVERVIEW
    deelnemers [DATE]                    -> ATTENDEES (no date: the next meeting)
    aandacht                             -> ATTENTION
    aanmelden EMAIL DATE [Name[, Org]]   -> REGISTER
    afmelden EMAIL DATE                  -> CANCEL
    behandeld N | aanmelden N DATE | afmelden N DATE -> RESOLVE a message in the attention folder
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from base.dates import date_spans, resolve
from base.text import clean
from inbox.text import strip_prefixes

HELP = "help"
OVERVIEW = "overview"
ATTENDEES = "attendees"
ATTENTION = "attention"
REGISTER = "register"
CANCEL = "cancel"
RESOLVE = "resolve"
CHANGES = (REGISTER, CANCEL, RESOLVE)  # these change data: carried out only after a "ja" to a token

# Problems a command can have, each answered in the reply ('' when none).
NO_DATE = "no_date"  # aanmelden/afmelden without a date
NO_ADDRESS = "no_address"  # aanmelden/afmelden without an address or message number

_WORDS = {
    HELP: ("help", "hulp", "helpen", "commando", "commandos", "commando's", "uitleg", "menu", "?"),
    OVERVIEW: ("overzicht", "bijeenkomsten", "stand", "overview", "meetings"),
    ATTENDEES: ("deelnemers", "deelnemerslijst", "deelnemerlijst", "deelnemerslijsten", "aanwezigen",
                "aanmeldingen", "attendees", "attendance"),
    ATTENTION: ("aandacht", "wachtrij", "openstaand", "attention"),
    REGISTER: ("aanmelden", "aanmelding", "inschrijven", "registreer", "registreren", "register"),
    CANCEL: ("afmelden", "afmelding", "annuleer", "annuleren", "cancel"),
    "done": ("behandeld", "afgehandeld", "gedaan", "done"),
}
_KIND_OF = {word: kind for kind, words in _WORDS.items() for word in words}
_FIRST_WORD = re.compile(r"^\s*[*_\"'\u201c]*([^\W\d_][\w']*|\?)[*_\"'\u201d:!.,]*(?=\s|$)", re.IGNORECASE)
_ADDRESS = re.compile(r"<?([\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})>?")
_NUMBER = re.compile(r"(?<![\w/.-])#?(\d{1,9})(?![\w/.-])")
_FILLER = frozenset("voor op de het van bij bijeenkomst bijeenkomsten pioniersnetwerk meeting naam name graag aub svp "
                    "ma di wo do vr za zo maandag dinsdag woensdag donderdag vrijdag zaterdag zondag "
                    "mon tue wed thu fri sat sun bericht nr nummer message en als".split())
_NAME_WORD = re.compile(r"^[^\W\d_][\w'\u2019.-]*$")
MAX_LINES = 3  # a command stands in the subject or in the first lines the organiser wrote


@dataclass(frozen=True)
class Command:
    kind: str
    text: str = ""  # the line it was read from (for "not understood" and the message log)
    day: dt.date | None = None
    email: str = ""  # REGISTER / CANCEL: whom
    name: str = ""  # REGISTER: the name written after the address
    organisation: str = ""  # REGISTER: after a comma behind the name
    message_id: int | None = None  # RESOLVE: the message in the attention folder
    action: str = ""  # RESOLVE: register | cancel | done
    problem: str = ""  # NO_DATE, NO_ADDRESS, or '' when the command is complete
    unknown: bool = False  # HELP because nothing was understood

    @property
    def changes(self) -> bool:
        return self.kind in CHANGES and not self.problem

    def describe(self) -> str:
        """One English line for the message log."""
        parts = [self.kind]
        if self.action:
            parts.append(self.action)
        if self.message_id is not None:
            parts.append(f"message #{self.message_id}")
        if self.email:
            parts.append(self.email)
        if self.day:
            parts.append(self.day.isoformat())
        if self.problem:
            parts.append(f"({self.problem})")
        if self.unknown:
            parts.append(f"(not understood: {self.text[:60]!r})")
        return " ".join(parts)


def command_word(line: str) -> str:
    """The kind the line's first word names ('' for none)."""
    found = _FIRST_WORD.match(line)
    return _KIND_OF.get(found.group(1).lower(), "") if found else ""


def _candidate_lines(subject: str, own_text: str) -> list[str]:
    lines = [strip_prefixes(subject).strip()]
    taken = 0
    for raw in own_text[:3000].splitlines():
        line = raw.strip()
        if not line:
            continue
        lines.append(line)
        taken += 1
        if taken >= MAX_LINES:
            break
    return lines


def parse(subject: str, own_text: str, meeting_dates: Sequence[dt.date], today: dt.date) -> Command:
    """The command in the subject, else in the first lines of the body; HELP (unknown) when there is none."""
    lines = _candidate_lines(subject, own_text)
    for line in lines:
        if command_word(line):
            return parse_line(line, meeting_dates, today)
    shown = next((line for line in lines if line), "")
    return Command(HELP, text=clean(shown)[:200], unknown=bool(shown))


def parse_line(line: str, meeting_dates: Sequence[dt.date], today: dt.date) -> Command:
    line = clean(line)[:300]
    kind = command_word(line)
    if not kind:
        return Command(HELP, text=line, unknown=bool(line))
    first = _FIRST_WORD.match(line)
    assert first is not None  # command_word found it
    rest = line[first.end():]
    spans = date_spans(rest)
    day = next((d for ref, _, _ in spans if (d := resolve(ref, meeting_dates, today)) is not None), None)
    for _, start, end in reversed(spans):
        rest = rest[:start] + " " + rest[end:]
    if kind in (HELP, OVERVIEW, ATTENTION):
        return Command(kind, text=line)
    if kind == ATTENDEES:
        return Command(kind, text=line, day=day)
    address = _ADDRESS.search(rest)
    number = _NUMBER.search(rest) if address is None else None
    if kind == "done":
        if number is None:
            return Command(RESOLVE, text=line, action="done", problem=NO_ADDRESS)
        return Command(RESOLVE, text=line, action="done", message_id=int(number.group(1)))
    if number is not None:  # "aanmelden 12 17 juni": the message in the attention folder, for that meeting
        return Command(RESOLVE, text=line, action=kind, message_id=int(number.group(1)), day=day,
                       problem="" if day else NO_DATE)
    if address is None:
        return Command(kind, text=line, day=day, problem=NO_ADDRESS)
    email = address.group(1).strip(".'-").lower()
    name, organisation = _name_and_organisation(rest[:address.start()] + " " + rest[address.end():]) \
        if kind == REGISTER else ("", "")
    return Command(kind, text=line, day=day, email=email, name=name, organisation=organisation,
                   problem="" if day else NO_DATE)


def _name_and_organisation(rest: str) -> tuple[str, str]:
    """'Piet Jansen, Gemeente Gouda' around the address and the date: the words that can be a name."""
    head, _, tail = rest.partition(",")

    def words(text: str) -> str:
        kept = [w for w in re.split(r"[\s()<>\[\]\"]+", text) if w and _NAME_WORD.match(w)]
        while kept and kept[0].lower().strip(":") in _FILLER:  # "voor", "op do": around the name, not in it
            kept.pop(0)
        while kept and kept[-1].lower().strip(":") in _FILLER:
            kept.pop()
        return " ".join(kept[:6])

    name = words(head)
    organisation = " ".join(w for w in re.split(r"\s+", tail.strip()) if w)[:200] if name else ""
    return name[:200], organisation
