"""Render once, fill in per recipient: a text cut at its marks (named holes), then filled in by a %-format.

Letters (letters.py) mark the personal values in a rendered str, cut at whole lines so that the rest is encoded
once (mime._qp); the list (listmail.py) marks them in the encoded bytes of the member copy. Both cut once and
fill per recipient here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import AnyStr, Generic


@dataclass(frozen=True)
class Holes(Generic[AnyStr]):
    """A text with named holes, as a %-format: filling in is one C call (a join in Python costs twice that)."""
    format: AnyStr  # the text between the holes, each '%' doubled, a %s for each hole
    names: tuple[str, ...]

    def fill(self, values: Mapping[str, AnyStr]) -> AnyStr:
        return self.format % tuple(map(values.__getitem__, self.names))


def cut(text: AnyStr, mark: re.Pattern[AnyStr]) -> Holes[AnyStr]:
    """text cut at the matches of mark, whose one group is the hole's name."""
    parts = mark.split(text)
    if isinstance(text, str):
        return Holes("%s".join(part.replace("%", "%%") for part in parts[0::2]), tuple(parts[1::2]))
    return Holes(b"%s".join(part.replace(b"%", b"%%") for part in parts[0::2]),
                 tuple(name.decode() for name in parts[1::2]))


@dataclass(frozen=True)
class Lines:
    """A text in pieces at line starts: every line holding a mark is a piece of its own, with holes; the text
    between them is one str, the same object for everyone (mime._qp encodes it once)."""
    pieces: tuple[str, ...]  # a line with holes: its format, replaced when filled in
    holes: tuple[tuple[int, Holes[str]], ...]

    def fill(self, values: Mapping[str, str]) -> tuple[str, ...]:
        out = list(self.pieces)
        for at, holes in self.holes:
            out[at] = holes.fill(values)
        return tuple(out)


def cut_lines(text: str, mark: re.Pattern[str]) -> Lines:
    pieces: list[str] = []
    holes: list[tuple[int, Holes[str]]] = []
    start = 0
    while (found := mark.search(text, start)) is not None:
        line = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.start()) + 1 or len(text)
        if line > start:
            pieces.append(text[start:line])
        holes.append((len(pieces), cut(text[line:end], mark)))
        pieces.append(holes[-1][1].format)
        start = end
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return Lines(tuple(pieces), tuple(holes))
