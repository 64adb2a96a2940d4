"""Attendee and member lists. For people: .xlsx and Excel-CSV (";" and a BOM, as Dutch Excel opens it) with the
network's language in headers and values. For scripts: the machine CSV (fixed English columns and values)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config
from base.errors import PioniersError
from db.app import App
from db.models import Meeting, Member, Registration
from db.states import MemberStatus, RegistrationStatus
from network.meetings import _require
from network.profiles import role_label

COLUMNS = ["name", "organisation", "email", "status", "registered_at", "partstat", "role", "note"]  # for people
# For scripts (attendees --csv): the columns as they always were; needs (maybe health data) only in files for people
MACHINE_COLUMNS = COLUMNS[:7]
_STATUS_ORDER: dict[str, int] = {
    RegistrationStatus.CONFIRMED: 0, RegistrationStatus.WAITLISTED: 1, RegistrationStatus.CANCELLED: 2}


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
        return [[r.person.name, r.person.organisation, r.person.email, r.status,
                 r.registered_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M"), r.partstat,
                 role_label(app.cfg, r.person.role) if r.person.role else ""]
                for r in _in_list_order(session, meeting)]


def _in_list_order(session: Session, meeting: Meeting, *statuses: str) -> list[Registration]:
    """A meeting's registrations (of these statuses; none named: all) as every list shows them: registered
    first, then the waiting list in its order, then the cancelled; within each, by time of registering."""
    query = select(Registration).where(Registration.meeting_id == meeting.id)
    if statuses:
        query = query.where(Registration.status.in_(statuses))
    regs = session.scalars(query.order_by(Registration.registered_at, Registration.id))
    return sorted(regs, key=lambda r: _STATUS_ORDER.get(r.status, 3))


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MACHINE_COLUMNS)
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


# -- lists made for people ------------------------------------------------------------------------------------------

Cell = str | int | dt.datetime | dt.date
_WORDS = {
    "nl": {"name": "Naam", "organisation": "Organisatie", "email": "E-mailadres", "status": "Status",
           "registered_at": "Aangemeld op", "partstat": "Antwoord in agenda", "role": "Rol",
           "note": "Wensen (dieet, toegankelijkheid)", "since": "Lid sinds",
           "confirmed": "aangemeld", "waitlisted": "wachtlijst", "cancelled": "afgemeld",
           "ACCEPTED": "geaccepteerd", "TENTATIVE": "onder voorbehoud", "DECLINED": "afgeslagen",
           "NEEDS-ACTION": "nog geen antwoord", "attendees": "Deelnemers", "members": "Leden",
           "signature": "Handtekening", "present": "Aanwezig", "sign_in": "Presentielijst"},
    "en": {"name": "Name", "organisation": "Organisation", "email": "Email address", "status": "Status",
           "registered_at": "Registered at", "partstat": "Calendar answer", "role": "Role",
           "note": "Needs (diet, access)", "since": "Member since",
           "confirmed": "registered", "waitlisted": "waiting list", "cancelled": "cancelled",
           "ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined",
           "NEEDS-ACTION": "no answer yet", "attendees": "Attendees", "members": "Members",
           "signature": "Signature", "present": "Present", "sign_in": "Sign-in"},
}


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: list[str]
    rows: list[list[Cell]]


def attendee_sheet(app: App, day: dt.date) -> Sheet:
    """The attendees in waiting-list order, in the network's language, dates as dates."""
    with app.sm.begin() as session:
        return attendee_sheet_in(session, app, day)


def attendee_sheet_in(session: Session, app: App, day: dt.date) -> Sheet:
    """attendee_sheet inside the caller's transaction (the desk's reply is made while a message is handled)."""
    words = _WORDS[app.cfg.network.language]
    meeting = _require(session, day, lock=False)
    rows: list[list[Cell]] = [
        [r.person.name, r.person.organisation, r.person.email, words.get(r.status, r.status),
         _local(app, r.registered_at), words.get(r.partstat, r.partstat),
         role_label(app.cfg, r.person.role) if r.person.role else "", r.note]
        for r in _in_list_order(session, meeting)]
    return Sheet(f"{words['attendees']} {day.isoformat()}", [words[c] for c in COLUMNS], rows)


def host_sheet(session: Session, cfg: Config, meeting: Meeting) -> Sheet:
    """The host's list (network/hostlist.py): who comes, then the waiting list in its order, with the needs
    people wrote (possibly health data: this list and the organiser's own exports only). No addresses: the
    host needs none."""
    words = _WORDS[cfg.network.language]
    rows: list[list[Cell]] = [
        [r.person.name, r.person.organisation, role_label(cfg, r.person.role) if r.person.role else "",
         words.get(r.status, r.status), r.note]
        for r in _in_list_order(session, meeting, RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)]
    return Sheet(f"{words['attendees']} {meeting.date.isoformat()}",
                 [words[c] for c in ("name", "organisation", "role", "status", "note")], rows)


SIGN_IN_BLANK = 5  # empty rows at the end, for who comes unannounced


def sign_in_sheet(app: App, day: dt.date) -> Sheet:
    """The sign-in list to print: the confirmed by name, an empty signature column and a column to tick.
    The address column is for `pioniers checkin --from` and is hidden and never printed."""
    words = _WORDS[app.cfg.network.language]
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        regs = session.scalars(select(Registration).where(Registration.meeting_id == meeting.id,
                                                          Registration.status == RegistrationStatus.CONFIRMED))
        people = sorted((r.person for r in regs), key=lambda p: (p.name.casefold() or "\uffff", p.email))
        rows: list[list[Cell]] = [[p.name, p.organisation, "", "", p.email] for p in people]
    rows += [["", "", "", "", ""] for _ in range(SIGN_IN_BLANK)]
    return Sheet(f"{words['sign_in']} {day.isoformat()}",
                 [words[c] for c in ("name", "organisation", "signature", "present", "email")], rows)


def write_sign_in(sheet: Sheet, path: Path, heading: str) -> None:
    """The sign-in sheet, set up for paper: landscape, one page wide, the header row on every page, gridlines,
    rows high enough to sign in, the heading on top of each page; the address column hidden and not printed."""
    from openpyxl.utils import get_column_letter

    wb = _workbook(sheet)
    ws = wb.active
    last = get_column_letter(len(sheet.columns) - 1)  # the address column is the last one
    for col, width in (("A", 32), ("B", 32), ("C", 40), ("D", 12)):
        ws.column_dimensions[col].width = width
    ws.column_dimensions[get_column_letter(len(sheet.columns))].hidden = True
    for row in range(2, len(sheet.rows) + 2):
        ws.row_dimensions[row].height = 30
    ws.auto_filter.ref = None  # no filter buttons on paper
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as it takes
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_area = f"A1:{last}{len(sheet.rows) + 1}"
    ws.print_options.gridLines = True
    ws.oddHeader.center.text = heading.replace("&", "&&")  # & starts a code in Excel's page header
    ws.oddFooter.right.text = "&P / &N"  # page x of n
    save(path, wb.save)


def member_sheet(app: App) -> Sheet:
    """The active members, by address."""
    words = _WORDS[app.cfg.network.language]
    with app.sm.begin() as session:
        rows: list[list[Cell]] = [
            [m.email, m.name, _local(app, m.created_at)] for m in
            session.scalars(select(Member).where(Member.status == MemberStatus.ACTIVE).order_by(Member.email))]
    return Sheet(words["members"], [words["email"], words["name"], words["since"]], rows)


def _local(app: App, moment: dt.datetime) -> dt.datetime:
    """A moment as the organiser's clock shows it; spreadsheets know no time zones."""
    return moment.astimezone(app.tz).replace(tzinfo=None, microsecond=0)


def _text(cell: Cell) -> str:
    if isinstance(cell, dt.datetime):
        return cell.strftime("%d-%m-%Y %H:%M")
    if isinstance(cell, dt.date):
        return cell.strftime("%d-%m-%Y")
    return neutralise(str(cell))


def to_excel_csv(sheet: Sheet) -> bytes:
    """What Dutch Excel opens by double-click: ";" between cells, a BOM so that "ë" stays "ë", dd-mm-yyyy."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(sheet.columns)
    for row in sheet.rows:
        writer.writerow([_text(c) for c in row])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(sheet: Sheet) -> bytes:
    """The sheet as an Excel file in memory: for a mail attachment (write_xlsx's workbook)."""
    out = io.BytesIO()
    _workbook(sheet).save(out)
    return out.getvalue()


def write_xlsx(sheet: Sheet, path: Path) -> None:
    save(path, _workbook(sheet).save)


def _workbook(sheet: Sheet) -> Any:
    """A bold, frozen header with a filter, columns as wide as their content, real dates."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has its first sheet
    ws.title = sheet.title[:31]  # Excel's limit for a sheet name
    ws.append(sheet.columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        ws.append([c if isinstance(c, (dt.date, int)) else neutralise(c) for c in row])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for i, name in enumerate(sheet.columns, start=1):
        values = [name, *(_text(r[i - 1]) for r in sheet.rows)]
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(v) for v in values) + 2, 60)
        for row_cells in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            for cell in row_cells:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "dd-mm-yyyy hh:mm"
                elif isinstance(cell.value, dt.date):
                    cell.number_format = "dd-mm-yyyy"
    return wb


def write_sheet(sheet: Sheet, xlsx: str | None, excel_csv: str | None) -> str:
    """The sheet as the file a person asked for (--xlsx FILE or --excel-csv FILE); the file's name."""
    if xlsx:
        write_xlsx(sheet, Path(xlsx))
        return xlsx
    assert excel_csv  # the command line asks for one of the two
    data = to_excel_csv(sheet)
    save(Path(excel_csv), lambda path: path.write_bytes(data))
    return excel_csv


def save(path: Path, write: Callable[[Path], object]) -> None:
    """Write a file a person asked for; a folder that is not there or not writable is their one-line mistake."""
    try:
        write(path)
    except OSError as exc:
        raise PioniersError(f"cannot write {path}: {exc.strerror or exc}") from None
