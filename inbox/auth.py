"""Spoofing check on Authentication-Results headers (RFC 8601).

Only headers added by our own receiving server are believed: anyone can put
an Authentication-Results header in a message they send.
"""

from __future__ import annotations

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


def tokenize(text: str) -> list[Token]:
    """Words, ';' and '=' of a header value; comments dropped, quotes removed.
    Comments may nest and hold ';' and '='; unterminated ones run to the end."""
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
            depth = 0
            while i < n:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                word.append(text[i])
                i += 1
            if not word:
                word.append("")  # keep an empty quoted string as a word
        elif c in ";=":
            flush()
            tokens.append((c, c))
        elif c.isspace():
            flush()
        else:
            word.append(c)
        i += 1
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
    exchange = _trusts_exchange_form(msg, authserv_id)
    trusted: list[AuthResults] = []
    for value in raw_values(msg, "Authentication-Results"):
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
