"""Message in, decision out, for the network's own conversation: theme polls and who is who. Pure functions.

Listed in inbox/decide.py CHECKS:
  check_poll     before listrules.check_list_mail: a reply to nieuws+poll-ID@ is a vote, not a post, and an
                 organiser's "Thema's Pioniersnetwerk <date>" post with a numbered list opens a poll;
  check_profile  just before registration_rules.meeting_request: "rol: pionier" in reply to the confirmation (whose
                 subject names the meeting) says who someone is; it is no new registration.

How a vote finds its poll: the poll's announcement has Reply-To nieuws+poll-ID@ (the +tag survives any
"RE:/Antw:" and subject edits) and keeps "Thema's Pioniersnetwerk <date>" in its subject, so a reply sent
to the registration address instead still counts, but only when the sender's own text is an explicit vote
("2", "thema 2") or proposal ("voorstel: ..."). A plain "Pioniersnetwerk <date>" never has "Thema" in its
subject and still registers.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from base.dates import find_any_date_refs, find_date_refs, resolve
from base.text import scrub
from db.states import MeetingStatus
from inbox import listrules
from inbox.decision import (ASK_BACK, NOTED, PAST_MEETING, PERSON, REGISTER, AlsoRegister, Context, Decision,
                            ForPerson, PollRef)
from inbox.registration_rules import asks_to_cancel, meeting_request
from inbox.text import may_contain, strip_prefixes
from network.profiles import Profile

if TYPE_CHECKING:
    from inbox.message import Incoming

# Actions, each handled by one function in inbox/network_handlers.py.
POLL_POST = "poll_post"  # an organiser mails a theme poll to the post address: held for approval like a post
POLL_REPLY = "poll_reply"  # a member's vote and/or proposal
POLL_RESULTS = "poll_results"  # an organiser asks for the tally by mail
PROFILE = "profile"  # who is who: role, topic, consent to share

ROLES = ("pioneer", "learner", "meedenker")

_POLL_TAG = re.compile(r"^poll-(\d{1,9})$")
_THEME = re.compile(r"\b(?:thema(?:['\u2019`]?s)?|themakeuze|themes?)\b", re.IGNORECASE)
_RESULTS = re.compile(r"\b(?:uitslag|resultaten?|tussenstand|stand\s+van\s+(?:de\s+)?stemming|results?|tally)\b",
                      re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*(\d{1,2})\s*[.):]\s+(\S.{0,300}?)\s*$")
_CLOSING_LINE = re.compile(r"\b(?:sluit|stemmen\s+kan|tot\s+en\s+met|t/m|uiterlijk|deadline|closes?|until)\b",
                           re.IGNORECASE)

# --- the sender's own lines ------------------------------------------------------------------------

_SIGNATURE = re.compile(
    r"^(?:--\s*|(?:met\s+)?(?:vriendelijke\s+|hartelijke\s+|collegiale\s+)?groet(?:en)?\b.*|mvg\b.*|gr\.?\s*$|"
    r"groetjes\b.*|(?:kind\s+|best\s+)?regards\b.*|cheers\b.*|sent\s+from\s+my\b.*|verzonden\s+vanaf\b.*)$",
    re.IGNORECASE,
)
_GREETING = re.compile(r"^(?:hoi|hallo|hai|hey|beste|geachte|dag|goedemorgen|goedemiddag|goedenavond|hi|hello|dear)"
                       r"\b[^.!?]{0,60}[,!]?$", re.IGNORECASE)


# Our own instructions ('Antwoord "ja, deel mijn gegevens"'), should a client quote us without any marker.
_INSTRUCTION = re.compile(r"\b(?:antwoord|beantwoord|reply|respond)\b.*[\"\u201c\u201d]", re.IGNORECASE)


def own_lines(text: str, limit: int = 15) -> list[str]:
    """The non-empty lines the sender wrote, up to their signature or closing; never our instructions."""
    lines: list[str] = []
    for raw in text[:5000].splitlines():
        line = raw.strip()
        if not line or _INSTRUCTION.search(line):
            continue
        if _SIGNATURE.match(line):
            break
        lines.append(line)
        if len(lines) >= limit:
            break
    return lines


def normalise(text: str) -> str:
    """Lower case, no accents, only letters and digits between single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


# --- votes and proposals ---------------------------------------------------------------------------

_NUMBER_WORDS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8,
                 "negen": 9, "tien": 10, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_VOTE_LINE = re.compile(
    r"(?:(?:wat\s+mij\s+betreft|mijn\s+stem(?:\s+is)?\s*[:=]?|(?:toch\s+)?liever|doe\s+maar|my\s+vote(?:\s+is)?\s*[:=]?)"
    r"\s*,?\s*)?"
    r"(?:(?:ik\s+)?(?:stem|kies)(?:\s+(?:op|voor))?\s+|(?:i\s+)?(?:vote|choose)(?:\s+for)?\s+)?"
    r"(?:(?:thema|optie|keuze|nummer|nr\.?|theme|option|choice|number)\s*)?(?:nr\.?\s*|nummer\s*)?#?\s*"
    r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
    r"(?:\s*,?\s*(?:graag|please|svp|aub|alsjeblieft))?",
    re.IGNORECASE,
)
_VOTE_IN_TEXT = re.compile(
    r"\b(?:thema|optie|keuze|theme|option|choice)\s*(?:nr\.?\s*|nummer\s*)?#?\s*(\d{1,2})\b(?![.,:]\d)"
    r"|\b(?:stem|kies|vote|choose)\s+(?:ik\s+)?(?:op|voor|for)\s+(?:thema\s+|optie\s+|theme\s+|option\s+)?#?"
    r"(\d{1,2})\b(?![.,:]\d)",
    re.IGNORECASE,
)
_PROPOSAL = re.compile(
    r"^(?:(?:mijn\s+|een\s+)?voorstel|nieuw\s+thema|eigen\s+thema|suggestie|ik\s+stel\s+voor|(?:my\s+)?proposal"
    r"|suggestion|i\s+propose)\s*(?::|-|\u2013)\s*(.*)$",
    re.IGNORECASE,
)
MAX_PROPOSAL = 300


@dataclass(frozen=True)
class Ballot:
    """What a reply to a poll says: a number, a proposal, and lines that may name an option in words."""

    number: int | None = None
    proposal: str = ""
    phrases: tuple[str, ...] = ()

    @property
    def explicit(self) -> bool:
        return self.number is not None or bool(self.proposal)


def _bare(line: str) -> str:
    return line.strip().strip("*_\"'\u201c\u201d").rstrip(".!)").strip()


def parse_ballot(text: str) -> Ballot:
    lines = own_lines(text)
    number: int | None = None
    proposal = ""
    phrases: list[str] = []
    skip_next = False
    for i, line in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        found = _PROPOSAL.match(line)
        if found:
            if not proposal:
                proposal = found.group(1).strip()
                if not proposal and i + 1 < len(lines):  # "voorstel:" with the theme on the next line
                    proposal, skip_next = lines[i + 1], True
            continue
        whole = _VOTE_LINE.fullmatch(_bare(line))
        if whole:  # "2" ... "Toch liever 3": the last choice counts
            found_number = whole.group(1).lower()
            number = int(found_number) if found_number.isdigit() else _NUMBER_WORDS[found_number]
            continue
        if _GREETING.match(line):
            continue
        if number is None and i < 5:
            inline = _VOTE_IN_TEXT.search(line)
            if inline:
                number = int(inline.group(1) or inline.group(2))
                continue
        phrases.append(line)
    proposal = scrub(proposal)[:MAX_PROPOSAL]
    return Ballot(number, proposal, tuple(phrases[:4]))


_STOP = frozenset("de het een en of van voor in op met over aan als is ik wij we je the a an and or of for to in on "
                  "with thema optie graag kies stem".split())


def match_option(phrases: tuple[str, ...], options: list[tuple[int, str]]) -> int | None:
    """The one option a reply names in words ("Open data in de wijk", "de wijk"), or None when unclear."""
    normalised = [(pos, normalise(text)) for pos, text in options]
    for phrase in phrases:
        p = normalise(phrase)
        if not p:
            continue
        hits = [pos for pos, text in normalised if text and (text in p or (len(p) >= 4 and p in text))]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            continue
        words = set(p.split()) - _STOP
        scores = []
        for pos, text in normalised:
            theirs = set(text.split()) - _STOP
            if theirs:
                scores.append((len(words & theirs) / len(theirs), pos))
        scores.sort(reverse=True)
        if scores and scores[0][0] >= 0.6 and (len(scores) == 1 or scores[1][0] < scores[0][0]):
            return scores[0][1]
    return None


def poll_options(text: str) -> list[str]:
    """The numbered list of an organiser's poll: "1. Open data", "2) Algoritmes", ... (1, 2, 3 in order)."""
    options: list[str] = []
    for line in text[:20000].splitlines():
        found = _OPTION_LINE.match(line)
        if found and int(found.group(1)) == len(options) + 1:
            options.append(found.group(2).strip())
        elif found and options and int(found.group(1)) == 1:
            break  # a second list: the first one is the poll
    return options


def closing_date(text: str, today: dt.date) -> dt.date | None:
    """'Stemmen kan tot en met 1 september 2027' in an organiser's poll: the last day votes count."""
    for line in text[:20000].splitlines():
        if _OPTION_LINE.match(line) or not _CLOSING_LINE.search(line):
            continue
        for ref in find_any_date_refs(line):
            day = resolve(ref, [], today)
            if day is not None:
                return day
    return None


def wants_results(msg: Incoming, subject: str) -> bool:
    lines = own_lines(msg.own_text, 2)
    return bool(_RESULTS.search(subject) or (lines and _RESULTS.search(lines[0])))


# --- who is who ------------------------------------------------------------------------------------

_ROLE_WORDS = {"pionier": "pioneer", "pioneer": "pioneer", "lerende": "learner", "learner": "learner",
               "meedenker": "meedenker"}
_ROLE = r"(pionier|pioneer|lerende|learner|meedenker)"
_ROLE_STATED = re.compile(
    rf"\b(?:rol|role)\s*[:=]\s*(?:een\s+|a\s+|de\s+)?{_ROLE}\b"
    rf"|\b(?:ik\s+ben|i\s+am|i'm)\s+(?:een\s+|a\s+|de\s+)?{_ROLE}\b"
    rf"|\b(?:als|as)\s+(?:een\s+|a\s+)?{_ROLE}\b",
    re.IGNORECASE,
)
_ROLE_LINE = re.compile(rf"^[\W_]*{_ROLE}[\W_]*$", re.IGNORECASE)
_TOPIC = re.compile(
    r"^(?:(?:mijn\s+)?onderwerp|(?:my\s+)?topic)\s*[:=]\s*(\S.*)$"
    r"|^(?:ik\s+werk\s+aan|i\s+work\s+on|ik\s+ben\s+bezig\s+met)\s*:?\s+(\S.*)$",
    re.IGNORECASE,
)
_CONSENT_NO = re.compile(
    r"\b(?:deel|delen)\s+(?:van\s+)?mijn\s+gegevens\s+(?:maar\s+|liever\s+|alsjeblieft\s+)?niet\b"
    r"|\bmijn\s+gegevens\s+(?:liever\s+)?niet\s+delen\b"
    r"|\b(?:do\s+not|don'?t)\s+share\s+my\s+details\b",
    re.IGNORECASE,
)
_CONSENT_YES = re.compile(
    r"\b(?:deel|delen)\s+(?:van\s+)?mijn\s+gegevens\b"
    r"|\bmijn\s+gegevens\s+(?:mogen\s+)?(?:worden\s+)?gedeeld\b"
    r"|\bshare\s+my\s+details\b",
    re.IGNORECASE,
)
MAX_TOPIC = 200
_PART = re.compile(r"[,;]\s*|\s[-\u2013]\s")


# Every match of _ROLE_STATED / _ROLE_LINE, _TOPIC and _CONSENT_* holds one of these words, and then also a match
# of _PROFILE_HINT (same flags, so the same case folding; a role word is followed by no letter or digit): text
# with neither says nothing about who someone is. Both are much cheaper than the line-by-line regexes.
_PROFILE_WORDS = ("pionier", "pioneer", "lerende", "learner", "meedenker", "onderwerp", "topic", "werk", "work",
                  "bezig", "gegevens", "share")
_PROFILE_HINT = re.compile(
    r"(?:pionier|pioneer|lerende|learner|meedenker)(?![^\W_])|onderwerp|topic|werk\s+aan|work\s+on|bezig|gegevens"
    r"|share",
    re.IGNORECASE,
)


def parse_profile(text: str) -> Profile:
    role = topic = ""
    consent: bool | None = None
    head = text[:5000]  # own_lines reads no further
    if not (may_contain(head, _PROFILE_WORDS) and _PROFILE_HINT.search(head)):
        return Profile(role, topic, consent)
    for line in own_lines(text):
        # "lerende - ja, deel mijn gegevens", "pionier, onderwerp: open data.": each part on its own too
        parts = [line] + [line[m.end():] for m in _PART.finditer(line)]
        if not role:
            found = _ROLE_STATED.search(line) or next(
                (m for part in parts if (m := _ROLE_LINE.match(_PART.split(part, 1)[0]))), None)
            if found:
                word = next(g for g in found.groups() if g)
                role = _ROLE_WORDS[word.lower()]
        if not topic:
            found = next((m for part in parts if (m := _TOPIC.match(part))), None)
            if found:
                topic = scrub(found.group(1) or found.group(2)).rstrip(".")[:MAX_TOPIC]
        if consent is None:
            if _CONSENT_NO.search(line):
                consent = False
            elif _CONSENT_YES.search(line):
                consent = True
    return Profile(role, topic, consent)


def is_reply(msg: Incoming) -> bool:
    return strip_prefixes(msg.subject) != msg.subject or bool(msg.references)


# --- the checks ------------------------------------------------------------------------------------


def poll_tag(msg: Incoming, ctx: Context) -> int | None:
    """The poll a reply was sent to: nieuws+poll-ID@ among its recipients."""
    if not ctx.post_address:
        return None
    for tag in listrules.tags_for(msg.msg, ctx.post_address) or []:
        found = _POLL_TAG.match(tag)
        if found:
            return int(found.group(1))
    return None


def theme_date(subject: str, ctx: Context) -> dt.date | None:
    """The scheduled meeting a subject like "Thema's Pioniersnetwerk 16 september 2027" names."""
    if not _THEME.search(subject):
        return None
    scheduled = [m.date for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED]
    all_dates = [m.date for m in ctx.meetings]
    for ref in find_date_refs(subject, ctx.network_name):
        day = resolve(ref, all_dates, ctx.today)
        if day in scheduled:
            return day
    return None


def check_poll(msg: Incoming, ctx: Context) -> Decision | None:
    """Theme polls: votes and proposals by reply, results on an organiser's request, polls opened by mail."""
    if listrules.token_in(msg, ctx):  # approval and confirmation replies are the list's business
        return None
    subject = strip_prefixes(msg.subject)
    poll_id = poll_tag(msg, ctx)
    day = theme_date(subject, ctx)
    post_tags = listrules.tags_for(msg.msg, ctx.post_address) if ctx.post_address else None
    organiser = msg.sender in ctx.organisers
    detail = PollRef(poll_id) if poll_id is not None else None  # else the meeting's date names the poll
    if organiser and (poll_id is not None or _THEME.search(subject)) and wants_results(msg, subject):
        return Decision(POLL_RESULTS, "an organiser asks for the theme poll's results", meeting_date=day,
                        detail=detail)
    if poll_id is not None:
        if listrules.wants_out(msg) or listrules.wants_in(msg):
            return None
        return Decision(POLL_REPLY, f"reply to theme poll #{poll_id}", meeting_date=day, detail=detail)
    if organiser and post_tags is not None and "" in post_tags and day and len(poll_options(msg.own_text)) >= 2:
        return Decision(POLL_POST, f"theme poll for {day} posted by an organiser: held for approval",
                        meeting_date=day)
    if day and post_tags is None and parse_ballot(msg.own_text).explicit:
        return Decision(POLL_REPLY, f"vote on the theme of {day} (poll named in the subject)", meeting_date=day,
                        detail=detail)
    return None


def check_profile(msg: Incoming, ctx: Context) -> Decision | None:
    """Who is who, in the sender's own text: a role, a topic, consent to share. A registration that says
    it too registers (the handler records both); a reply to the confirmation only updates the profile."""
    profile = parse_profile(msg.own_text)
    if profile.empty:
        return None
    if asks_to_cancel(msg):
        return None
    request = meeting_request(msg, ctx)
    if request is None or request.action in (PAST_MEETING, NOTED, PERSON, ASK_BACK):  # the profile is the answer
        return Decision(PROFILE, f"who-is-who: {profile.describe()}")
    if request.action == REGISTER:
        return Decision(PROFILE, f"who-is-who: {profile.describe()}; {request.reason}",
                        meeting_date=request.meeting_date,
                        detail=AlsoRegister(request.detail if isinstance(request.detail, ForPerson) else None))
    return None
