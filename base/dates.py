"""Find meeting dates in Dutch (and English) mail subjects and bodies.

A small matcher of our own: dateparser misreads Dutch day-first formats such as "18-9-18".
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DateRef:
    day: int
    month: int
    year: int | None  # None when the text gives no year


_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("januari", "january", "jan"),
    2: ("februari", "february", "feb"),
    3: ("maart", "march", "mrt", "mar"),
    4: ("april", "apr"),
    5: ("mei", "may"),
    6: ("juni", "june", "jun"),
    7: ("juli", "july", "jul"),
    8: ("augustus", "august", "aug"),
    9: ("september", "sept", "sep"),
    10: ("oktober", "october", "okt", "oct"),
    11: ("november", "nov"),
    12: ("december", "dec"),
}
# Only English writes the month first ("September 18"); Dutch "mei 18" is not a date.
_ENGLISH_MONTH_FIRST = {
    "january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun",
    "july", "jul", "august", "aug", "september", "sept", "sep", "october", "oct", "november",
    "nov", "december", "dec",
}
_MONTH_BY_WORD = {word: month for month, words in _MONTH_WORDS.items() for word in words}


def _alternation(words: set[str] | Sequence[str]) -> str:
    # Longest first so "sept" wins over "sep" and "juni" over "jun".
    return "|".join(sorted(words, key=len, reverse=True))


_MONTH = rf"(?:{_alternation(list(_MONTH_BY_WORD))})(?![^\W\d_])\.?"
_MONTH_EN = rf"(?:{_alternation(_ENGLISH_MONTH_FIRST)})(?![^\W\d_])\.?"
_ORDINAL = r"(?:ste|de|e|st|nd|rd|th)?"
_YEAR_WORD = r"(?:(?:19|20)\d{2}|'\d{2})(?![\d])(?![.:]\d)"

_DATE_RE = re.compile(
    # Each form starts with a digit or with the first letter of an English month: the lookahead lets the scan
    # pass over other positions without trying the four forms (twice as fast on ordinary text).
    r"(?=[\dJFMASOND])(?:"
    + "|".join(
        [
            # 2018-09-18 (ISO, also with / or .)
            r"(?<![\w.])(?P<iy>(?:19|20)\d{2})(?P<isep>[-/.])(?P<im>\d{1,2})(?P=isep)(?P<id>\d{1,2})"
            r"(?!\d)(?![-/.]\d)",
            # 18-9-2018, 18/09/2018, 18.09.18: always day first
            r"(?<![\w.])(?<!\d[-/])(?P<nd>\d{1,2})(?P<nsep>[-/.])(?P<nm>\d{1,2})(?P=nsep)"
            r"(?P<ny>(?:19|20)\d{2}|\d{2})(?!\d)(?![-/.]\d)",
            # 18 september 2018, 1e sept. '18, 18th of September, 18-sep-2018
            rf"(?<![\d.])(?P<td>\d{{1,2}}){_ORDINAL}(?:\s+of)?(?:\s+|\s*-\s*)(?P<tm>{_MONTH})"
            rf"(?:(?:,?\s+|\s*-\s*)(?P<ty>{_YEAR_WORD}))?",
            # September 18, 2018 / Sept 18th
            rf"(?<![\w])(?P<em>{_MONTH_EN})\s+(?P<ed>\d{{1,2}}){_ORDINAL}(?![\w])(?![.:/-]\d)"
            rf"(?:,?\s+(?P<ey>{_YEAR_WORD}))?",
        ]
    )
    + ")",
    re.IGNORECASE,
)


def _year(text: str) -> int:
    digits = text.lstrip("'")
    # Two-digit years are always this century: "18-9-18" is 2018.
    return int(digits) + 2000 if len(digits) == 2 else int(digits)


def _month_number(word: str) -> int:
    return _MONTH_BY_WORD[word.rstrip(".").casefold()]  # casefold: the pattern matches "ſep" (long s) too


def _ref_from_match(match: re.Match[str]) -> DateRef | None:
    g = match.group
    iy, nd, td = g("iy", "nd", "td")  # which of the four forms matched, in one call
    if iy:
        ref = DateRef(int(g("id")), int(g("im")), int(iy))
    elif nd:
        ref = DateRef(int(nd), int(g("nm")), _year(g("ny")))
    elif td:
        ty = g("ty")
        ref = DateRef(int(td), _month_number(g("tm")), _year(ty) if ty else None)
    else:
        ed, em, ey = g("ed", "em", "ey")
        ref = DateRef(int(ed), _month_number(em), _year(ey) if ey else None)
    return ref if _is_valid(ref) else None


def _days_in_month(year: int, month: int) -> int:
    # calendar.monthrange() without the weekday it also computes (mdays is undocumented: not in typeshed)
    return calendar.mdays[month] + (month == 2 and calendar.isleap(year))  # type: ignore[attr-defined]


def _is_valid(ref: DateRef) -> bool:
    """True when the day exists in that month (29 February only in a leap year, or when no year is given)."""
    if not 1 <= ref.month <= 12 or ref.day < 1:
        return False
    if ref.year is None:
        return ref.day <= _days_in_month(2000, ref.month)  # 2000 is a leap year
    return dt.MINYEAR <= ref.year <= dt.MAXYEAR and ref.day <= _days_in_month(ref.year, ref.month)


_DIGIT = re.compile(r"\d")  # every date form holds one: text without digits holds no date


def _dates_with_spans(text: str) -> Iterator[tuple[DateRef, int, int]]:
    if not _DIGIT.search(text):
        return
    for match in _DATE_RE.finditer(text):
        ref = _ref_from_match(match)
        if ref is not None:
            yield ref, match.start(), match.end()


def _unique(refs: Iterator[DateRef]) -> list[DateRef]:
    return list(dict.fromkeys(refs))


def find_any_date_refs(text: str) -> list[DateRef]:
    """All dates in the text, regardless of the network name."""
    return _unique(ref for ref, _, _ in _dates_with_spans(text))


_MAX_GAP_AFTER = 40  # "Pioniersnetwerk Open Overheid op dinsdag 18 september"
_MAX_GAP_BEFORE = 20  # "18 maart: bijeenkomst Pioniersnetwerk"
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_WHITESPACE = re.compile(r"\s+")


def _close(gap: str, limit: int) -> bool:
    # Runs of whitespace count once; a blank line means a new subject.
    if len(gap) > 10 * limit:  # cheap reject: far apart even with generous whitespace
        return False
    if "\n" in gap and _PARAGRAPH_BREAK.search(gap):
        return False
    return len(gap) <= limit or len(_WHITESPACE.sub(" ", gap)) <= limit  # collapsing never lengthens


@functools.lru_cache(maxsize=16)  # one network name, asked for every message
def _name_pattern(network_name: str) -> re.Pattern[str]:
    words = network_name.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def find_date_refs(text: str, network_name: str) -> list[DateRef]:
    """Dates that appear near the network name (case-insensitive), in order of appearance, deduplicated."""
    if not network_name.strip():
        return []
    names = [(m.start(), m.end()) for m in _name_pattern(network_name).finditer(text)]
    if not names:
        return []
    starts = [n_start for n_start, _ in names]
    ends = [n_end for _, n_end in names]

    def near(start: int, end: int) -> bool:
        # Only the closest name on either side matters: a farther one has a longer gap.
        before = bisect.bisect_right(ends, start) - 1
        after = bisect.bisect_left(starts, end)
        return (before >= 0 and _close(text[ends[before] : start], _MAX_GAP_AFTER)) or (
            after < len(starts) and _close(text[end : starts[after]], _MAX_GAP_BEFORE)
        )

    return _unique(ref for ref, start, end in _dates_with_spans(text) if near(start, end))


def _same_day(dates: Sequence[dt.date], ref: DateRef) -> list[dt.date]:
    return sorted(d for d in dates if d.day == ref.day and d.month == ref.month)


def resolve(ref: DateRef, meeting_dates: Sequence[dt.date], today: dt.date) -> dt.date | None:
    """With a year: that date if valid (else None). Without a year: the first meeting date >= today
    with that day+month; if none, the most recent past meeting date with that day+month; if none,
    the next calendar occurrence (>= today) of that day+month."""
    if ref.year is not None:
        try:
            return dt.date(ref.year, ref.month, ref.day)
        except ValueError:
            return None
    if not _is_valid(ref):
        return None
    candidates = _same_day(meeting_dates, ref)
    upcoming = [d for d in candidates if d >= today]
    if upcoming:
        return upcoming[0]
    if candidates:
        return candidates[-1]
    for year in range(today.year, today.year + 9):  # 29 February needs up to 8 years
        try:
            day = dt.date(year, ref.month, ref.day)
        except ValueError:
            continue
        if day >= today:
            return day
    return None
