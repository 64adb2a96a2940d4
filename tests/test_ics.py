"""Tests for mailer.ics: invites are re-read with vobject/dateutil, an
independent parser, so we never only test icalendar against itself."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
import vobject
from dateutil import tz as dateutil_tz

from mailer.ics import Event, ItipReply, build_invite, parse_itip, vtimezone

UTC = datetime.timezone.utc
STAMP = datetime.datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # fixed clock
UID = "2027q1-8f3a@pioniers.open-overheid.nl"

SUMMARY = "Pioniersbijeenkomst Q1: café & ëxtra"
DESCRIPTION = "Beste pionier,\n\nWe zien je graag; ook in één Kamer, gezellig.\nTot dan!"


def invite(**overrides: Any) -> bytes:
    kwargs: dict[str, Any] = dict(
        method="REQUEST",
        uid=UID,
        sequence=0,
        start=datetime.datetime(2027, 3, 18, 14, 0),
        end=datetime.datetime(2027, 3, 18, 17, 0),
        tzid="Europe/Amsterdam",
        summary=SUMMARY,
        location="Ministerie van BZK, Turfmarkt 147, Den Haag",
        description=DESCRIPTION,
        organizer_email="pioniers@open-overheid.nl",
        organizer_name="Pioniersnetwerk Open Overheid",
        attendee_email="Jan@Schiedam.nl",
        attendee_name="Jansen, Jan (Gemeente Schiedam)",
        stamp=STAMP,
    )
    kwargs.update(overrides)
    person = {k: kwargs.pop(k) for k in ("attendee_email", "attendee_name", "stamp")}
    return build_invite(Event(**kwargs), **person)


def read(data: bytes) -> Any:
    return vobject.readOne(data.decode("utf-8"))


def utc_instant(cal: Any, prop: str) -> datetime.datetime:
    """UTC instant of DTSTART/DTEND, resolving TZID via the calendar's own
    VTIMEZONE with a fresh dateutil tzical (vobject caches TZIDs globally,
    which would mask a wrong VTIMEZONE)."""
    line = getattr(cal.vevent, prop)
    tzid = line.params.get("X-VOBJ-ORIGINAL-TZID", line.params.get("TZID"))[0]
    zone = dateutil_tz.tzical(io.StringIO(cal.vtimezone.serialize())).get(tzid)
    assert zone is not None
    wall = line.value.replace(tzinfo=None)
    return wall.replace(tzinfo=zone).astimezone(UTC)


# --------------------------------------------------------------------------
# build_invite
# --------------------------------------------------------------------------

def test_request_core_fields() -> None:
    cal = read(invite())
    ev = cal.vevent
    assert cal.method.value == "REQUEST"
    assert cal.version.value == "2.0"
    assert cal.prodid.value
    assert ev.uid.value == UID
    assert ev.sequence.value == "0"
    assert ev.status.value == "CONFIRMED"
    assert ev.transp.value == "OPAQUE"
    assert ev.getChildValue("class") == "PUBLIC"
    assert ev.x_microsoft_cdo_busystatus.value == "BUSY"
    assert ev.dtstamp.value == STAMP
    assert len(cal.contents["vevent"]) == 1
    assert len(cal.contents["vtimezone"]) == 1


def test_request_organizer_and_attendee() -> None:
    ev = read(invite()).vevent
    assert ev.organizer.value.lower() == "mailto:pioniers@open-overheid.nl"
    assert ev.organizer.params["CN"] == ["Pioniersnetwerk Open Overheid"]
    assert len(ev.contents["attendee"]) == 1
    att = ev.attendee
    assert att.value.lower() == "mailto:jan@schiedam.nl"
    assert att.params["CN"] == ["Jansen, Jan (Gemeente Schiedam)"]
    assert att.params["ROLE"] == ["REQ-PARTICIPANT"]
    assert att.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert att.params["RSVP"] == ["TRUE"]


@pytest.mark.parametrize(
    "name",
    ['Vries, "Jan" de', "Jan; de Vries", "Dienst: ICT, Team A", "Eva\nvan Dijk"],
)
def test_awkward_cn_is_safe(name: str) -> None:
    ev = read(invite(attendee_name=name, organizer_name=name)).vevent
    expected = name.replace('"', "'").replace("\n", " ")
    assert ev.attendee.params["CN"] == [expected]
    assert ev.organizer.params["CN"] == [expected]
    assert ev.attendee.value.lower() == "mailto:jan@schiedam.nl"


def test_request_has_30_minute_display_alarm() -> None:
    ev = read(invite()).vevent
    alarm = ev.valarm
    assert alarm.action.value == "DISPLAY"
    assert alarm.trigger.value == -datetime.timedelta(minutes=30)
    assert alarm.description.value


@pytest.mark.parametrize(
    ("start", "end", "utc_start", "utc_end"),
    [
        # winter time, CET = UTC+1
        ((2027, 3, 18, 14), (2027, 3, 18, 17), (2027, 3, 18, 13), (2027, 3, 18, 16)),
        # summer time, CEST = UTC+2
        ((2027, 6, 17, 14), (2027, 6, 17, 17), (2027, 6, 17, 12), (2027, 6, 17, 15)),
        # the day DST starts (Sunday 28 March 2027)
        ((2027, 3, 28, 14), (2027, 3, 28, 17), (2027, 3, 28, 12), (2027, 3, 28, 15)),
        # the day DST ends (Sunday 31 October 2027)
        ((2027, 10, 31, 14), (2027, 10, 31, 17), (2027, 10, 31, 13), (2027, 10, 31, 16)),
        # the days right before both switches
        ((2027, 3, 27, 14), (2027, 3, 27, 17), (2027, 3, 27, 13), (2027, 3, 27, 16)),
        ((2027, 10, 30, 14), (2027, 10, 30, 17), (2027, 10, 30, 12), (2027, 10, 30, 15)),
        # December meeting: last quarter, winter again
        ((2027, 12, 9, 14), (2027, 12, 9, 17), (2027, 12, 9, 13), (2027, 12, 9, 16)),
    ],
)
def test_dtstart_dtend_utc_instant(
    start: tuple[int, ...], end: tuple[int, ...],
    utc_start: tuple[int, ...], utc_end: tuple[int, ...],
) -> None:
    data = invite(start=datetime.datetime(*start), end=datetime.datetime(*end))
    assert b"DTSTART;TZID=Europe/Amsterdam:" in data
    assert b"DTEND;TZID=Europe/Amsterdam:" in data
    cal = read(data)
    assert utc_instant(cal, "dtstart") == datetime.datetime(*utc_start, tzinfo=UTC)
    assert utc_instant(cal, "dtend") == datetime.datetime(*utc_end, tzinfo=UTC)


def test_utc_instant_for_other_zone() -> None:
    # Southern hemisphere: DST in (their) summer, i.e. our winter.
    cal = read(invite(
        tzid="Australia/Sydney",
        start=datetime.datetime(2027, 1, 14, 9), end=datetime.datetime(2027, 1, 14, 10),
    ))
    assert utc_instant(cal, "dtstart") == datetime.datetime(2027, 1, 13, 22, tzinfo=UTC)
    cal = read(invite(
        tzid="Australia/Sydney",
        start=datetime.datetime(2027, 7, 14, 9), end=datetime.datetime(2027, 7, 14, 10),
    ))
    assert utc_instant(cal, "dtstart") == datetime.datetime(2027, 7, 13, 23, tzinfo=UTC)


def test_text_round_trips_dutch_chars_and_newlines() -> None:
    ev = read(invite()).vevent
    assert ev.summary.value == SUMMARY
    assert ev.description.value == DESCRIPTION
    assert ev.location.value == "Ministerie van BZK, Turfmarkt 147, Den Haag"


def test_crlf_and_folding() -> None:
    long_text = "Een heel lange beschrijving met één, twee en drieëntwintig woorden. " * 12
    data = invite(description=long_text, summary="Ë" * 120)
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    for line in lines:
        assert b"\n" not in line and b"\r" not in line
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding must not split a multi-byte character
    assert any(line.startswith(b" ") for line in lines)  # it did fold
    ev = read(data).vevent
    assert ev.description.value == long_text
    assert ev.summary.value == "Ë" * 120


def test_vtimezone_in_invite_uses_rrule_not_rdate() -> None:
    data = invite()
    assert b"RDATE" not in data
    vtz = read(data).vtimezone
    assert vtz.tzid.value == "Europe/Amsterdam"
    assert len(vtz.contents["daylight"]) == 1
    assert len(vtz.contents["standard"]) == 1
    for obs in (vtz.daylight, vtz.standard):
        assert "rrule" in obs.contents
        assert "rdate" not in obs.contents


def test_cancel() -> None:
    data = invite(method="CANCEL", sequence=3)
    cal = read(data)
    ev = cal.vevent
    assert cal.method.value == "CANCEL"
    assert ev.uid.value == UID
    assert ev.sequence.value == "3"
    assert ev.status.value == "CANCELLED"
    assert ev.attendee.value.lower() == "mailto:jan@schiedam.nl"
    assert ev.organizer.value.lower() == "mailto:pioniers@open-overheid.nl"
    assert "valarm" not in ev.contents
    assert utc_instant(cal, "dtstart") == datetime.datetime(2027, 3, 18, 13, tzinfo=UTC)


def test_explicit_status_and_request_update() -> None:
    ev = read(invite(status="TENTATIVE", sequence=2)).vevent
    assert ev.status.value == "TENTATIVE"
    assert ev.sequence.value == "2"


def test_dtstamp_is_utc_even_from_other_offset() -> None:
    stamp = datetime.datetime(2026, 11, 2, 10, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    data = invite(stamp=stamp)
    assert b"DTSTAMP:20261102T093000Z" in data


def test_invalid_input_raises() -> None:
    with pytest.raises(ValueError):
        invite(method="PUBLISH")
    with pytest.raises(ValueError):
        invite(stamp=datetime.datetime(2026, 11, 2, 9, 30))
    with pytest.raises(ValueError):
        invite(end=datetime.datetime(2027, 3, 18, 13, 0))


def test_invite_is_deterministic() -> None:
    assert invite() == invite()


def test_own_request_parses_back() -> None:
    assert parse_itip(invite(sequence=1)) == (
        "REQUEST", [ItipReply(UID, "jan@schiedam.nl", "NEEDS-ACTION", 1)],
    )


# --------------------------------------------------------------------------
# vtimezone
# --------------------------------------------------------------------------

def _ical(tzid: str, year: int) -> str:
    return vtimezone(tzid, year).to_ical().decode()


def test_vtimezone_amsterdam_rules() -> None:
    vtz = vobject.readOne(_ical("Europe/Amsterdam", 2027))
    day, std = vtz.daylight, vtz.standard
    assert day.tzoffsetfrom.value == "+0100" and day.tzoffsetto.value == "+0200"
    assert std.tzoffsetfrom.value == "+0200" and std.tzoffsetto.value == "+0100"
    assert day.dtstart.value.time() == datetime.time(2, 0)
    assert std.dtstart.value.time() == datetime.time(3, 0)
    assert day.dtstart.value.month == 3 and std.dtstart.value.month == 10
    assert set(day.rrule.value.split(";")) == {"FREQ=YEARLY", "BYDAY=-1SU", "BYMONTH=3"}
    assert set(std.rrule.value.split(";")) == {"FREQ=YEARLY", "BYDAY=-1SU", "BYMONTH=10"}


@pytest.mark.parametrize("year", [2027, 2030])
def test_vtimezone_matches_zoneinfo_all_year(year: int) -> None:
    """Every hour of several years: dateutil reading our VTIMEZONE agrees
    with zoneinfo on the offset, for zones with differing rules."""
    from zoneinfo import ZoneInfo

    for tzid in ("Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Europe/Dublin"):
        zone = dateutil_tz.tzical(io.StringIO(_ical(tzid, 2027))).get(tzid)
        ref = ZoneInfo(tzid)
        instant = datetime.datetime(year, 1, 1, tzinfo=UTC)
        while instant.year == year:
            assert instant.astimezone(zone).utcoffset() == instant.astimezone(ref).utcoffset(), (
                tzid, instant,
            )
            instant += datetime.timedelta(hours=1)


def test_vtimezone_without_dst_has_single_standard() -> None:
    text = _ical("Asia/Tokyo", 2027)
    vtz = vobject.readOne(text)
    assert "daylight" not in vtz.contents
    assert len(vtz.contents["standard"]) == 1
    assert vtz.standard.tzoffsetto.value == "+0900"
    assert vtz.standard.tzoffsetfrom.value == "+0900"
    assert "RDATE" not in text


def test_vtimezone_unknown_zone_raises() -> None:
    with pytest.raises(Exception):
        vtimezone("Europe/Atlantis", 2027)


# --------------------------------------------------------------------------
# parse_itip
# --------------------------------------------------------------------------

def crlf(text: str) -> str:
    return "\r\n".join(text.strip("\n").split("\n")) + "\r\n"


OUTLOOK_VTIMEZONE = """\
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""


def outlook_reply(summary: str, partstat: str, attendee_line: str, sequence: int = 0) -> bytes:
    # As Exchange/Outlook send it: no CALSCALE, LANGUAGE params, Windows
    # TZID, X-MICROSOFT-* noise and the attendee folded mid-address.
    body = f"""\
BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
{OUTLOOK_VTIMEZONE}
BEGIN:VEVENT
{attendee_line}
COMMENT;LANGUAGE=nl-NL:Tot dan!\\n
SUMMARY;LANGUAGE=nl-NL:{summary}: Pioniersbijeenkomst Q1: café & ëxtra
DTSTART;TZID=W. Europe Standard Time:20270318T140000
DTEND;TZID=W. Europe Standard Time:20270318T170000
UID:{UID}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20261103T081512Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:{sequence}
LOCATION;LANGUAGE=nl-NL:Ministerie van BZK\\, Turfmarkt 147\\, Den Haag
X-MICROSOFT-CDO-APPT-SEQUENCE:{sequence}
X-MICROSOFT-CDO-OWNERAPPTID:-1130725432
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INSTTYPE:0
X-MICROSOFT-DONOTFORWARDMEETING:FALSE
X-MICROSOFT-DISALLOW-COUNTER:FALSE
END:VEVENT
END:VCALENDAR
"""
    return crlf(body).encode("utf-8")


def test_outlook_accepted() -> None:
    data = outlook_reply(
        "Geaccepteerd", "ACCEPTED",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Jan Jansen:mailto:Jan@Schie\n dam.nl",
    )
    assert parse_itip(data) == ("REPLY", [ItipReply(UID, "jan@schiedam.nl", "ACCEPTED", 0)])


def test_outlook_declined_with_quoted_cn_and_uppercase_mailto() -> None:
    data = outlook_reply(
        "Geweigerd", "DECLINED",
        'ATTENDEE;PARTSTAT=DECLINED;CN="Jansen, Jan (Gemeente Schiedam)":MAILTO:Jan\n'
        " @Schiedam.nl",
        sequence=2,
    )
    assert parse_itip(data) == ("REPLY", [ItipReply(UID, "jan@schiedam.nl", "DECLINED", 2)])


def test_outlook_tentative_as_str() -> None:
    data = outlook_reply(
        "Voorlopig", "TENTATIVE",
        "ATTENDEE;PARTSTAT=TENTATIVE;CN=Piet de Boer:mailto:p.deboer@minbzk.nl",
        sequence=1,
    )
    assert parse_itip(data.decode("utf-8")) == (
        "REPLY", [ItipReply(UID, "p.deboer@minbzk.nl", "TENTATIVE", 1)],
    )


GMAIL_REPLY = """\
BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REPLY
BEGIN:VEVENT
DTSTART:20270318T130000Z
DTEND:20270318T160000Z
DTSTAMP:20261103T101010Z
ORGANIZER;CN=Pioniersnetwerk Open Overheid:mailto:pioniers@open-overheid.nl
UID:{uid}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Eva van
  Dijk;X-NUM-GUESTS=0:mailto:Eva.vanDijk@gmail.com
CREATED:20261102T093000Z
DESCRIPTION:Beste pionier\\,\\n\\nWe zien je graag.
LAST-MODIFIED:20261103T101009Z
LOCATION:Ministerie van BZK\\, Turfmarkt 147\\, Den Haag
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:Pioniersbijeenkomst Q1
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR
"""


def test_gmail_reply() -> None:
    data = crlf(GMAIL_REPLY.format(uid=UID)).encode()
    assert parse_itip(data) == (
        "REPLY", [ItipReply(UID, "eva.vandijk@gmail.com", "ACCEPTED", 0)],
    )


def test_lf_only_and_lowercase_method_and_missing_partstat() -> None:
    body = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:reply\nBEGIN:VEVENT\nUID:x-1\n"
        "ATTENDEE:mailto:A@B.nl\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    assert parse_itip(body) == ("REPLY", [ItipReply("x-1", "a@b.nl", "NEEDS-ACTION", 0)])


def test_missing_method_gives_empty_string() -> None:
    body = crlf("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n")
    assert parse_itip(body) == ("", [])


def test_latin1_byte_does_not_lose_reply() -> None:
    data = outlook_reply(
        "Geaccepteerd", "ACCEPTED", "ATTENDEE;PARTSTAT=ACCEPTED;CN=Jan:mailto:jan@schiedam.nl",
    ).replace("café".encode(), b"caf\xe9")
    assert parse_itip(data) == ("REPLY", [ItipReply(UID, "jan@schiedam.nl", "ACCEPTED", 0)])


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        "",
        b"\xff\xfe\x00\x01garbage",
        "Hallo, ik kom graag!",
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
        "END:VCALENDAR\r\nBEGIN:VCALENDAR\r\n",
        "<html><body>Geaccepteerd</body></html>",
        None,
        12345,
    ],
)
def test_junk_never_raises(junk: Any) -> None:
    assert parse_itip(junk) == ("", [])


def test_broken_sequence_defaults_to_zero() -> None:
    body = crlf(
        "BEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\nUID:x-2\nSEQUENCE:abc\n"
        "ATTENDEE;PARTSTAT=declined:mailto:x@y.nl\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    assert parse_itip(body) == ("REPLY", [ItipReply("x-2", "x@y.nl", "DECLINED", 0)])
