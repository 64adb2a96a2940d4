"""Find meeting dates in Dutch (and English) mail subjects and bodies.

A small matcher of our own: dateparser misreads Dutch day-first formats such as "18-9-18".
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DateRef:
    day: int
    month: int
    year: int | None  # None when the text gives no year
    # How it was written, not which day it is (so not compared): the weekday named before it (0 is Monday),
    # and whether it was a short number form such as "18/3" or "16-9", which counts only for a meeting's day.
    weekday: int | None = field(default=None, compare=False)
    short: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class MonthRef:
    """A month named without a day: "Pioniersnetwerk maart 2027"."""

    month: int
    year: int | None


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
_WEEKDAY_WORDS: tuple[tuple[str, ...], ...] = (
    ("maandag", "ma", "monday", "mon"),
    ("dinsdag", "di", "tuesday", "tues", "tue"),
    ("woensdag", "wo", "wednesday", "wed"),
    ("donderdag", "do", "thursday", "thurs", "thu"),
    ("vrijdag", "vr", "friday", "fri"),
    ("zaterdag", "za", "saturday", "sat"),
    ("zondag", "zo", "sunday", "sun"),
)
_WEEKDAY_BY_WORD = {word: day for day, words in enumerate(_WEEKDAY_WORDS) for word in words}
# Full month names only: "mar", "dec" or "jun" alone in a sentence are too often something else.
_FULL_MONTHS = {words[0]: month for month, words in _MONTH_WORDS.items()} | {
    "january": 1, "february": 2, "march": 3, "june": 6, "july": 7, "august": 8, "october": 10}


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
            # 18/3, 16-9, 18.3: day first, no year (never month first); times and the like are told apart below
            r"(?<![\w.,:/-])(?P<sd>\d{1,2})(?P<ssep>[-/.])(?P<sm>\d{1,2})(?!\d)(?![-/.:,]\d)",
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
    iy, nd, sd, td = g("iy", "nd", "sd", "td")  # which of the five forms matched, in one call
    if iy:
        ref = DateRef(int(g("id")), int(g("im")), int(iy))
    elif nd:
        ref = DateRef(int(nd), int(g("nm")), _year(g("ny")))
    elif sd:
        ref = DateRef(int(sd), int(g("sm")), None, short=True)
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


# What makes "14.30", "9.05 uur", "van 10.10-11.12" or "3/4 van de deelnemers" no date. Read from a few characters
# either side of the short form only, so the cost stays that of the match.
_TIME_AFTER = re.compile(r"\s?(?:uur|u\b|h\b|[-–]\s?\d{1,2}[.:]\d\d)", re.IGNORECASE)
_TIME_BEFORE = re.compile(r"(?:\b(?:om|vanaf|van|tot|rond|omstreeks|tussen|at|from|until)\s+|[-–]\s?)$",
                          re.IGNORECASE)
_PHONE_AFTER = re.compile(r"\s\d{2}\s\d{2}")  # "06-12 34 56 78"
_PHONE_BEFORE = re.compile(r"\b(?:bel|tel|telefoon|mobiel|nummer|nr)[.:]?\s*(?:\+31\s?)?$", re.IGNORECASE)
_FRACTION_AFTER = re.compile(r"\s+(?:van|der|deel|of)\b|\s*(?:%|procent|deel)", re.IGNORECASE)
_WEEKDAY_BEFORE = re.compile(rf"(?<![^\W\d_])({_alternation(list(_WEEKDAY_BY_WORD))})\.?,?\s+(?:de\s+)?$",
                             re.IGNORECASE)


def _not_a_date(text: str, match: re.Match[str]) -> bool:
    """A short number form that is a time ("14.30 uur", "om 10.12"), a fraction ("3/4 van de ...") or part of
    a phone number ("bel 06-12 34 56 78")."""
    after = text[match.end() : match.end() + 12]
    before = text[max(0, match.start() - 16) : match.start()]
    if _PHONE_AFTER.match(after) or _PHONE_BEFORE.search(before):
        return True
    if match.group("ssep") == "/":
        return bool(_FRACTION_AFTER.match(after))
    return bool(_TIME_AFTER.match(after) or _TIME_BEFORE.search(before))


def _weekday_before(text: str, start: int) -> int | None:
    found = _WEEKDAY_BEFORE.search(text[max(0, start - 16) : start])
    return _WEEKDAY_BY_WORD[found.group(1).lower()] if found else None


def _dates_with_spans(text: str) -> Iterator[tuple[DateRef, int, int]]:
    if not _DIGIT.search(text):
        return
    for match in _DATE_RE.finditer(text):
        ref = _ref_from_match(match)
        if ref is None or (ref.short and _not_a_date(text, match)):
            continue
        weekday = _weekday_before(text, match.start())
        if weekday is not None:
            ref = DateRef(ref.day, ref.month, ref.year, weekday=weekday, short=ref.short)
        yield ref, match.start(), match.end()


def _unique(refs: Iterator[DateRef]) -> list[DateRef]:
    return list(dict.fromkeys(refs))


def date_spans(text: str) -> list[tuple[DateRef, int, int]]:
    """Every date in the text with where it stands (start, end): a command line without its date."""
    return list(_dates_with_spans(text))


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


_LETTERS = re.compile(r"[^\W\d_]+")
_JOIN = re.compile(r"[^\S\n]{0,3}-?[^\S\n]{0,3}")  # what may stand between the pieces of a split name


def _within(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of a and b at most limit, in a band of 2 * limit + 1 diagonals (by hand: difflib
    measures similarity, not edits, and compares whole sequences, which costs more on every word)."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [limit + 1] * len(b)
        for j in range(max(1, i - limit), min(len(b), i + limit) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != b[j - 1]))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


_MAX_MISSPELT_SCAN = 20_000  # characters searched for a misspelt name: a subject, the top of a mail


def _typo_limit(name: str) -> int:
    return 2 if len(name) >= 12 else 1 if len(name) >= 6 else 0


@functools.lru_cache(maxsize=16)
def _pieces(wanted: str, limit: int) -> re.Pattern[str]:
    """The name cut in limit + 1 pieces: within limit edits, one of them stands in the text unchanged. Text
    without any (nearly every mail) is passed over at the speed of one regular expression."""
    size = len(wanted) // (limit + 1)
    cuts = [wanted[i * size : (i + 1) * size if i < limit else len(wanted)] for i in range(limit + 1)]
    return re.compile("|".join(re.escape(c) for c in cuts), re.IGNORECASE)


def _names_misspelt(text: str, network_name: str) -> list[tuple[int, int]]:
    """Where the name stands written with a typo, split or hyphenated: "Pionersnetwerk", "Pioniers netwerk",
    "pioniers-netwerk". One to three words in a row are compared with the name (its spaces left out), within one
    or two edits; only pieces that together are about as long as the name are compared at all."""
    wanted = "".join(network_name.split()).casefold()
    limit = _typo_limit(wanted)
    if not limit or not _pieces(wanted, limit).search(text, 0, _MAX_MISSPELT_SCAN):
        return []
    words = [(m.start(), m.end()) for m in _LETTERS.finditer(text, 0, _MAX_MISSPELT_SCAN)]
    found: list[tuple[int, int]] = []
    for i, (start, _) in enumerate(words):
        joined = ""
        for k in range(i, min(i + 3, len(words))):
            if k > i and not _JOIN.fullmatch(text, words[k - 1][1], words[k][0]):
                break
            joined += text[words[k][0] : words[k][1]].casefold()
            if len(joined) > len(wanted) + limit:
                break
            if len(joined) >= len(wanted) - limit and _within(joined, wanted, limit):
                found.append((start, words[k][1]))
                break
    return found


def _near_name(text: str, network_name: str, cheap: bool = False) -> Callable[[int, int], bool] | None:
    """Tells whether a span of text stands near the network name; None when the name is not in the text.
    cheap: look for the misspelt name only when the text holds a digit (every date does)."""
    if not network_name.strip():
        return None
    names = [(m.start(), m.end()) for m in _name_pattern(network_name).finditer(text)]
    if not names and (not cheap or _DIGIT.search(text)):
        names = _names_misspelt(text, network_name)
    if not names:
        return None
    starts = [n_start for n_start, _ in names]
    ends = [n_end for _, n_end in names]

    def near(start: int, end: int) -> bool:
        # Only the closest name on either side matters: a farther one has a longer gap.
        before = bisect.bisect_right(ends, start) - 1
        after = bisect.bisect_left(starts, end)
        return (before >= 0 and _close(text[ends[before] : start], _MAX_GAP_AFTER)) or (
            after < len(starts) and _close(text[end : starts[after]], _MAX_GAP_BEFORE)
        )

    return near


def find_date_refs(text: str, network_name: str, meeting_days: Iterable[dt.date] | None = None) -> list[DateRef]:
    """Dates that appear near the network name (case-insensitive, or misspelt: _names_misspelt), in order of
    appearance, deduplicated. With meeting_days, a short number form ("18/3", "16-9") counts only on the day and
    month of one of them: elsewhere it may be anything ("bel 06-12", "3/4 van de deelnemers")."""
    near = _near_name(text, network_name, cheap=True)
    if near is None:
        return []
    days = None if meeting_days is None else {(d.day, d.month) for d in meeting_days}
    return _unique(ref for ref, start, end in _dates_with_spans(text)
                   if near(start, end) and (days is None or not ref.short or (ref.day, ref.month) in days))


_MONTH_ALONE = re.compile(
    rf"(?<![^\W\d_])(?P<m>{_alternation(list(_FULL_MONTHS))})(?![^\W\d_])(?:\s+(?P<y>(?:19|20)\d{{2}})(?!\d))?",
    re.IGNORECASE)
_DAY_BEFORE = re.compile(r"\d(?:ste|de|e|st|nd|rd|th)?\.?(?:\s+of)?\s*-?\s*$", re.IGNORECASE)
_MAX_MONTHS = 20  # a subject or a few lines names a month or two; more is a list, not a request


def find_month_refs(text: str, network_name: str) -> list[MonthRef]:
    """Months named without a day near the network name: "Aanmelding Pioniersnetwerk maart 2027". A month
    that belongs to a date ("18 maart") is no month alone."""
    near = _near_name(text, network_name)
    if near is None:
        return []
    found: list[MonthRef] = []
    for match in _MONTH_ALONE.finditer(text, 0, _MAX_MISSPELT_SCAN):
        if _DAY_BEFORE.search(text[max(0, match.start() - 12) : match.start()]) or not near(*match.span()):
            continue
        year = match.group("y")
        found.append(MonthRef(_FULL_MONTHS[match.group("m").casefold()], int(year) if year else None))
        if len(found) >= _MAX_MONTHS:
            break
    return list(dict.fromkeys(found))


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


def in_month(ref: MonthRef, meeting_dates: Sequence[dt.date], today: dt.date) -> list[dt.date]:
    """The meeting dates from today on in the month named: in that year, or without one in its next
    occurrence (this year's month if it has not ended, else next year's)."""
    year = ref.year
    if year is None:
        year = today.year if ref.month >= today.month else today.year + 1
    return sorted(d for d in meeting_dates if d >= today and (d.year, d.month) == (year, ref.month))


def weekday_differs(ref: DateRef, day: dt.date) -> bool:
    """The text names a weekday next to the date that is not the date's own ("vrijdag 17 juni" on a Thursday)."""
    return ref.weekday is not None and ref.weekday != day.weekday()
