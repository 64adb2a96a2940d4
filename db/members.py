"""The mailing list's members and single-use tokens: small functions inside the caller's transaction."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import lookups, pending
from db.models import ListToken, Member, table
from db.states import MemberStatus

_TABLE = table(Member)


def new_token() -> str:
    """26 lower-case hex digits (104 bits): safe in an address's local part, in a subject, in a URL."""
    return secrets.token_hex(16)[:26]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode()).hexdigest()


def find(session: Session, email: str, *, lock: bool = False) -> Member | None:
    lk = lookups.get(session)
    if lk is not None and not lock and email.strip().lower() in lk.members:
        member = lk.members[email.strip().lower()]
        if member is not None and member.id is None:
            session.flush()  # created earlier in this chunk: whoever asks again may need its id
        return member
    query = select(Member).where(Member.email == email.strip().lower())
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def by_token(session: Session, token: str) -> Member | None:
    return session.scalar(select(Member).where(Member.token == token.strip().lower()))


def _new(session: Session, email: str, name: str, status: str, source: str, now: dt.datetime) -> Member:
    member = Member(email=email.strip().lower(), name=name, status=status, source=source, token=new_token(),
                    bounces=0, created_at=now, updated_at=now)
    session.add(member)
    session.flush()
    if (lk := lookups.get(session)) is not None:
        lk.members[member.email] = member
    return member


def subscribe_registrant(session: Session, email: str, name: str, now: dt.datetime) -> bool:
    """A registrant joins the list, unless they once left, bounced or still have to confirm a request: anyone can
    register in someone's name, so a registration never decides for a person who said otherwise (only their
    own reply to a confirmation does). True when they are a member now."""
    member = find(session, email)
    if member is None:
        address = email.strip().lower()
        pending.add(session, _TABLE, {  # a row, not an ORM object: a burst adds thousands (db/pending.py)
            "email": address, "name": name, "status": MemberStatus.ACTIVE, "source": "registration",
            "token": new_token(),
            "bounces": 0, "created_at": now, "updated_at": now})
        if (lk := lookups.get(session)) is not None:
            lk.members.pop(address, None)  # asked again, find() queries (and so writes the row first)
        return True
    if not member.name and name:
        member.name = name
    return member.status == MemberStatus.ACTIVE


def request(session: Session, email: str, name: str, now: dt.datetime) -> Member:
    """Someone asked to join: pending until they confirm (double opt-in). An active member stays active."""
    member = find(session, email)
    if member is None:
        return _new(session, email, name, MemberStatus.PENDING, "request", now)
    if member.status in (MemberStatus.UNSUBSCRIBED, MemberStatus.DISABLED):
        member.status, member.bounces, member.updated_at = MemberStatus.PENDING, 0, now
    if name and not member.name:
        member.name = name
    return member


def activate(session: Session, member: Member, now: dt.datetime) -> None:
    member.status, member.bounces, member.updated_at = MemberStatus.ACTIVE, 0, now


def add(session: Session, email: str, name: str, now: dt.datetime, source: str = "organiser") -> tuple[Member, bool]:
    """An organiser adds someone: active at once. (member, whether anything changed)."""
    member = find(session, email)
    if member is None:
        return _new(session, email, name, MemberStatus.ACTIVE, source, now), True
    changed = member.status != MemberStatus.ACTIVE or (bool(name) and name != member.name)
    if member.status != MemberStatus.ACTIVE:
        activate(session, member, now)
    if name:
        member.name = name
    return member, changed


def unsubscribe(session: Session, email: str, now: dt.datetime) -> tuple[Member, bool]:
    """Leave the list (a row is kept so registering again does not re-subscribe). (member, was it active)."""
    member = find(session, email)
    if member is None:
        return _new(session, email, "", MemberStatus.UNSUBSCRIBED, "request", now), False
    was = member.status == MemberStatus.ACTIVE
    member.status, member.updated_at = MemberStatus.UNSUBSCRIBED, now
    return member, was


def record_bounce(session: Session, member: Member, threshold: int, now: dt.datetime) -> bool:
    """One permanent failure; True when this one disabled the member."""
    member.bounces += 1
    member.last_bounce_at = member.updated_at = now
    if member.status == MemberStatus.ACTIVE and member.bounces >= threshold:
        member.status = MemberStatus.DISABLED
        return True
    return False


# --- tokens ----------------------------------------------------------------------------------------


def issue_token(session: Session, kind: str, email: str, now: dt.datetime, valid: dt.timedelta,
                announcement_id: int | None = None) -> str:
    token = new_token()
    session.add(ListToken(token_hash=token_hash(token), kind=kind, email=email.lower(),
                          announcement_id=announcement_id, created_at=now, expires_at=now + valid))
    session.flush()
    return token


@dataclass(frozen=True)
class Redeemed:
    ok: bool
    problem: str  # why not, in English, for the message log
    token: ListToken | None = None


def redeem(session: Session, token: str, sender: str, now: dt.datetime) -> Redeemed:
    """Use a token once: it must exist, be unexpired and unused, and the reply must come from its addressee."""
    row = session.scalar(select(ListToken).where(ListToken.token_hash == token_hash(token)).with_for_update())
    if row is None:
        return Redeemed(False, "unknown token")
    if row.email != sender.lower():
        return Redeemed(False, f"token belongs to {row.email}, not to the sender", row)
    if row.used_at is not None:
        return Redeemed(False, "token already used", row)
    if row.expires_at <= now:
        return Redeemed(False, "token expired", row)
    row.used_at = now
    return Redeemed(True, "", row)


def recent_token(session: Session, kind: str, email: str, since: dt.datetime) -> bool:
    return session.scalar(select(ListToken.id).where(
        ListToken.kind == kind, ListToken.email == email.lower(), ListToken.created_at >= since).limit(1)) is not None
