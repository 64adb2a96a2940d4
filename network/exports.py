"""Attendee lists for the host: CSV for Excel (UTF-8 with BOM) and .xlsx, in waiting-list order."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

from sqlalchemy import select

from db.app import App
from db.models import Registration
from network.meetings import _require
from network.profiles import role_label

COLUMNS = ["name", "organisation", "email", "status", "registered_at", "partstat", "role", "note"]
_STATUS_ORDER = {"confirmed": 0, "waitlisted": 1, "cancelled": 2}


_FORMULA = re.compile(r"'*[=+\-@\t\r]")  # what a spreadsheet runs as a formula, behind any quotes already there


def neutralise(cell: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas (CSV injection): one leading quote makes them text.
    Reversible (restore), so a CSV made for re-import stays exact: a cell that already starts with quotes before
    such a character gets one more."""
    return "'" + cell if _FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    """neutralise undone: what was exported is imported exactly."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell[1:]) else cell


def attendee_rows(app: App, day: dt.date) -> list[list[str]]:
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        regs = session.scalars(select(Registration).where(Registration.meeting_id == meeting.id)
                               .order_by(Registration.registered_at, Registration.id))
        ordered = sorted(regs, key=lambda r: _STATUS_ORDER.get(r.status, 3))
        return [[r.person.name, r.person.organisation, r.person.email, r.status,
                 r.registered_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M"), r.partstat,
                 role_label(app.cfg, r.person.role) if r.person.role else "", r.note] for r in ordered]


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def to_xlsx(rows: list[list[str]], path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Deelnemers"
    ws.append(COLUMNS)
    for row in rows:
        ws.append([neutralise(c) for c in row])
    wb.save(path)
