"""What a decision is made of: the actions, what the rules may know besides the message (Context), and what they
answer (Decision). The rule modules and inbox/decide.py, which runs them in order, take these from here."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from db.states import MeetingStatus
from inbox.desk_commands import Command  # an organiser's command to the desk (inbox/desk_rules.py)

# Actions, each handled by one function in inbox/registration_handlers.py.
REGISTER = "register"
CANCEL = "cancel"
UNKNOWN_DATE = "unknown_date"
PAST_MEETING = "past_meeting"
CALENDAR_REPLY = "calendar_reply"
IGNORE = "ignore"  # processed, nothing to do and nothing to answer
ATTENTION = "attention"  # a human should look at it
ASK_BACK = "ask_back"  # unsure what they mean: ask a short question that a plain "ja" answers
PERSON = "person"  # a person answers: to the attention folder, and the sender is told so
NOTED = "noted"  # a plain "nee" to our question: nothing changes, a short acknowledgement


@dataclass(frozen=True)
class MeetingInfo:
    date: dt.date
    uid: str
    status: str = MeetingStatus.SCHEDULED


@dataclass(frozen=True)
class Context:
    """What the decider may know besides the message."""

    network_name: str
    own_addresses: frozenset[str]
    own_domain: str
    meetings: Sequence[MeetingInfo]
    today: dt.date
    authserv_id: str | None = None
    post_address: str = ""  # the mailing list's address (inbox/listrules.py)
    desk_address: str = ""  # where organisers mail commands (inbox/desk_rules.py)
    bounce_address: str = ""
    organisers: frozenset[str] = frozenset()
    secret: bytes = b""  # the installation secret: checks our marked Message-IDs (inbox/proof.py)


@dataclass(frozen=True)
class Token:
    """The token a message carries: an approval or confirmation token in a reply, a member's token in an
    unsubscribe address or in the bounce address a report came back to (inbox/listrules.py)."""

    value: str


@dataclass(frozen=True)
class PollRef:
    """The theme poll a reply answers, by the tag of the address it was sent to (inbox/network_rules.py)."""

    poll_id: int


@dataclass(frozen=True)
class AlsoRegister:
    """A who-is-who answer that also asks to register for the decision's meeting (inbox/network_rules.py)."""

    registering: ForPerson | None = None  # the registration's own detail: a need to keep, a question to hand on


@dataclass(frozen=True)
class ForPerson:
    """A registration that also holds a question or a need: registered, and a person reads it too."""

    why: str  # what the reader saw, e.g. "asks a question"
    need: str = ""  # the sender's own words about a need ("Ik ben vegetarisch."), kept on the registration


@dataclass(frozen=True)
class Colleague:
    """Someone the sender signs up besides themselves: invited to confirm by reply, never registered on the
    sender's word (inbox/colleagues.py)."""

    email: str  # bare, lower case
    name: str  # as the sender wrote it; '' when none


@dataclass(frozen=True)
class AlsoMeetings:
    """A registration that names more: the other scheduled meetings the sender registers for ("17 juni en 16
    september"), each registered and confirmed on its own, and colleagues to invite (inbox/registration_rules.py)."""

    dates: tuple[dt.date, ...] = ()
    colleagues: tuple[Colleague, ...] = ()
    for_person: ForPerson | None = None  # what else the mail holds for a person


Detail = Token | PollRef | AlsoRegister | AlsoMeetings | ForPerson | Command | None


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    meeting_date: dt.date | None = None
    may_reply: bool = True  # False: act, but send nothing back
    partstat: str = ""  # for calendar replies
    detail: Detail = None  # what the action needs besides the message and the date

    @property
    def token(self) -> str:
        """The token the action is about ('' when the decision carries none)."""
        return self.detail.value if isinstance(self.detail, Token) else ""
