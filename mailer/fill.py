"""Render once, fill in per recipient: a text cut at its marks (named holes), then filled by joins.

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
    """literals[0], the value of names[0], literals[1], ..., literals[-1]."""
    literals: tuple[AnyStr, ...]
    names: tuple[str, ...]

    def fill(self, values: Mapping[str, AnyStr]) -> AnyStr:
        out = [self.literals[0]]
        for name, literal in zip(self.names, self.literals[1:]):
            out += (values[name], literal)
        return self.literals[0][:0].join(out)


def cut(text: AnyStr, mark: re.Pattern[AnyStr]) -> Holes[AnyStr]:
    """text cut at the matches of mark, whose one group is the hole's name."""
    parts = mark.split(text)
    names = tuple(name.decode() if isinstance(name, bytes) else name for name in parts[1::2])
    return Holes(tuple(parts[0::2]), names)


Lines = tuple["str | Holes[str]", ...]
"""A text in pieces at line starts: every line holding a mark is a piece of its own, with holes; the text
between them is one str, the same object for everyone."""


def cut_lines(text: str, mark: re.Pattern[str]) -> Lines:
    pieces: list[str | Holes[str]] = []
    start = 0
    while (found := mark.search(text, start)) is not None:
        line = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.start()) + 1 or len(text)
        if line > start:
            pieces.append(text[start:line])
        pieces.append(cut(text[line:end], mark))
        start = end
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return tuple(pieces)


def fill_lines(pieces: Lines, values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple([piece if isinstance(piece, str) else piece.fill(values) for piece in pieces])
