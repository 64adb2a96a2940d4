"""The network's history in a spreadsheet, read: rows in, typed past meetings out (`pioniers meeting import`).

One row per attendee, or per meeting without attendees. Headers in English or Dutch, case and spaces ignored;
CSV with "," or ";" (Dutch Excel), with or without a BOM, UTF-8 or Windows-1252 (Excel's plain "CSV"), or XLSX.
Nothing here touches the database: network/history_import.py stores what this returns.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from network.exports import restore
from network.meetings import UserError

# normalised header (lower case, no spaces, "-" or "_") -> column
HEADERS = {
    "date": "date", "datum": "date",
    "host": "host", "gastgemeente": "host", "gastheer": "host", "gastvrouw": "host", "gastorganisatie": "host",
    "location": "location", "locatie": "location",
    "theme": "theme", "thema": "theme",
    "start": "start", "begin": "start", "starttijd": "start", "begintijd": "start", "aanvang": "start",
    "end": "end", "eind": "end", "einde": "end", "eindtijd": "end",
    "email": "email", "emailadres": "email", "mail": "email",
    "name": "name", "naam": "name",
    "organisation": "organisation", "organization": "organisation", "organisatie": "organisation",
}
MEETING_FIELDS = ("host", "location", "theme", "start", "end")
DEFAULT_START, DEFAULT_HOURS = "14:00", 3  # the network's usual afternoon, when the file gives no times

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")

Cell = str | int | float | dt.datetime | dt.date | dt.time | None


@dataclass(frozen=True)
class Attendee:
    row: int
    email: str
    name: str
    organisation: str


@dataclass
class PastMeeting:
    date: dt.date
    row: int  # its first row
    host: str = ""
    location: str = ""
    theme: str = ""
    start: str = ""  # "HH:MM", "" when the file does not say
    end: str = ""
    attendees: list[Attendee] = field(default_factory=list)

    def times(self) -> tuple[str, str]:
        """(start, end) to store: the file's, else the usual afternoon; an end DEFAULT_HOURS after the start."""
        start = self.start or DEFAULT_START
        if self.end and self.end > start:
            return start, self.end
        hour, minute = (int(x) for x in start.split(":"))
        return start, f"{min(hour + DEFAULT_HOURS, 23):02d}:{minute:02d}"


@dataclass(frozen=True)
class Skipped:
    row: int
    why: str


@dataclass
class History:
    meetings: list[PastMeeting]
    skipped: list[Skipped]
    notes: list[str]  # rows of one meeting that disagree: the first value is kept, and said
    unread: list[str] = field(default_factory=list)  # headers of columns this does not read

    @property
    def rows(self) -> int:
        return sum(len(m.attendees) for m in self.meetings)


def read_file(path: Path) -> list[tuple[int, list[Cell]]]:
    """The file's rows with their numbers as Excel shows them (the header is row 1)."""
    if not path.is_file():
        raise UserError(f"cannot read {path}: no such file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if data.startswith(b"PK\x03\x04"):
        raise UserError(f"{path} is an Excel workbook: name it .xlsx, or save it as CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's plain "CSV" on Windows
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0] if lines else ""
    delimiter = max((";", ",", "\t"), key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # line_num: the file's line, which is Excel's row number (also past blank lines) unless a value holds a line break
    return [(reader.line_num, list(row)) for row in reader]


def _read_xlsx(path: Path) -> list[tuple[int, list[Cell]]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise UserError(f"cannot read {path} as an Excel workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        return [(number, list(row)) for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return restore(" ".join(str(value).split()))


def parse_date(value: Cell) -> dt.date:
    """2018-09-18, 18-09-2018, 18-9-2018 (also with / or .), or a real Excel date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 2958466:
        from openpyxl.utils.datetime import from_excel

        day = from_excel(value)  # a date cell without a date format: Excel's day number
        if isinstance(day, dt.datetime):
            return day.date()
    text = _text(value)
    try:
        if m := _ISO.match(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DAY_FIRST.match(text):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (write 2018-09-18 or 18-09-2018)" if text else "no date")


def parse_time(value: Cell) -> str:
    """14:00, 14.00, 14.00 uur, 14:00:00, or a real Excel time; '' for an empty cell."""
    if value is None or value == "":
        return ""
    if isinstance(value, (dt.datetime, dt.time)):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, float) and 0 <= value < 1:  # a time cell without a time format: part of a day
        minutes = round(value * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    text = _text(value).lower().removesuffix("uur").removesuffix("u").strip()
    m = re.match(r"^(\d{1,2})(?:[:.](\d{2}))?(?::\d{2})?$", text)
    if m is None or int(m[1]) > 23 or int(m[2] or 0) > 59:
        raise ValueError(f"{_text(value)!r} is not a time (write 14:00)")
    return f"{int(m[1]):02d}:{int(m[2] or 0):02d}"


def _columns(header: list[Cell], source: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for index, cell in enumerate(header):
        key = re.sub(r"[\s_-]", "", _text(cell).casefold())
        column = HEADERS.get(key)
        if column is not None and column not in found.values():
            found[index] = column
    if "date" not in found.values():
        shown = ", ".join(_text(c) for c in header if _text(c)) or "nothing"
        raise UserError(f"{source}: no date column in the first row (found: {shown}); "
                        "name one 'date' or 'datum'")
    return found


def parse(rows: list[tuple[int, list[Cell]]], source: str, today: dt.date) -> History:
    """Rows (the first with content is the header) into past meetings, grouped by date, oldest first.
    A bad date or time, or a date not in the past, is an error naming the row; a row that cannot be an attendee
    (no or a bad address, listed twice) is skipped and said."""
    filled = [(number, row) for number, row in rows if any(_text(c) for c in row)]
    if not filled:
        raise UserError(f"{source}: the file is empty")
    (_, header), body = filled[0], filled[1:]
    columns = _columns(header, source)
    unread = [_text(c) for i, c in enumerate(header) if i not in columns and _text(c)]
    meetings: dict[dt.date, PastMeeting] = {}
    given_on: dict[tuple[dt.date, str], int] = {}  # the row a meeting's field came from
    first_row: dict[tuple[dt.date, str], int] = {}
    skipped: list[Skipped] = []
    notes: list[str] = []
    for number, row in body:
        cells = {column: row[i] if i < len(row) else None for i, column in columns.items()}
        if not any(_text(v) for v in cells.values()):
            continue  # content only in columns we do not read
        try:
            day = parse_date(cells.get("date"))
            times = {k: parse_time(cells.get(k)) for k in ("start", "end")}
        except ValueError as exc:
            raise UserError(f"{source} row {number}: {exc}; nothing was imported") from None
        if times["start"] and times["end"] and times["end"] <= times["start"]:
            raise UserError(f"{source} row {number}: the end {times['end']} is not after the start "
                            f"{times['start']}; nothing was imported")
        if day > today:
            raise UserError(f"{source} row {number}: {day} has not taken place yet (add planned meetings with "
                            "'pioniers meeting add'); nothing was imported")
        meeting = meetings.setdefault(day, PastMeeting(day, number))
        values = {"host": _text(cells.get("host")), "location": _text(cells.get("location")),
                  "theme": _text(cells.get("theme")), **times}
        for name, value in values.items():
            kept = getattr(meeting, name)
            if value and not kept:
                setattr(meeting, name, value)
                given_on[day, name] = number
            elif value and value != kept:
                notes.append(f"row {number}: {name} {value!r} for {day} differs from row {given_on[day, name]}; "
                             f"kept {kept!r}")
        email = _text(cells.get("email")).lower()
        name, organisation = _text(cells.get("name")), _text(cells.get("organisation"))
        if not email:
            if name or organisation:
                skipped.append(Skipped(number, "no e-mail address"))
            continue  # a meeting's own row
        if not _ADDRESS.match(email):
            skipped.append(Skipped(number, f"{email!r} is not an e-mail address"))
            continue
        if (day, email) in first_row:
            skipped.append(Skipped(number, f"listed before for {day} (row {first_row[day, email]})"))
            continue
        first_row[day, email] = number
        meeting.attendees.append(Attendee(number, email, name, organisation))
    return History(sorted(meetings.values(), key=lambda m: m.date), skipped, notes, unread)
