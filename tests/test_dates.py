import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.dates import (DateRef, MonthRef, find_any_date_refs, find_date_refs, find_month_refs, in_month, resolve,
                        weekday_differs)

NAME = "Pioniersnetwerk"


def ref(day: int, month: int, year: int | None = None) -> DateRef:
    return DateRef(day, month, year)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the subjects from the brief
        ("Aanmelding Pioniersnetwerk 18 september 2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk: dinsdag 18 september", [ref(18, 9)]),
        ("o.v.v. Pioniersnetwerk 18-9-2018", [ref(18, 9, 2018)]),
        ("RE: Bevestiging: Pioniersnetwerk 18 maart 2027", [ref(18, 3, 2027)]),
        ("18 maart Pioniersnetwerk", [ref(18, 3)]),
        ("18 maart: bijeenkomst Pioniersnetwerk", [ref(18, 3)]),
        # Dutch month names and abbreviations, any case
        ("Pioniersnetwerk 18 sept. 2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 18 sept 2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 18 sep", [ref(18, 9)]),
        ("Pioniersnetwerk 18 mrt 2019", [ref(18, 3, 2019)]),
        ("Pioniersnetwerk 18 mrt. 2019", [ref(18, 3, 2019)]),
        ("Pioniersnetwerk 18 mar 2019", [ref(18, 3, 2019)]),
        ("Pioniersnetwerk 18 maart", [ref(18, 3)]),
        ("PIONIERSNETWERK 18 MAART 2019", [ref(18, 3, 2019)]),
        ("pioniersnetwerk 18 Maart", [ref(18, 3)]),
        ("Pioniersnetwerk 5 januari", [ref(5, 1)]),
        ("Pioniersnetwerk 5 jan", [ref(5, 1)]),
        ("Pioniersnetwerk 5 februari", [ref(5, 2)]),
        ("Pioniersnetwerk 5 feb", [ref(5, 2)]),
        ("Pioniersnetwerk 5 april", [ref(5, 4)]),
        ("Pioniersnetwerk 5 apr", [ref(5, 4)]),
        ("Pioniersnetwerk 5 mei", [ref(5, 5)]),
        ("Pioniersnetwerk 5 juni", [ref(5, 6)]),
        ("Pioniersnetwerk 5 jun", [ref(5, 6)]),
        ("Pioniersnetwerk 5 juli", [ref(5, 7)]),
        ("Pioniersnetwerk 5 jul", [ref(5, 7)]),
        ("Pioniersnetwerk 5 augustus", [ref(5, 8)]),
        ("Pioniersnetwerk 5 aug", [ref(5, 8)]),
        ("Pioniersnetwerk 5 oktober", [ref(5, 10)]),
        ("Pioniersnetwerk 5 okt", [ref(5, 10)]),
        ("Pioniersnetwerk 5 oct", [ref(5, 10)]),
        ("Pioniersnetwerk 5 november", [ref(5, 11)]),
        ("Pioniersnetwerk 5 nov", [ref(5, 11)]),
        ("Pioniersnetwerk 5 december", [ref(5, 12)]),
        ("Pioniersnetwerk 5 dec", [ref(5, 12)]),
        # ordinals
        ("Pioniersnetwerk 1e oktober", [ref(1, 10)]),
        ("Pioniersnetwerk 1ste oktober 2019", [ref(1, 10, 2019)]),
        ("Pioniersnetwerk 2de oktober", [ref(2, 10)]),
        # numeric, day first
        ("Pioniersnetwerk 18-09-2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 18/09/2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 18.09.2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 4-3-2019", [ref(4, 3, 2019)]),
        ("Pioniersnetwerk 18-9-18", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 18/9/18", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 2018-09-18", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk 2018-9-4", [ref(4, 9, 2018)]),
        # weekdays and filler words between name and date
        ("Pioniersnetwerk op dinsdag 18 september", [ref(18, 9)]),
        ("Pioniersnetwerk di 18 sep", [ref(18, 9)]),
        ("Pioniersnetwerk van donderdag 13 december 2018", [ref(13, 12, 2018)]),
        ("Pioniersnetwerk - 18 september", [ref(18, 9)]),
        ("Pioniersnetwerk Open Overheid, bijeenkomst op 18 sept", [ref(18, 9)]),
        ("Pioniersnetwerkbijeenkomst 18 september", [ref(18, 9)]),
        # whitespace: non-breaking and repeated spaces
        ("Pioniersnetwerk\u00a018\u00a0september\u00a02018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk    18   september     2018", [ref(18, 9, 2018)]),
        # English
        ("Pioniersnetwerk 18 September 2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk September 18, 2018", [ref(18, 9, 2018)]),
        ("Pioniersnetwerk Sept 18", [ref(18, 9)]),
        ("Pioniersnetwerk on Tuesday, March 5th", [ref(5, 3)]),
        ("Pioniersnetwerk 18th of September", [ref(18, 9)]),
        ("Pioniersnetwerk May 2, 2019", [ref(2, 5, 2019)]),
        # several dates, order of appearance, deduplicated
        ("Pioniersnetwerk 18 september en 11 december", [ref(18, 9), ref(11, 12)]),
        ("Pioniersnetwerk 18-9-2018 (18 september 2018)", [ref(18, 9, 2018)]),
        ("18 sep Pioniersnetwerk 18 sep", [ref(18, 9)]),
        # body text: the name on one line, the date on the next
        ("Ik meld me aan voor het Pioniersnetwerk\nop 18 september.", [ref(18, 9)]),
        # 29 February without a year is fine, with a leap year too
        ("Pioniersnetwerk 29 februari", [ref(29, 2)]),
        ("Pioniersnetwerk 29-2-2024", [ref(29, 2, 2024)]),
    ],
)
def test_find_date_refs(text: str, expected: list[DateRef]) -> None:
    assert find_date_refs(text, NAME) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Aanmelding 18 september 2018",  # no network name
        "Pioniersnetwerk",  # no date
        "",
        "Pioniersnetwerk 31 februari 2019",  # invalid
        "Pioniersnetwerk 29-2-2019",  # not a leap year
        "Pioniersnetwerk 31 april",
        "Pioniersnetwerk 0 mei",
        "Pioniersnetwerk 32 mei",
        "Pioniersnetwerk 18-13-2018",
        "Pioniersnetwerk, bel 010-1234567",  # phone numbers
        "Pioniersnetwerk, bel 06-12345678",
        "Pioniersnetwerk, bel 06-12-34-56-78",
        "Pioniersnetwerk om 14.00 uur",  # times
        "Pioniersnetwerk van 14.00-16.30",
        "Pioniersnetwerk om 14:00",
        "Pioniersnetwerk versie v1.2.18",
        "Pioniersnetwerk, ip 192.168.1.18",
        "Pioniersnetwerk in mei 2019",  # a month is no date
        "Pioniersnetwerk 18 meiden",  # month name inside a word
        "Pioniersnetwerk, ik ben 18",
        "Pioniersnetwerk\n\nIn de nieuwsbrief van 18 september",  # another paragraph
        "Pioniersnetwerk: een verslag van de bijeenkomst, met veel foto's, op 18 september",  # too far
        "18 september was de bijeenkomst van het Pioniersnetwerk",  # date too far before
    ],
)
def test_find_date_refs_finds_nothing(text: str) -> None:
    assert find_date_refs(text, NAME) == []


def test_network_name_with_several_words() -> None:
    name = "Pioniersnetwerk Open Overheid"
    assert find_date_refs("pioniersnetwerk  open\u00a0overheid 18 sep", name) == [ref(18, 9)]
    assert find_date_refs("Pioniersnetwerk 18 sep", name) == []
    assert find_date_refs("Pioniersnetwerk 18 sep", "  ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tot 18 september 2018!", [ref(18, 9, 2018)]),
        ("Eerst 1-2-2019, dan 3 maart en 2019-04-05", [ref(1, 2, 2019), ref(3, 3), ref(5, 4, 2019)]),
        ("Op ma 3 sep. 2018 om 10:12 schreef Jan <jan@x.nl>:", [ref(3, 9, 2018)]),
        ("18 sep '19", [ref(18, 9, 2019)]),
        ("Bel 010-1234567 om 14.00", []),
        ("31 februari", []),
    ],
)
def test_find_any_date_refs(text: str, expected: list[DateRef]) -> None:
    assert find_any_date_refs(text) == expected


TODAY = dt.date(2019, 6, 1)
MEETINGS = [dt.date(2018, 9, 18), dt.date(2019, 3, 18), dt.date(2019, 9, 18), dt.date(2020, 9, 18)]


@pytest.mark.parametrize(
    ("date_ref", "meetings", "today", "expected"),
    [
        # with a year: that date, meetings or not
        (ref(18, 9, 2018), MEETINGS, TODAY, dt.date(2018, 9, 18)),
        (ref(1, 1, 2030), MEETINGS, TODAY, dt.date(2030, 1, 1)),
        (ref(29, 2, 2019), MEETINGS, TODAY, None),
        (ref(31, 4, 2019), MEETINGS, TODAY, None),
        # without a year: the first upcoming meeting on that day
        (ref(18, 9), MEETINGS, TODAY, dt.date(2019, 9, 18)),
        (ref(18, 9), MEETINGS, dt.date(2019, 9, 18), dt.date(2019, 9, 18)),  # today counts
        (ref(18, 9), list(reversed(MEETINGS)), TODAY, dt.date(2019, 9, 18)),  # order does not matter
        # else the most recent past meeting on that day
        (ref(18, 3), MEETINGS, TODAY, dt.date(2019, 3, 18)),
        (ref(18, 9), MEETINGS, dt.date(2021, 1, 1), dt.date(2020, 9, 18)),
        # else the next occurrence on the calendar
        (ref(1, 7), MEETINGS, TODAY, dt.date(2019, 7, 1)),
        (ref(1, 3), MEETINGS, TODAY, dt.date(2020, 3, 1)),
        (ref(1, 6), [], TODAY, dt.date(2019, 6, 1)),
        (ref(29, 2), [], TODAY, dt.date(2020, 2, 29)),
        (ref(29, 2), [], dt.date(2020, 3, 1), dt.date(2024, 2, 29)),
        (ref(31, 2), MEETINGS, TODAY, None),
    ],
)
def test_resolve(date_ref: DateRef, meetings: list[dt.date], today: dt.date, expected: dt.date | None) -> None:
    assert resolve(date_ref, meetings, today) == expected


def _is_calendar_date(r: DateRef) -> bool:
    try:
        dt.date(r.year if r.year is not None else 2000, r.month, r.day)
    except ValueError:
        return False
    return True


date_like = st.text(alphabet="0123456789-/. :'\u00a0\nsepmrtjanoktdiPioniersnetwerk", max_size=60)


@given(st.one_of(st.text(max_size=200), date_like, st.builds(lambda a, b: f"{a} Pioniersnetwerk {b}", date_like, date_like)))
def test_find_date_refs_never_raises_and_gives_calendar_dates(text: str) -> None:
    for found in find_date_refs(text, NAME) + find_any_date_refs(text):
        assert _is_calendar_date(found)
        resolve(found, MEETINGS, TODAY)  # must not raise either


@given(st.integers(1, 31), st.integers(1, 12), st.integers(2000, 2099))
def test_numeric_and_written_dates_agree(day: int, month: int, year: int) -> None:
    months = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
              "september", "oktober", "november", "december"]
    numeric = find_date_refs(f"Pioniersnetwerk {day}-{month}-{year}", NAME)
    written = find_date_refs(f"Pioniersnetwerk {day} {months[month - 1]} {year}", NAME)
    assert numeric == written
    assert numeric == ([ref(day, month, year)] if _is_calendar_date(ref(day, month, year)) else [])


def test_month_written_with_a_long_s_is_read_not_a_crash() -> None:
    # The pattern matches case-insensitively, so "ſep" (U+017F) matches "sep"; the lookup must agree.
    assert find_any_date_refs("18 ſeptember 2018") == [DateRef(18, 9, 2018)]


# --- dates as people write them: short number forms, weekdays, a misspelt name, a month alone ---------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pioniersnetwerk 18/3", [ref(18, 3)]),
        ("Pioniersnetwerk do 17/6", [ref(17, 6)]),
        ("Pioniersnetwerk 16-9", [ref(16, 9)]),
        ("Pioniersnetwerk 18.3", [ref(18, 3)]),
        ("Pioniersnetwerk 18.03.", [ref(18, 3)]),
        ("Aanmelding Pioniersnetwerk donderdag 18 maart", [ref(18, 3)]),
        ("Pioniersnetwerk 17/6 en 16/9", [ref(17, 6), ref(16, 9)]),
        ("Pioniersnetwerk 3/4", [ref(3, 4)]),  # d/m, never m/d
        # the name misspelt, split, hyphenated or in capitals
        ("Pioniers netwerk 18 maart 2027", [ref(18, 3, 2027)]),
        ("Pionersnetwerk 18/3", [ref(18, 3)]),
        ("PIONIERSNETWERK 18/3", [ref(18, 3)]),
        ("pioniers-netwerk 17 juni", [ref(17, 6)]),
        ("Pioneersnetwerk 17 juni", [ref(17, 6)]),
        ("pioniers - netwerk 17 juni", [ref(17, 6)]),
        ("Pioniersnetwerken 17 juni", [ref(17, 6)]),
    ],
)
def test_find_date_refs_as_people_write_them(text: str, expected: list[DateRef]) -> None:
    assert find_date_refs(text, NAME) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pioniersnetwerk om 10.12 uur",  # times are never dates
        "Pioniersnetwerk 9.05 u",
        "Pioniersnetwerk van 9.00-10.12",
        "Pioniersnetwerk tot 11.12",
        "Pioniersnetwerk 10.10 - 11.12",
        "Pioniersnetwerk om 14:00",
        "Pioniersnetwerk 3/4 van de deelnemers",  # a fraction
        "Pioniersnetwerk 1/3 deel",
        "Pioniersnetwerk, bel 06-12 34 56 78",  # a phone number
        "Pioniersnetwerk, bel 010-1234567",
        "Pioniersnetwerk 06-12345678",
        "Pioniersnetwerk 16-9-2",
        "Pioniersnetwerk versie 1.2.3",
        "Pioniersnetwerk 4,5 uur",
        "Pioniersnetwerk 18/13",  # no month 13, and no month-first reading
        "Pioniersnetwerk 12/31",
        "Pionier 18/3",  # too far from the name
        "Netwerk 18/3",
        "Pioniers 18/3",
    ],
)
def test_short_forms_that_are_no_dates(text: str) -> None:
    assert find_date_refs(text, NAME) == []


@pytest.mark.parametrize(
    ("text", "weekday"),
    [
        ("Pioniersnetwerk donderdag 17 juni", 3),
        ("Pioniersnetwerk vrijdag 17 juni", 4),
        ("Pioniersnetwerk do 17/6", 3),
        ("Pioniersnetwerk vr. 17-6", 4),
        ("Pioniersnetwerk op dinsdag de 18e september", 1),
        ("Pioniersnetwerk on Thursday, June 17", 3),
        ("Pioniersnetwerk 17 juni", None),
    ],
)
def test_weekday_named_before_the_date(text: str, weekday: int | None) -> None:
    (found,) = find_date_refs(text, NAME)
    assert found.weekday == weekday
    assert weekday_differs(found, dt.date(2027, 6, 17)) is (weekday not in (None, 3))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Aanmelding Pioniersnetwerk maart 2027", [MonthRef(3, 2027)]),
        ("Pioniersnetwerk in juni", [MonthRef(6, None)]),
        ("Pioniers netwerk September", [MonthRef(9, None)]),
        ("Pioniersnetwerk 18 maart", []),  # a month of a date is no month alone
        ("Pioniersnetwerk 18e maart 2027", []),
        ("Pioniersnetwerk mar 2027", []),  # only full month names
        ("Maart 2027", []),  # no name
        ("Pioniersnetwerk marten", []),
    ],
)
def test_find_month_refs(text: str, expected: list[MonthRef]) -> None:
    assert find_month_refs(text, NAME) == expected


@pytest.mark.parametrize(
    ("month_ref", "today", "expected"),
    [
        (MonthRef(3, 2027), dt.date(2027, 2, 1), [dt.date(2027, 3, 18)]),
        (MonthRef(3, None), dt.date(2027, 2, 1), [dt.date(2027, 3, 18)]),
        (MonthRef(3, None), dt.date(2027, 3, 19), []),  # this March's has passed; next March has none
        (MonthRef(6, None), dt.date(2027, 2, 1), [dt.date(2027, 6, 3), dt.date(2027, 6, 17)]),
        (MonthRef(3, 2028), dt.date(2027, 2, 1), []),
    ],
)
def test_in_month(month_ref: MonthRef, today: dt.date, expected: list[dt.date]) -> None:
    meetings = [dt.date(2027, 3, 18), dt.date(2027, 6, 17), dt.date(2027, 6, 3), dt.date(2026, 3, 19)]
    assert in_month(month_ref, meetings, today) == expected


def test_misspelt_name_search_is_bounded() -> None:
    import time

    hostile = "pioniersnetwerx 1 " * 2000 + "Pionersnetwerk " * 2000 + "a-" * 20000
    started = time.perf_counter()
    find_date_refs(hostile, NAME)
    find_month_refs(hostile, NAME)
    assert time.perf_counter() - started < 2


def test_short_forms_only_on_a_meeting_day_when_the_days_are_given() -> None:
    days = [dt.date(2027, 3, 18), dt.date(2027, 6, 17)]
    text = "Pioniersnetwerk 19/3, 18/3, 17 juni en 20 juni"
    assert find_date_refs(text, NAME, days) == [ref(18, 3), ref(17, 6), ref(20, 6)]  # written dates all count
    assert find_date_refs(text, NAME) == [ref(19, 3), ref(18, 3), ref(17, 6), ref(20, 6)]
