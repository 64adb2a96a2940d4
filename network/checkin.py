"""Who came: `pioniers checkin DATE EMAIL... | --from FILE` records registrations.attended_at; stats count those
where any check-in was recorded for a meeting (network/stats.py).

A file is a text file with one address per line, or a CSV / XLSX with an address column (the sign-in sheet
from `pioniers checkin DATE --sheet`, with its hidden address column): when it has a "present" column
("Aanwezig"), only the rows ticked there count.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from db.app import App
from db.models import Person, Registration
from db.states import RegistrationStatus
from network.exports import restore
from network.meetings import UserError, _require

_ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"']+")
_EMAIL_HEADER = re.compile(r"e-?mail|mailadres|address|adres", re.I)
_PRESENT_HEADER = re.compile(r"aanwezig|present|attended|gekomen|came", re.I)


@dataclass
class CheckinReport:
    recorded: list[str] = field(default_factory=list)  # now marked as come (or, with undo, as not come)
    already: list[str] = field(default_factory=list)  # it was so already
    unknown: list[str] = field(default_factory=list)  # not registered for this meeting, or not an address
    not_confirmed: list[str] = field(default_factory=list)  # recorded, though waiting or cancelled


def check_in(app: App, day: dt.date, addresses: list[str], *, undo: bool = False) -> CheckinReport:
    """Mark these addresses' registrations for the meeting on day as come (undo: as not come). Each address
    stands alone: an unknown one is reported, the others are recorded."""
    report = CheckinReport()
    wanted: dict[str, str] = {}
    for text in addresses:
        email = text.strip().strip("<>").lower()
        if _ADDRESS.fullmatch(email):
            wanted.setdefault(email, text)
        elif text.strip():
            report.unknown.append(text.strip())
    with app.sm.begin() as session:
        meeting = _require(session, day)
        regs = {person.email: reg for reg, person in session.execute(
            select(Registration, Person).join(Person, Person.id == Registration.person_id)
            .where(Registration.meeting_id == meeting.id, Person.email.in_(list(wanted))))}
        for email in wanted:
            reg = regs.get(email)
            if reg is None:
                report.unknown.append(email)
            elif (reg.attended_at is None) == undo:
                report.already.append(email)
            else:
                reg.attended_at = None if undo else app.now()
                report.recorded.append(email)
                if not undo and reg.status != RegistrationStatus.CONFIRMED:
                    report.not_confirmed.append(f"{email} ({reg.status})")
    return report


def read_addresses(path: Path) -> list[str]:
    """The addresses in a file (see the module's docstring); a file that cannot be read is one line."""
    try:
        if path.suffix.lower() == ".xlsx":
            return _from_rows(_xlsx_rows(path), path)
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    first = text.lstrip().partition("\n")[0]
    if path.suffix.lower() == ".csv" or ";" in first or "," in first:
        delimiter = ";" if first.count(";") >= first.count(",") and ";" in first else ","
        return _from_rows([[restore(c) for c in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)],
                          path)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a missing file, or no .xlsx: zipfile.BadZipFile, KeyError, ...
        raise UserError(f"cannot read {path} as an Excel file: {exc}") from None
    try:
        ws = wb.active
        if ws is None:
            return []
        return [["" if c is None else str(c) for c in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _from_rows(rows: list[list[str]], path: Path) -> list[str]:
    """The address column (by its header, else the column holding addresses); rows ticked in a present
    column only, when there is one."""
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = rows[0]
    email_col = next((i for i, h in enumerate(header) if _EMAIL_HEADER.search(h) and not _ADDRESS.search(h)), None)
    body = rows[1:]
    if email_col is None:  # no header: the first column that holds an address
        email_col = next((i for row in rows for i, c in enumerate(row) if _ADDRESS.fullmatch(c.strip())), None)
        body = rows
        if email_col is None:
            raise UserError(f"{path} has no column of email addresses")
    present = next((i for i, h in enumerate(header) if _PRESENT_HEADER.search(h)), None)
    out = []
    for row in body:
        cell = row[email_col].strip() if email_col < len(row) else ""
        if not cell:
            continue
        if present is not None and body is not rows and not (present < len(row) and row[present].strip()):
            continue
        out.append(cell)
    return out
