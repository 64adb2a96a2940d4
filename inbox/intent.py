"""What a human's own words ask for: the one reader of intent for the rules (registration, list approvals).
Pure, cheap, no database.

Hand-written patterns, because no good Dutch intent library exists offline. It reads the sender's own text (the
quote already removed: Incoming.own_text) and the subject without RE:/FW: (inbox/text.strip_prefixes), and
answers which intents it sees, whether that is clear, and why (a short English reason for the decision's reason).

Clear means: the words point one way. Any doubt, hesitation or condition ("twijfel", "wacht", "ja, maar ...") makes
the reading unsure, and the rules then ask back or hand the mail to a person instead of acting.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from inbox.text import may_contain

REGISTER = "register"
CANCEL = "cancel"  # withdraws a registration ("afmelden", "toch niet")
CANNOT_COME = "cannot_come"  # "kan niet", "op vakantie", "verhinderd": never a registration
DOUBT = "doubt"  # "twijfel", "misschien", "weet nog niet of"
QUESTION = "question"  # a question a person should answer
NEED = "need"  # a diet or access need the host should know
APPROVE = "approve"  # a plain yes
DISCARD = "discard"  # a plain no
HOLD = "hold"  # wait, stop, not yet, a condition: no action yet

# Each pattern below is found only when one of its cheap words is in the lower-cased text (may_contain).
_CANCEL = re.compile(
    r"""\b(
        afmeld(en|ing)(?!\s+(voor\s+de\s+)?(nieuwsbrief|mailinglijst|lijst))
      | afzeggen | zeg\w*\s+(\w+\s+){0,2}af\b
      | ik\s+(moet|wil)\s+(me\s+)?(helaas\s+)?(afmelden|afzeggen|annuleren)
      | (kan|kom)\s+(\w+\s+){0,3}(toch\s+)?niet\s+(\w+\s+){0,2}(komen|aanwezig\s+zijn|aansluiten|deelnemen|erbij\s+zijn)
      | ben\s+(\w+\s+){0,2}verhinderd | helaas\s+verhinderd
      | (zal|ben)\s+er\s+(\w+\s+){0,2}niet\s+bij\b
      | aanmelding\s+(\w+\s+){0,2}(intrekken|annuleren|terugtrekken|cancelen)
      | (trek|annuleer)\s+(\w+\s+){0,2}aanmelding
      | cancel(\s+my\s+registration)?\b | unregister
      | can(no|')t\s+(make\s+it|attend|come)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_CANCEL_WORDS = ("afmeld", "zeg", "annule", "niet", "verhinderd", "trek", "can", "unregister")

_CANNOT = re.compile(
    r"""\b(
        (?<!collega\s)(?<!hij\s)(?<!zij\s)(?<!ze\s)(kan|kun|kunnen|lukt|red|kom)\s+(\w+\s+){0,4}niet\b(?!\s+wachten)
      | niet\s+(aanmelden|komen|aanwezig|deelnemen|meedoen)
      | (zit|ben)\s+(\w+\s+){0,3}(op\s+)?vakantie | vakantie\s+(heb|ben|zit)
      | verhinderd | toch\s+niet\b | helaas\s+(\w+\s+){0,3}niet\b
      | geen\s+tijd | (andere|een\s+andere)\s+afspraak | dubbel\s+geboekt
      | sla\s+(\w+\s+){0,3}over\b | (moet|ga)\s+(\w+\s+){0,3}passen\b | laat\s+(\w+\s+){0,3}schieten
      | (won't|will\s+not|not)\s+be\s+able | unable\s+to\s+(come|attend|make)
      | can(no|')t\s+(make|attend|come|join) | on\s+holiday | on\s+vacation
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_CANNOT_WORDS = ("niet", "vakantie", "verhinderd", "able", "unable", "can", "holiday", "vacation", "tijd", "afspraak",
                 "geboekt", "sla", "passen", "schieten")

_DOUBT = re.compile(
    r"\b(twijfel\w*|misschien|wellicht|mogelijk\s+(wel|niet)|weet\s+(\w+\s+){0,2}niet\s+(zeker\s+)?of\s+(ik|we|wij|i)\b"
    r"|weet\s+(het\s+)?nog\s+niet|probeer\s+(te\s+)?(komen|erbij)|laat\s+(het\s+)?nog\s+weten"
    r"|nog\s+niet\s+zeker|niet\s+zeker\b(?!\s+of\s+(er|het|de)\b)|onder\s+voorbehoud|waarschijnlijk"
    r"|not\s+sure|maybe|perhaps|might)\b",
    re.IGNORECASE,
)
_DOUBT_WORDS = ("twijfel", "misschien", "wellicht", "mogelijk", "weet", "zeker", "voorbehoud", "waarschijnlijk",
                "probeer", "laat", "sure", "maybe", "perhaps", "might")

_QUESTION_START = re.compile(
    r"^\W*(waar|wanneer|hoe|hoelang|wat|wie|welke|waarom|is|zijn|kan|kun|kunnen|mag|mogen|moet|heb|hebben|komt"
    r"|wordt|where|when|how|what|who|which|why|is|are|can|could|may|do|does|will)\b",
    re.IGNORECASE,
)

_NEED = re.compile(
    r"\b(vegetari\w*|veganis\w*|vegan|rolstoel\w*|dieet\w*|di[eë]etwens\w*|allergi\w*|allergisch|glutenvrij"
    r"|lactosevrij|lactose|halal|koosjer|notenallergie|slechthorend|doof|blind|invalide\w*|mindervalide\w*"
    r"|toegankelijk\w*|vegetarian|wheelchair|dietary|diet|allergy|allergic|gluten)\b",
    re.IGNORECASE,
)
_NEED_WORDS = ("veget", "vegan", "rolstoel", "dieet", "diet", "allerg", "gluten", "lactose", "halal", "koosjer",
               "slechthorend", "doof", "blind", "valide", "toegankelijk", "wheelchair")

_REGISTER = re.compile(
    r"\b(aanmeld\w*|meld\w*\s+(mij|me|ik)\b|inschrijv\w*|schrijf\s+(mij|me)\s+(\w+\s+)?in\b|ik\s+kom\b|ik\s+ben\s+erbij"
    r"|ik\s+wil\s+(graag\s+)?(komen|deelnemen|meedoen)|graag\s+aanwezig|register\w*|sign\s*(me\s+)?up|i'll\s+come"
    r"|count\s+me\s+in)",
    re.IGNORECASE,
)
_REGISTER_WORDS = ("meld", "inschrijv", "schrijf", "kom", "erbij", "wil", "aanwezig", "register", "sign", "come",
                   "count")

# Answers to a question of ours (an approval, a "do you mean ...?"): only the first words count.
_YES = re.compile(
    r"^\W*(ja+|jazeker|jawel|jep|yes|yep|ok[eé]?|okay|okido|akkoord|prima|goed|top|graag|prima\s+zo|versturen"
    r"|verstuur|verzenden|verzend|doen|go|ga\s+je\s+gang|klopt|correct|\U0001F44D)(?=\W|$)",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^\W*(nee+|neen|no|nope|niet\s+versturen|niet\s+verzenden|niet\s+doen|weggooien|gooi\s+(maar\s+)?weg"
    r"|verwijder(en)?|annuleer|annuleren|cancel|discard)(?=\W|$)",
    re.IGNORECASE,
)
_HOLD = re.compile(
    r"\b(wacht\w*|stop|ho+|nog\s+niet|even\s+niet|fout\w*|klopt\s+niet|aanpassen|wijzig\w*|verander\w*|tenzij"
    r"|eerst|(?<!versturen\s)(?<!verstuur\s)(?<!stuur\s)(?<!doe\s)maar(?!\W*$)|behalve|als\s+|mits|wait|hold"
    r"|not\s+yet|don't\s+send"
    r"|do\s+not\s+send|but|unless|first|mistake|wrong|error)\b",
    re.IGNORECASE,
)
_HOLD_WORDS = ("wacht", "stop", "ho", "nog niet", "even niet", "fout", "klopt",
               "aanpassen", "wijzig", "verander", "tenzij", "eerst", "maar", "behalve", "als ", "mits", "wait", "hold",
               "not yet", "send", "but", "unless", "first", "mistake", "wrong", "error")

# Lines that say nothing: greetings and closings.
_FILLER = re.compile(
    r"^\W*(hoi|hallo|hai|hey|beste|dag|goedemorgen|goedemiddag|hi|hello|dear|groet\w*|met\s+vriendelijke\s+groet\w*"
    r"|mvg|gr|vriendelijke\s+groet\w*|dank\w*|bedankt|thanks|regards|best|cheers)\b[^.!?]{0,40}[,!.]?\s*$",
    re.IGNORECASE,
)


def is_cancellation(text: str) -> bool:
    """Says they cancel a registration. Kept precise: "niet" alone is no cancellation."""
    return may_contain(text, _CANCEL_WORDS) and bool(_CANCEL.search(text))


@dataclass(frozen=True)
class Reading:
    """What a text asks: the intents found, whether that is clear, and why (short, English)."""

    intents: frozenset[str]
    clear: bool
    why: str

    def has(self, *intents: str) -> bool:
        return any(i in self.intents for i in intents)

    @property
    def declines(self) -> bool:
        """Says they cannot come or cancel, without doubt: never a registration."""
        return self.has(CANCEL, CANNOT_COME) and not self.has(DOUBT)


def _lines(text: str) -> list[str]:
    lines = []
    for raw in text[:3000].splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("--") or re.match(r"^(met\s+)?(vriendelijke\s+|hartelijke\s+)?groet", line, re.I):
            break  # the signature: nothing after it is the sender's request
        lines.append(line)
        if len(lines) >= 12:
            break
    return lines


_URL = re.compile(r"\S+://\S+")


def _asks_question(lines: list[str]) -> bool:
    return any("?" in line and "?" in _URL.sub("", line) for line in lines)


def read(text: str, subject: str = "") -> Reading:
    """The intents in the sender's own text and the subject (RE:/FW: already stripped)."""
    lines = _lines(text)
    body = "\n".join(lines)
    both = f"{subject}\n{body}"
    found: set[str] = set()
    why: list[str] = []

    def see(intent: str, reason: str) -> None:
        if intent not in found:
            found.add(intent)
            why.append(reason)

    if is_cancellation(both):
        see(CANCEL, "says they cancel")
    if may_contain(both, _CANNOT_WORDS) and _CANNOT.search(both):
        see(CANNOT_COME, "says they cannot come")
    if may_contain(both, _DOUBT_WORDS) and _DOUBT.search(both):
        see(DOUBT, "is not sure")
    if _asks_question(lines) or any(_QUESTION_START.match(line) and len(line) < 200 and line.endswith("?")
                                    for line in lines):
        see(QUESTION, "asks a question")
    if may_contain(both, _NEED_WORDS) and _NEED.search(body):
        see(NEED, "mentions a need (diet, access)")
    if may_contain(both, _REGISTER_WORDS) and _REGISTER.search(both) and not found & {CANCEL, CANNOT_COME}:
        see(REGISTER, "asks to register")
    answer = _answer(lines)
    if answer:
        see(answer, {APPROVE: "answers yes", DISCARD: "answers no", HOLD: "asks to wait"}[answer])
    if not found:
        return Reading(frozenset(), False, "nothing recognised" if lines else "no own text")
    clear = not found & {DOUBT, HOLD} and not ({CANCEL, CANNOT_COME} & found and REGISTER in found)
    return Reading(frozenset(found), clear, "; ".join(why))


def _answer(lines: list[str]) -> str:
    """A yes, a no or a wait in the first words that are not a greeting; '' when none is plain."""
    words = [line for line in lines if not _FILLER.match(line)]
    if not words:
        return ""
    first = " ".join(words)[:300]
    no = _NO.match(first)
    if no:  # "nee, wacht even" is no plain no
        rest = first[no.end():]
        return HOLD if may_contain(rest, _HOLD_WORDS) and _HOLD.search(rest) else DISCARD
    rest_hold = may_contain(first, _HOLD_WORDS) and bool(_HOLD.search(first))
    if _YES.match(first) and not first.rstrip().endswith("?"):  # "Klopt het dat ...?" asks, it does not agree
        return HOLD if rest_hold else APPROVE
    return HOLD if rest_hold else ""


MAX_NOTE = 300


def need_note(text: str) -> str:
    """The sender's own sentences that name a need ("Ik ben vegetarisch."), for the host's list; '' when none."""
    if not may_contain(text, _NEED_WORDS):
        return ""
    sentences = re.split(r"(?<=[.!?])\s+|\n", "\n".join(_lines(text)))
    return " ".join(s.strip() for s in sentences if _NEED.search(s))[:MAX_NOTE]


def approval(text: str) -> Reading:
    """An answer to a preview or question of ours: only a plain yes (or no) is clear; empty, hesitant or
    conditional answers are not."""
    lines = [line for line in _lines(text) if not _FILLER.match(line)]
    if not lines:
        return Reading(frozenset(), False, "no answer above the quote")
    answer = _answer(lines)
    if answer == APPROVE and not _asks_question(lines):
        return Reading(frozenset({APPROVE}), True, "answers yes")
    if answer == DISCARD:
        return Reading(frozenset({DISCARD}), True, "answers no")
    if answer == HOLD:
        return Reading(frozenset({HOLD}), False, "asks to wait or sets a condition")
    return Reading(frozenset(), False, "no plain yes or no")
