"""Dates and times written the way readers expect: "donderdag 18 maart 2027, 14.00-17.00 uur"."""
from __future__ import annotations

import datetime as dt

# Why by hand: the locale module depends on installed OS locales; these few words never change.
_NL_DAYS = ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"]
_NL_MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
              "september", "oktober", "november", "december"]
_EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]


def long_date(day: dt.date, lang: str) -> str:
    if lang == "en":
        return f"{_EN_DAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    return f"{_NL_DAYS[day.weekday()]} {day.day} {_NL_MONTHS[day.month - 1]} {day.year}"


def short_date(day: dt.date, lang: str) -> str:
    """'18 maart 2027': the form people copy into a subject."""
    months = _EN_MONTHS if lang == "en" else _NL_MONTHS
    return f"{day.day} {months[day.month - 1]} {day.year}"


def time_range(start: str, end: str, lang: str) -> str:
    if lang == "en":
        return f"{start}-{end}"
    return f"{start.replace(':', '.')}-{end.replace(':', '.')} uur"


def when(day: dt.date, start: str, end: str, lang: str) -> str:
    return f"{long_date(day, lang)}, {time_range(start, end, lang)}"


def in_text(host: str, lang: str) -> str:
    """A host as running text writes it: "Gemeente Schiedam" -> "de gemeente Schiedam"."""
    word, _, rest = host.partition(" ")
    return f"de gemeente {rest}" if lang == "nl" and word.lower() == "gemeente" and rest else host


def moment(at: dt.datetime, lang: str) -> str:
    """'maandag 7 december 16.12 uur': a deadline within the coming days, as the letters write times."""
    if lang == "en":
        return f"{_EN_DAYS[at.weekday()]} {at.day} {_EN_MONTHS[at.month - 1]} {at:%H:%M}"
    return f"{_NL_DAYS[at.weekday()]} {at.day} {_NL_MONTHS[at.month - 1]} {at:%H.%M} uur"
