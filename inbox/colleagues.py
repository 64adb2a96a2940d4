"""Colleagues a registration names: "ik meld mezelf en mijn collega Piet Jansen (p.jansen@gemeente.nl) aan".
Pure: the sender's own text in, (address, name) pairs out. Nobody is registered on someone else's word: each
colleague is invited to confirm by reply (inbox/registration_handlers.py invite_colleagues).
"""
from __future__ import annotations

import re

from base.text import clean
from inbox.decision import Colleague
from inbox.message import address_problem

MAX_COLLEAGUES = 3  # per mail: more is a mailing, not a colleague or two
_MAX_TEXT = 3000  # the top of the sender's own text: where people write it
_MAX_ADDRESSES = 20
_ADDRESS = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# "collega", "collega's", "colleague(s)", before the address in the same sentence
_COLLEAGUE = re.compile(r"\b(?:collega(?:'s|s)?|colleagues?)\b", re.IGNORECASE)
# the sentence also signs up: "meld ... aan", "aanmelden", "komt ook", "neem ... mee", "register", "sign up"
_SIGNS_UP = re.compile(r"\b(?:meld\w*|aanmeld\w*|inschrijv\w*|schrijf\w*|kom\w*|neem\w*|register\w*|"
                       r"sign\w*|bring\w*|join\w*)", re.IGNORECASE)
# a sentence ends at . ! ? ; or a blank line, not at the dot of an initial ("P. de Vries")
_SENTENCE_END = re.compile(r"(?<!\b[^\W\d_])[.!?;](?=\s)|\n[^\S\n]*\n")
_WORD = r"[^\W\d_](?:[^\W\d_]|['’.-])*"
_NAME = re.compile(rf"(?<![^\W\d_'’.-])({_WORD}(?:\s+{_WORD}){{0,4}})\s*[(<,:]?\s*$")
_NOT_NAME = {"mijn", "ook", "en", "het", "my", "and", "also", "van", "met", "aan", "is", "heet", "namelijk"}


def _sentence_before(text: str, start: int) -> str:
    """The text from the start of the sentence that holds position start, up to it (at most 200 characters)."""
    window = text[max(0, start - 200) : start]
    ends = list(_SENTENCE_END.finditer(window))
    return window[ends[-1].end() :] if ends else window


def _name_before(sentence: str) -> str:
    """The name right before the address: "Piet Jansen" in "mijn collega Piet Jansen (" or in "collega's Els
    (e@x.nl) en Piet Jansen <"; '' when the words there are no name."""
    words = _NAME.search(sentence)
    if words is None:
        return ""
    kept: list[str] = []
    for word in reversed(words.group(1).split()):
        if word.lower() in _NOT_NAME or _COLLEAGUE.fullmatch(word):
            break
        kept.insert(0, word)
    name = clean(" ".join(kept)).strip(" .")
    return name if name[:1].isupper() else ""


def colleagues_named(text: str, sender: str, own: frozenset[str] = frozenset()) -> tuple[Colleague, ...]:
    """Colleagues the sender signs up in their own text: an address in a sentence that says "collega" before it
    and signs up (meld ... aan, komt ook). Never the sender, nor one of our own addresses; at most
    MAX_COLLEAGUES, each once."""
    text = text[:_MAX_TEXT]
    if not _COLLEAGUE.search(text):
        return ()
    found: dict[str, Colleague] = {}
    for count, match in enumerate(_ADDRESS.finditer(text)):
        if count >= _MAX_ADDRESSES or len(found) >= MAX_COLLEAGUES:
            break
        address = match.group(0).strip(".'-").lower()
        if address == sender or address in own or address in found or address_problem(address):
            continue
        sentence = _sentence_before(text, match.start())
        after = _SENTENCE_END.split(text[match.end() : match.end() + 200], maxsplit=1)[0]
        if not _COLLEAGUE.search(sentence) or not (_SIGNS_UP.search(sentence) or _SIGNS_UP.search(after)):
            continue
        found[address] = Colleague(address, _name_before(sentence))
    return tuple(found.values())
