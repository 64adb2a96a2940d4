"""What a decision is made of: the actions, what the rules may know besides the message (Context), and what they
answer (Decision). The rule modules and inbox/decide.py, which runs them in order, take these from here."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

# Actions, each handled by one function in inbox/registration_handlers.py.
REGISTER = "register"
CANCEL = "cancel"
UNKNOWN_DATE = "unknown_date"
PAST_MEETING = "past_meeting"
CALENDAR_REPLY = "calendar_reply"
IGNORE = "ignore"  # processed, nothing to do and nothing to answer
ATTENTION = "attention"  # a human should look at it


@dataclass(frozen=True)
class MeetingInfo:
    date: dt.date
    uid: str
    status: str = "scheduled"


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
    bounce_address: str = ""
    organisers: frozenset[str] = frozenset()
    secret: bytes = b""  # the installation secret: checks our marked Message-IDs (inbox/proof.py)


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    meeting_date: dt.date | None = None
    may_reply: bool = True  # False: act, but send nothing back
    partstat: str = ""  # for calendar replies
    detail: str = ""  # e.g. the token of a list reply (inbox/listrules.py)
