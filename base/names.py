"""Display names as people say them: Exchange writes "Vries, Anouk de" and "JANSEN, P. (Piet)"; we greet
"Anouk de Vries" and "Piet Jansen". Only the clear "Last, First [tussenvoegsel]" form is turned round; any
other name is kept as written.
"""
from __future__ import annotations

import re

# Dutch (and Flemish, German, French) name particles, lower case; "in 't" and "op de" are two of them in a row.
TUSSENVOEGSELS = frozenset({
    "van", "de", "der", "den", "het", "'t", "ter", "ten", "te", "in", "op", "aan", "bij", "uit", "onder",
    "la", "le", "du", "da", "di", "des", "von", "vom", "zu", "'s",
})
_MAX_LENGTH = 80  # longer is no name Exchange wrote: kept as written, and no work spent on it
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+(?:[^\W\d_])?")  # "P." "P.J." "P.J.M"
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")  # "Jansen" "Bakker-de" "O'Brien"
_CALLING_NAME = re.compile(r"\(([^\W\d_][^\W\d_'’-]*)\)")  # "(Piet)"


def _particle(word: str) -> bool:
    return word.lower().replace("’", "'") in TUSSENVOEGSELS


def _name_word(word: str) -> bool:
    return bool(_WORD.fullmatch(word)) and not _particle(word)


def _cased(word: str) -> str:
    """JANSEN -> Jansen; a word in mixed or lower case, and initials, are kept."""
    if len(word) > 1 and word.isupper() and _WORD.fullmatch(word):
        return "-".join(part.capitalize() for part in word.split("-"))
    return word


def _particles(words: list[str]) -> bool:
    return all(_particle(w) for w in words)


def natural_name(name: str) -> str:
    """"Vries, Anouk de" -> "Anouk de Vries"; "Jansen, P. (Piet)" -> "Piet Jansen"; "JANSEN, Piet" -> "Piet
    Jansen". Anything else (no comma, more than one, a department or organisation) is returned unchanged."""
    if "," not in name or len(name) > _MAX_LENGTH or name.count(",") != 1:
        return name
    last_part, first_part = (p.split() for p in name.split(","))
    # the family name: one word, maybe after particles ("de Vries, Anouk")
    if not last_part or not _name_word(last_part[-1]) or not _particles(last_part[:-1]):
        return name
    calling = None
    if first_part and _CALLING_NAME.fullmatch(first_part[-1]):
        calling = first_part.pop()[1:-1]
    # given names or initials, then particles: "Anouk de", "P.J. van der", "Anna Maria"
    split = len(first_part)
    while split > 0 and _particle(first_part[split - 1]):
        split -= 1
    given, particles = first_part[:split], first_part[split:]
    if not given or len(given) > 3:
        return name
    if calling is not None:
        if not all(_INITIALS.fullmatch(g) for g in given):
            return name  # "(Gemeente)" after a given name is no calling name: keep it all as written
        given = [calling]
    elif not all(_name_word(g) or _INITIALS.fullmatch(g) for g in given):
        return name
    if any(w[0].islower() for w in given) or last_part[-1][0].islower():
        return name  # "gemeente Schiedam, afdeling": words, not a name
    before = [w.lower() if w.isupper() else w for w in [*particles, *last_part[:-1]]]
    return " ".join([*(_cased(g) for g in given), *before, _cased(last_part[-1])])
