"""iCalendar (RFC 5545 / iTIP RFC 5546) invites and reply parsing.

Invites are built so that Outlook, Gmail and Apple Mail render them as a
meeting: METHOD + ORGANIZER + ATTENDEE, a VTIMEZONE expressed as RRULEs and
a stable UID whose SEQUENCE grows on updates and cancellations.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import re
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar
from icalendar.parser import param_value

__all__ = ["ItipReply", "build_invite", "parse_itip", "vtimezone"]

PRODID = "-//Pioniersnetwerk Open Overheid//pioniers//NL"
ALARM_BEFORE = datetime.timedelta(minutes=30)

_UTC = datetime.timezone.utc
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DEFAULT_STATUS = {"REQUEST": "CONFIRMED", "CANCEL": "CANCELLED"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --------------------------------------------------------------------------
# VTIMEZONE
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Transition:
    local: datetime.datetime  # wall time just before the switch, in offset_from
    offset_from: datetime.timedelta
    offset_to: datetime.timedelta
    name: str | None


def _offset(tz: ZoneInfo, instant: datetime.datetime) -> datetime.timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # ZoneInfo always knows its offset
    return offset


@functools.lru_cache(maxsize=64)  # a day-by-day scan of a year: the same for every invite
def _transitions(tz: ZoneInfo, year: int) -> list[_Transition]:
    """Offset changes during `year`, found by daily scan + bisection.

    zoneinfo has no public transition list, so probe it; two transitions
    less than a day apart do not occur in real zones.
    """
    found: list[_Transition] = []
    lo = datetime.datetime(year, 1, 1, tzinfo=_UTC) - datetime.timedelta(hours=14)
    stop = datetime.datetime(year + 1, 1, 1, tzinfo=_UTC) + datetime.timedelta(hours=14)
    lo_off = _offset(tz, lo)
    while lo < stop:
        hi = lo + datetime.timedelta(days=1)
        hi_off = _offset(tz, hi)
        if hi_off != lo_off:
            a, b = lo, hi  # invariant: offset(a) == lo_off != offset(b)
            while b - a > datetime.timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                if _offset(tz, mid) == lo_off:
                    a = mid
                else:
                    b = mid
            local = (b + lo_off).replace(tzinfo=None)
            if local.year == year:
                found.append(_Transition(local, lo_off, hi_off, b.astimezone(tz).tzname()))
        lo, lo_off = hi, hi_off
    return found


def _byday(day: datetime.date) -> str:
    """RRULE BYDAY for `day`: prefer 'last <weekday>' (-1SU) when it is."""
    weekday = _WEEKDAYS[day.weekday()]
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    if day.day + 7 > days_in_month:
        return f"-1{weekday}"
    return f"{(day.day - 1) // 7 + 1}{weekday}"


def _first_match(year: int, month: int, byday: str) -> datetime.date:
    """The date in `year` that matches BYMONTH=month;BYDAY=byday."""
    ordinal, weekday = int(byday[:-2]), _WEEKDAYS.index(byday[-2:])
    days = [
        datetime.date(year, month, d)
        for d in range(1, calendar.monthrange(year, month)[1] + 1)
        if datetime.date(year, month, d).weekday() == weekday
    ]
    return days[ordinal - 1] if ordinal > 0 else days[ordinal]


def _observance(
    kind: type[icalendar.TimezoneStandard] | type[icalendar.TimezoneDaylight],
    tr: _Transition,
) -> icalendar.Component:
    byday = _byday(tr.local.date())
    # DTSTART in 1970 (as tzurl.org does) so that every event date falls
    # after the first onset; the RRULE carries the actual rule.
    first = _first_match(1970, tr.local.month, byday)
    comp = kind()
    comp.add("dtstart", datetime.datetime.combine(first, tr.local.time()))
    comp.add("tzoffsetfrom", tr.offset_from)
    comp.add("tzoffsetto", tr.offset_to)
    if tr.name:
        comp.add("tzname", tr.name)
    comp.add("rrule", {"freq": "yearly", "bymonth": tr.local.month, "byday": byday})
    return comp


def vtimezone(tzid: str, year: int) -> icalendar.Timezone:
    """VTIMEZONE for `tzid` as RRULE observances, derived from `year`.

    Why by hand: icalendar's add_missing_timezones()/from_tzinfo emit RDATE
    lists, which Outlook shifts by an hour.
    """
    tz = ZoneInfo(tzid)
    tzc = icalendar.Timezone()
    tzc.add("tzid", tzid)
    transitions = _transitions(tz, year)
    forward = [t for t in transitions if t.offset_to > t.offset_from]
    back = [t for t in transitions if t.offset_to < t.offset_from]
    if forward and back:
        # Classify by direction, not by dst(): tzdata has negative DST
        # (Europe/Dublin), and clients expect DAYLIGHT = the larger offset.
        tzc.add_component(_observance(icalendar.TimezoneDaylight, forward[0]))
        tzc.add_component(_observance(icalendar.TimezoneStandard, back[0]))
        return tzc
    # No DST (or a one-off change of base offset): one fixed STANDARD with
    # the offset that holds at the end of the year.
    end = datetime.datetime(year, 12, 31, 12, tzinfo=_UTC)
    offset = _offset(tz, end)
    std = icalendar.TimezoneStandard()
    std.add("dtstart", datetime.datetime(1970, 1, 1))
    std.add("tzoffsetfrom", offset)
    std.add("tzoffsetto", offset)
    name = end.astimezone(tz).tzname()
    if name:
        std.add("tzname", name)
    tzc.add_component(std)
    return tzc


# --------------------------------------------------------------------------
# Invites
# --------------------------------------------------------------------------

def _safe_cn(name: str) -> str:
    """CN parameter value every client reads back verbatim.

    icalendar quotes , ; : itself, but encodes '"' as RFC 6868 ^' which
    Outlook and vobject show literally; control chars cannot be quoted.
    """
    return _CONTROL.sub(" ", name).replace('"', "'").strip()


def _address(email: str, name: str, **params: str) -> icalendar.vCalAddress:
    addr = icalendar.vCalAddress(f"mailto:{email.strip()}")
    cn = _safe_cn(name)
    if cn:
        addr.params["CN"] = cn
    for key, value in params.items():
        addr.params[key.replace("_", "-").upper()] = value
    return addr


def _wall_time(value: datetime.datetime, tz: ZoneInfo) -> datetime.datetime:
    """Naive wall time in `tz`; aware input is converted rather than rejected."""
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value.replace(microsecond=0)


_PLACEHOLDER = "attendee@placeholder.invalid"
_PLACEHOLDER_STAMP = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


class Event(NamedTuple):
    """What every invite of a meeting version shares (all but the attendee and DTSTAMP): the key of its
    cached template (a tuple: hashed and compared at C speed, once per invite)."""
    method: str
    uid: str
    sequence: int
    start: datetime.datetime
    end: datetime.datetime
    tzid: str
    summary: str
    location: str
    description: str
    organizer_email: str
    organizer_name: str
    status: str | None = None


def build_invite(event: Event, *, attendee_email: str, attendee_name: str, stamp: datetime.datetime) -> bytes:
    """A complete VCALENDAR (PRODID, VERSION 2.0, METHOD) with one VTIMEZONE
    and one VEVENT, CRLF line endings, folded."""
    if stamp.tzinfo is None:
        raise ValueError("stamp must be timezone-aware")
    method = event.method.upper()
    # Everything but the attendee and DTSTAMP is the same for every invite of a meeting version: built once,
    # then those two lines filled in.
    template = _invite_template(event if method == event.method else event._replace(method=method))
    stamp = stamp.astimezone(_UTC).replace(microsecond=0)
    return template.replace(_stamp_line(_PLACEHOLDER_STAMP), _stamp_line(stamp), 1).replace(
        b"\r\n" + _attendee_line(method, _PLACEHOLDER, ""),
        b"\r\n" + _attendee_line(method, attendee_email, attendee_name), 1)


def _attendee(method: str, email: str, name: str) -> icalendar.vCalAddress:
    if method == "REQUEST":
        return _address(email, name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE")
    return _address(email, name, role="REQ-PARTICIPANT")


# What _attendee() adds besides CN, as Parameters.to_ical(sorted=True) writes it (CN sorts first).
_ATTENDEE_PARAMS = {"REQUEST": "PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE"}


@functools.lru_cache(maxsize=1024)  # the placeholder's line is looked up for every invite
def _attendee_line(method: str, email: str, name: str) -> bytes:
    """The folded ATTENDEE content line, exactly as Event.to_ical writes _attendee(method, email, name).

    Why by hand: a vCalAddress + Contentline per attendee (and icalendar's char-by-char folding) was the
    largest cost of a confirmation; icalendar's own param_value still does the CN escaping and quoting.
    tests/test_mail_bytes.py checks it against icalendar for awkward names.
    """
    value = f"mailto:{email.strip()}"
    if "\r" in value or "\n" in value:  # as vCalAddress refuses them
        raise ValueError(f"A CAL-ADDRESS value may not contain CR or LF characters: {value!r}")
    params = _ATTENDEE_PARAMS.get(method, "ROLE=REQ-PARTICIPANT")
    cn = _safe_cn(name)
    if cn:
        quote = " " in cn or "'" in cn  # Parameters.quote_also: such a CN is always quoted
        params = f"CN={param_value(cn, always_quote=quote)};{params}"
    return _fold(f"ATTENDEE;{params}:{value}".encode()) + b"\r\n"


def _fold(line: bytes) -> bytes:
    """RFC 5545 folding exactly as icalendar's Contentline.to_ical does it: at most 74 octets a line, never
    inside a UTF-8 character, never right after a backslash or caret (icalendar issue #1501).

    Why by hand: icalendar folds in Python one character at a time, which costs more than the whole rest
    of an attendee's invite.
    """
    if len(line) <= 74:
        return line
    out: list[bytes] = []
    start, size = 0, len(line)
    while size - start > 74:
        end = start + 74
        while line[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: break before its character
            end -= 1
        if line[end - 1] in b"\\^" and end - 1 > start:  # keep an escape with the character it escapes
            end -= 1
        out.append(line[start:end])
        start = end
    out.append(line[start:])
    return b"\r\n ".join(out)


@functools.lru_cache(maxsize=64)  # vDatetime.to_ical costs more than the rest of a cached invite
def _stamp_line(stamp: datetime.datetime) -> bytes:
    """The DTSTAMP content line of a UTC stamp, as Event.to_ical writes it."""
    return b"\r\nDTSTAMP:" + icalendar.vDatetime(stamp).to_ical() + b"\r\n"


@functools.lru_cache(maxsize=256)
def _invite_template(ev: Event) -> bytes:
    method, start, end, tzid = ev.method, ev.start, ev.end, ev.tzid
    attendee_email, attendee_name, stamp = _PLACEHOLDER, "", _PLACEHOLDER_STAMP
    if method not in _DEFAULT_STATUS:
        raise ValueError(f"unsupported iTIP method: {method!r}")
    tz = ZoneInfo(tzid)
    start, end = _wall_time(start, tz), _wall_time(end, tz)
    if end <= start:
        raise ValueError("end must be after start")

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add_component(vtimezone(tzid, start.year))

    event = icalendar.Event()
    event.add("uid", ev.uid)
    event.add("sequence", ev.sequence)
    event.add("dtstamp", stamp.astimezone(_UTC))
    # Naive value + explicit TZID: ties DTSTART to our own VTIMEZONE and
    # keeps icalendar from inventing one.
    event.add("dtstart", start, parameters={"TZID": tzid})
    event.add("dtend", end, parameters={"TZID": tzid})
    event.add("summary", ev.summary)
    event.add("location", ev.location)
    event.add("description", ev.description)
    event.add("status", (ev.status or _DEFAULT_STATUS[method]).upper())
    event.add("transp", "OPAQUE")
    event.add("class", "PUBLIC")
    event.add("organizer", _address(ev.organizer_email, ev.organizer_name))
    event.add("attendee", _attendee(method, attendee_email, attendee_name))
    # Outlook ignores TRANSP and reads its own busy status; Exchange sends
    # FREE on cancellations.
    event.add("x-microsoft-cdo-busystatus", "BUSY" if method == "REQUEST" else "FREE")

    if method == "REQUEST":
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", ev.summary)  # DISPLAY alarms require one
        alarm.add("trigger", -ALARM_BEFORE)
        event.add_component(alarm)

    cal.add_component(event)
    data: bytes = cal.to_ical()
    for line in (_stamp_line(stamp), b"\r\n" + _attendee_line(method, attendee_email, attendee_name)):
        if data.count(line) != 1:  # build_invite fills these lines in: each must be there exactly once
            raise AssertionError(f"invite template without a single {line!r}")
    return data


# --------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ItipReply:
    uid: str
    attendee_email: str  # lowercased, without mailto:
    partstat: str  # ACCEPTED / TENTATIVE / DECLINED / ...
    sequence: int


def _strip_mailto(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:"):]
    return value.strip().lower()


def _event_replies(event: icalendar.Component) -> list[ItipReply]:
    uid = str(event.get("uid", "")).strip()
    try:
        sequence = int(str(event.get("sequence", 0)).strip())
    except ValueError:
        sequence = 0
    attendees = event.get("attendee", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    replies = []
    for att in attendees:
        email = _strip_mailto(str(att))
        if not email:
            continue
        params = getattr(att, "params", {})
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).strip().upper()
        replies.append(ItipReply(uid, email, partstat, sequence))
    return replies


def parse_itip(data: bytes | str) -> tuple[str, list[ItipReply]]:
    """(METHOD, replies) of a text/calendar part; method uppercase ('' if
    absent). Never raises on junk: returns ('', []).

    Attendees of every VEVENT are returned whatever the method; the caller
    decides what a REQUEST or REPLY means.
    """
    try:
        if isinstance(data, bytes):
            # Calendar parts are UTF-8 by RFC; a stray Latin-1 byte must not
            # lose the whole reply.
            data = data.decode("utf-8", errors="replace")
        cals = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception:  # icalendar raises assorted errors on junk
        return "", []
    method = ""
    replies: list[ItipReply] = []
    for cal in cals:
        if cal.name != "VCALENDAR":
            continue
        try:
            if not method:
                method = str(cal.get("method", "")).strip().upper()
            for event in cal.walk("VEVENT"):
                replies.extend(_event_replies(event))
        except Exception:  # a broken component should not hide the others
            continue
    return method, replies
