"""Organisers' member commands (list, add, remove, import, export) and subscribing registrants."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config
from db import members
from db.app import App
from db.models import Member, Person
from network.exports import neutralise, restore
from network.meetings import UserError
from db.registry import is_forgotten
from db.states import MemberStatus

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def subscribe_registrant(session: Session, cfg: Config, person: Person, now: dt.datetime) -> bool:
    """Called for every registration: True when the person is (now) on the list."""
    if not cfg.list.subscribe_registrants:
        member = members.find(session, person.email)
        return member is not None and member.status == MemberStatus.ACTIVE
    return members.subscribe_registrant(session, person.email, person.name, now)


def check_address(text: str) -> str:
    email = text.strip().lower()
    if not _ADDRESS.match(email):
        raise UserError(f"{text!r} is not an email address")
    return email


def list_members(app: App) -> list[Member]:
    with app.sm.begin() as session:
        return list(session.scalars(select(Member).order_by(Member.status, Member.email)))


def add_member(app: App, email: str, name: str) -> str:
    email = check_address(email)
    with app.sm.begin() as session:
        if is_forgotten(session, app.cfg.secret, email):
            raise UserError(f"{email} asked to be forgotten: they are on the do-not-mail list and are not added")
        member, changed = members.add(session, email, name, app.now())
        return f"{email} is a member" + ("" if changed else " (already)")


def remove_member(app: App, email: str) -> str:
    email = check_address(email)
    with app.sm.begin() as session:
        if members.find(session, email) is None:
            raise UserError(f"{email} is not on the list: see 'pioniers members list'")
        _, was = members.unsubscribe(session, email, app.now())
        return f"{email} removed" if was else f"{email} was not an active member"


def import_csv(app: App, path: Path,
               progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int, int]:
    """CSV with a header row 'email,name'. (added, already there, skipped because they left or bounced,
    skipped because they asked to be forgotten: an old CSV never brings them back). progress(rows done, rows)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text: save it as 'CSV UTF-8'") from None
    header = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if ";" in header else ("\t" if "\t" in header else ",")  # Dutch Excel writes ';'
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows or [c.strip().lower() for c in rows[0]][:2] not in (["email", "name"], ["email"]):
        raise UserError(f"{path}: the first row must be the header 'email,name'")
    parsed: list[tuple[str, str]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            email = check_address(restore(row[0].strip()))
        except UserError:
            raise UserError(f"{path} line {number}: {row[0]!r} is not an email address") from None
        parsed.append((email, restore(row[1].strip()) if len(row) > 1 else ""))
    added = already = skipped = forgotten = 0
    secret = app.cfg.secret
    with app.sm.begin() as session:
        for start in range(0, len(parsed), IMPORT_CHUNK):  # one query and one INSERT per chunk, not per row
            chunk = parsed[start:start + IMPORT_CHUNK]
            gone = [(e, n) for e, n in chunk if is_forgotten(session, secret, e)]
            forgotten += len(gone)
            a, b, c = _import_chunk(session, [row for row in chunk if row not in gone], app.now())
            added, already, skipped = added + a, already + b, skipped + c
            if progress is not None:
                progress(start + len(chunk), len(parsed))
    return added, already, skipped, forgotten


IMPORT_CHUNK = 1000


def _import_chunk(session: Session, parsed: list[tuple[str, str]], now: dt.datetime) -> tuple[int, int, int]:
    added = already = skipped = 0
    existing = {m.email: m for m in session.scalars(select(Member).where(Member.email.in_({e for e, _ in parsed})))}
    new: dict[str, Member] = {}
    for email, name in parsed:
        member = existing.get(email) or new.get(email)
        if member is None:
            new[email] = Member(email=email, name=name, status=MemberStatus.ACTIVE, source="import",
                                token=members.new_token(), bounces=0, created_at=now, updated_at=now)
            added += 1
        elif member.status in (MemberStatus.UNSUBSCRIBED, MemberStatus.DISABLED):
            skipped += 1  # an import never overrides someone's own "no"
        elif member.status == MemberStatus.PENDING:
            members.activate(session, member, now)
            added += 1
        else:
            already += 1
            if name and not member.name:
                member.name = name
    session.add_all(new.values())
    session.flush()
    return added, already, skipped


def export_csv(app: App) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["email", "name"])
    with app.sm.begin() as session:
        active = select(Member).where(Member.status == MemberStatus.ACTIVE).order_by(Member.email)
        for member in session.scalars(active):
            writer.writerow([neutralise(member.email), neutralise(member.name)])  # no formulas in Excel
    return out.getvalue()
