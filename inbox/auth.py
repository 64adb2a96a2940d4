"""Spoofing check on Authentication-Results headers (RFC 8601).

Only headers added by our own receiving server are believed: anyone can put
an Authentication-Results header in a message they send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from inbox.loops import has_header, raw_values

__all__ = ["EXCHANGE_ONLINE", "AuthResults", "dmarc_failed", "parse_authentication_results"]

# Configure authserv_id as this to trust Exchange Online's id-less headers.
EXCHANGE_ONLINE = "exchange-online"

# Exchange stamps these itself and strips them from mail arriving from outside.
EXCHANGE_ORG_HEADERS = (
    "X-MS-Exchange-Organization-AuthAs",
    "X-MS-Exchange-Organization-AuthSource",
)


@dataclass(frozen=True)
class Result:
    method: str  # lower-cased, without version: 'dmarc'
    result: str  # lower-cased: 'fail'
    props: dict[str, str] = field(default_factory=dict)  # 'header.from' -> 'x.nl'


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str | None  # None: Exchange Online's form (or garbage)
    results: list[Result]


# --- tokenizer ----------------------------------------------------------
# Hand-written: no maintained RFC 8601 parser on PyPI handles Exchange's form.

Token = tuple[str, str]  # (kind, text); kind is 'word', ';' or '='


# The scanner below reads runs of characters with these instead of one character per loop (a header of 400
# characters took 40 us). \s is exactly str.isspace().
_WORD_RUN = re.compile(r'[^\s;=("]+')  # characters that simply join the current word (')' and backslash too)
_SPACE_RUN = re.compile(r"\s+")
# A quoted string: a backslash takes the next character literally; one at the very end stands for itself.
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)(\\?)"?', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_COMMENT_PART = re.compile(r"\\.?|[()]|[^\\()]+", re.DOTALL)


def _comment_end(text: str, start: int) -> int:
    """Where the comment opening at text[start] ends (nested; a backslash escapes); unterminated: the end."""
    depth = 0
    for part in _COMMENT_PART.finditer(text, start):
        if part.group() == "(":
            depth += 1
        elif part.group() == ")":
            depth -= 1
            if depth == 0:
                return part.end()
    return len(text)


_PLAIN_TOKEN = re.compile(r"[;=]|[^\s;=]+")


def _without_comments(text: str) -> str:
    """The text with each comment replaced by a space (which, like a comment, ends a word). No quotes in text."""
    parts: list[str] = []
    i = 0
    while (start := text.find("(", i)) != -1:
        parts += [text[i:start], " "]
        i = _comment_end(text, start)
    parts.append(text[i:])
    return "".join(parts)


def tokenize(text: str) -> list[Token]:
    """Words, ';' and '=' of a header value; comments dropped, quotes removed.
    Comments may nest and hold ';' and '='; unterminated ones run to the end."""
    if '"' not in text:  # the usual header: then one regex finds all tokens once the comments are gone
        return [(t, t) if t in (";", "=") else ("word", t) for t in _PLAIN_TOKEN.findall(_without_comments(text))]
    tokens: list[Token] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            tokens.append(("word", "".join(word)))
            word.clear()

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "(":
            flush()
            i = _comment_end(text, i)
        elif c == '"':  # joins the current word, like any other characters
            quoted = _QUOTED.match(text, i)  # matches any text that starts with '"'
            body, lone_backslash = quoted.groups()  # type: ignore[union-attr]
            content = _QUOTED_PAIR.sub(lambda pair: pair.group(1), body) + lone_backslash
            if content:
                word.append(content)
            if not word:
                word.append("")  # keep an empty quoted string as a word
            i = quoted.end()  # type: ignore[union-attr]
        elif c in ";=":
            flush()
            tokens.append((c, c))
            i += 1
        elif c.isspace():
            flush()
            i = _SPACE_RUN.match(text, i).end()  # type: ignore[union-attr]
        else:
            run = _WORD_RUN.match(text, i)  # c is no space, ';', '=', '(' or '"': a run of at least c
            word.append(run.group())  # type: ignore[union-attr]
            i = run.end()  # type: ignore[union-attr]
    flush()
    return tokens


def _segments(tokens: list[Token]) -> list[list[Token]]:
    segments: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == ";":
            segments.append([])
        else:
            segments[-1].append(token)
    return segments


def _pairs(segment: list[Token]) -> list[tuple[str, str]]:
    """The key=value pairs of one segment, in order; stray words are skipped."""
    pairs: list[tuple[str, str]] = []
    for j in range(1, len(segment) - 1):
        key, eq, value = segment[j - 1], segment[j], segment[j + 1]
        if eq[0] == "=" and key[0] == "word" and value[0] == "word":
            pairs.append((key[1].lower(), value[1]))
    return pairs


def _result(segment: list[Token]) -> Result | None:
    pairs = _pairs(segment)
    if not pairs:
        return None
    props: dict[str, str]
    (method, result), props = pairs[0], {}
    for key, value in pairs[1:]:
        props.setdefault(key, value)
    return Result(method.split("/", 1)[0], result.lower(), props)


def parse_authentication_results(value: str) -> AuthResults:
    """Parse one header value.  RFC 8601 starts with the authserv-id; Exchange
    Online's form starts straight with 'spf=...' and has none."""
    segments = _segments(tokenize(value))
    head = segments[0]
    authserv_id: str | None = None
    if any(kind == "=" for kind, _ in head):
        body = segments  # Exchange form: the first segment is a result
    else:
        words = [text for kind, text in head if kind == "word"]
        authserv_id = words[0] if words else None
        body = segments[1:]
    results = [r for r in map(_result, body) if r is not None]
    return AuthResults(authserv_id, results)


# --- decision -----------------------------------------------------------


def _domain(value: str) -> str:
    return value.strip().rpartition("@")[2].rstrip(".").lower()


def _trusts_exchange_form(msg: Message, authserv_id: str | None) -> bool:
    if authserv_id is not None:
        return authserv_id.strip().lower() == EXCHANGE_ONLINE
    return any(has_header(msg, name) for name in EXCHANGE_ORG_HEADERS)


def _is_ours(header: AuthResults, authserv_id: str | None, exchange: bool) -> bool:
    if header.authserv_id is None:
        return exchange and bool(header.results)
    if authserv_id is None or authserv_id.strip().lower() == EXCHANGE_ONLINE:
        return False
    return header.authserv_id.lower() == authserv_id.strip().lower()


def trusted_headers(msg: Message, authserv_id: str | None) -> list[AuthResults]:
    """The topmost run of headers added by our own server.  A header below a
    foreign one was already there before that foreign hop: not ours."""
    values = raw_values(msg, "Authentication-Results")
    if not values:  # nothing to trust, so no need to look for Exchange's own headers either
        return []
    exchange = _trusts_exchange_form(msg, authserv_id)
    trusted: list[AuthResults] = []
    for value in values:
        header = parse_authentication_results(value)
        if not _is_ours(header, authserv_id, exchange):
            break
        trusted.append(header)
    return trusted


def dmarc_failed(msg: Message, *, authserv_id: str | None, sender_domain: str) -> bool:
    """True when a trusted Authentication-Results header says dmarc=fail for
    sender_domain (or dmarc=fail without header.from).  pass, none,
    bestguesspass, temperror and untrusted headers give False."""
    domain = _domain(sender_domain)
    for header in trusted_headers(msg, authserv_id):
        for result in header.results:
            if result.method != "dmarc" or result.result != "fail":
                continue
            header_from = result.props.get("header.from")
            if header_from is None or _domain(header_from) == domain:
                return True
    return False
