"""Decide which incoming messages must never be answered automatically.

RFC 3834 and common practice: machine mail (auto-replies, bounces, list
traffic, newsletters, our own mail coming back) gets no auto-reply and no
registration.  Every rule is a small function returning a short English
reason, or None; RULES fixes the order in which they are tried.

Headers are always read from the raw stored strings, never through the
email.policy.default header objects: in Python 3.11 reading a From whose
encoded display name holds CR/LF raises ValueError, and one bad header must
not stop the decision.
"""

from __future__ import annotations

import email.policy
import email.utils
import functools
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from email.header import decode_header, make_header
from email.message import Message

from mailer.msgid import is_own

__all__ = ["RULES", "no_reply_reason", "reply_suppressed"]


@dataclass(frozen=True)
class Context:
    """What the rules need to know about ourselves."""

    own_addresses: frozenset[str]  # lower-cased addr-specs
    secret: bytes  # the installation secret: our Message-IDs carry its mark (mailer/msgid.py)


Rule = Callable[[Message, Context], str | None]

# Local parts that only machines send from (RFC 2142 and common practice).
MACHINE_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
)

# Subject prefixes of out-of-office replies that carry no machine headers.
OUT_OF_OFFICE_PREFIXES = (
    "automatisch antwoord",
    "afwezig",
    "out of office",
    "automatic reply",
    "autoreply",
    "abwesenheit",
)

_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")


# --- safe header access -------------------------------------------------


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


# The decide rules ask for some 60 header values per message; each used to walk all headers. The values are
# indexed once per message and the index is reused while the message's headers are unchanged.
class _Headers:
    """One message's headers as they were when indexed, and facts derived from nothing but them."""

    __slots__ = ("items", "names", "values", "memo")

    def __init__(self, items: list[Any], names: frozenset[str], values: dict[str, list[str]]) -> None:
        self.items = items  # a copy: compared with the message's current headers before every reuse
        self.names = names
        self.values = values
        self.memo: dict[Any, Any] = {}


_INDEX: weakref.WeakKeyDictionary[Message, _Headers] = weakref.WeakKeyDictionary()
# The message being decided is asked about many times in a row: a weak reference to it skips the
# WeakKeyDictionary lookup. A tuple, so that threads always see a matching pair.
_LAST: tuple[weakref.ref[Message], _Headers] | None = None


def _index(msg: Message) -> _Headers | None:
    global _LAST
    try:
        # The (name, value) header list itself: raw_items() would copy it into a new iterator on every call.
        items = getattr(msg, "_headers", None)
        if type(items) is not list or type(msg).raw_items is not Message.raw_items:
            items = list(msg.raw_items())
        last = _LAST
        if last is not None and last[0]() is msg and last[1].items == items:
            return last[1]
        cached = _INDEX.get(msg)
        if cached is None or cached.items != items:
            cached = _INDEX[msg] = _build_index(items)
        _LAST = (weakref.ref(msg), cached)
        return cached
    except Exception:  # not indexable (or not weak-referenceable): the plain walk below
        return None


def _build_index(items: list[Any]) -> _Headers:
    values: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for key, value in items:
        name = str(key).lower()
        try:
            text = _unfold(str(value))
        except Exception:  # e.g. a Header object with an unknown charset: its name still counts
            unreadable.append(name)
            continue
        found = values.get(name)
        if found is None:
            values[name] = [text]
        else:
            found.append(text)
    return _Headers(list(items), frozenset(values).union(unreadable), values)


def by_headers(msg: Message, key: Any, compute: Callable[[], Any]) -> Any:
    """compute(), remembered with the message's header index while its headers stay unchanged. Only for
    facts that depend on nothing but the headers and `key`; the value must be immutable (callers copy)."""
    index = _index(msg)
    if index is None:
        return compute()
    try:
        return index.memo[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable key: nothing to remember the value by
        return compute()
    value = index.memo[key] = compute()
    return value


def raw_values(msg: Message, name: str) -> list[str]:
    """All values of header `name`, unfolded, as stored; never raises."""
    wanted = name.lower()
    index = _index(msg)
    if index is not None:
        return list(index.values.get(wanted, ()))
    values: list[str] = []
    try:
        items = list(msg.raw_items())
    except Exception:  # a broken Message object: behave as if headerless
        return values
    for key, value in items:
        if str(key).lower() != wanted:
            continue
        try:
            values.append(_unfold(str(value)))
        except Exception:  # e.g. a Header object with an unknown charset
            continue
    return values


def has_header(msg: Message, name: str) -> bool:
    index = _index(msg)
    if index is not None:
        return name.lower() in index.names
    try:
        return any(str(key).lower() == name.lower() for key, _ in msg.raw_items())
    except Exception:
        return False


def _first_word(value: str) -> str:
    """The leading keyword of a header value, lower-cased: 'Auto-Replied; x' -> 'auto-replied'."""
    return re.split(r"[\s;,(]", value.strip(), maxsplit=1)[0].lower()


def _decoded(value: str) -> str:
    """Decode RFC 2047 encoded words, falling back to the raw text."""
    if "=?" not in value:  # no encoded word: decode_header/make_header would give the text back unchanged
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


@functools.lru_cache(maxsize=1024)  # decide reads the same To/From many times per message (a pure function)
def _mailboxes(raw: str) -> tuple[tuple[str, str], ...]:
    """(local part, addr-spec) pairs of an address header value; never raises."""
    return tuple(_parse_mailboxes(raw))


# The common case, `Name <local@domain>` with a plain display name (encoded words allowed: they are not
# decoded here) and a dot-atom address: answered without the (slow) RFC 5322 header parser, same result.
_SIMPLE_MAILBOX = re.compile(
    r"\s*[^<>\"(),;:@\[\]\\.]*<(?P<local>[A-Za-z0-9_%+=-]+(?:\.[A-Za-z0-9_%+=-]+)*)"
    r"@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>\s*")


# The RFC 5322 parser takes 20 to 50 microseconds per character of an odd address list (a 160 KB "x x x" took
# 80 s): longer values are read by the legacy parser, which takes one to four.
_STRICT_LIMIT = 256


def _parse_mailboxes(raw: str) -> list[tuple[str, str]]:
    simple = _SIMPLE_MAILBOX.fullmatch(raw)
    if simple:
        return [(simple.group("local"), f"{simple.group('local')}@{simple.group('domain')}")]
    try:
        if len(raw) > _STRICT_LIMIT:
            raise ValueError("too long for the RFC 5322 parser")
        header = email.policy.default.header_factory("from", raw)
        return [(a.username, a.addr_spec) for a in header.addresses]
    except Exception:
        # Fall back to the lenient legacy parser; blank out encoded words so a
        # display name cannot smuggle in addresses of its own.
        pairs = email.utils.getaddresses([_ENCODED_WORD.sub('""', raw)])
        return [(spec.rpartition("@")[0] if "@" in spec else spec, spec) for _, spec in pairs]


def mailboxes(msg: Message, name: str) -> list[tuple[str, str]]:
    index = _index(msg)
    raws = index.values.get(name.lower(), ()) if index is not None else raw_values(msg, name)
    return [pair for raw in raws for pair in _mailboxes(raw)]


def content_type(msg: Message) -> str:
    """The top-level content type, lower-cased, from the raw header ('' if none)."""
    values = raw_values(msg, "Content-Type")
    return values[0].split(";", 1)[0].strip().lower() if values else ""


# --- the rules ----------------------------------------------------------


def auto_submitted(msg: Message, ctx: Context) -> str | None:
    """RFC 3834: any Auto-Submitted value except 'no' marks machine mail."""
    for value in raw_values(msg, "Auto-Submitted"):
        if _first_word(value) != "no":
            return f"Auto-Submitted: {value.strip() or '(empty)'}"
    return None


def precedence(msg: Message, ctx: Context) -> str | None:
    """Precedence: bulk, junk or list (de facto standard of vacation(1))."""
    for value in raw_values(msg, "Precedence"):
        if _first_word(value) in ("bulk", "junk", "list"):
            return f"Precedence: {_first_word(value)}"
    return None


def list_headers(msg: Message, ctx: Context) -> str | None:
    """RFC 2369/2919/8058: List-* headers mean mailing-list or newsletter mail."""
    index = _index(msg)
    if index is not None and not any(name.startswith("list-") for name in index.names):
        return None  # the usual case, told by the lower-cased names without walking the headers again
    try:
        names = [str(key) for key, _ in msg.raw_items()]
    except Exception:
        return None
    for name in names:
        if name.lower().startswith("list-"):
            return f"mailing-list header {name}"
    return None


def x_autoreply(msg: Message, ctx: Context) -> str | None:
    """Non-standard markers set by vacation programs and autoresponders."""
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if has_header(msg, name):
            return f"{name} header"
    return None


def null_return_path(msg: Message, ctx: Context) -> str | None:
    """Empty envelope sender '<>': bounces and other notifications (RFC 5321 4.5.5)."""
    for value in raw_values(msg, "Return-Path"):
        if re.sub(r"\s", "", value) == "<>":
            return "empty Return-Path <>"
    return None


def machine_sender(msg: Message, ctx: Context) -> str | None:
    """From, Sender or Return-Path is mailer-daemon, postmaster, noreply and the like."""
    for name in ("From", "Sender", "Return-Path"):
        for local, spec in mailboxes(msg, name):
            if local.lower() in MACHINE_LOCAL_PARTS:
                return f"machine sender {spec} in {name}"
    return None


def from_ourselves(msg: Message, ctx: Context) -> str | None:
    """Mail from one of our own addresses would make us answer ourselves."""
    for _, spec in mailboxes(msg, "From"):
        if spec.lower() in ctx.own_addresses:
            return f"From is our own address {spec}"
    return None


def own_message_id(msg: Message, ctx: Context) -> str | None:
    """Our own Message-ID, told by the installation's mark (mailer/msgid.py), never by its domain: one of our
    messages came back. An organiser at our own domain, whose client makes Message-IDs at it, is a person."""
    for value in raw_values(msg, "Message-ID"):
        if is_own(ctx.secret, value):
            return f"our own Message-ID {value.strip()}"
    return None


def out_of_office_subject(msg: Message, ctx: Context) -> str | None:
    """Out-of-office replies from clients that set no machine headers at all."""
    for value in raw_values(msg, "Subject"):
        subject = _decoded(value).strip().lower()
        for prefix in OUT_OF_OFFICE_PREFIXES:
            if subject.startswith(prefix):
                return f"out-of-office subject {_decoded(value).strip()!r}"
    return None


def exchange_rule_loop(msg: Message, ctx: Context) -> str | None:
    """Exchange stamps both headers on mail generated or forwarded by inbox rules."""
    if has_header(msg, "X-MS-Exchange-Inbox-Rules-Loop") and has_header(
        msg, "X-Auto-Response-Suppress"
    ):
        return "Exchange inbox-rule mail (X-MS-Exchange-Inbox-Rules-Loop)"
    return None


def delivery_report(msg: Message, ctx: Context) -> str | None:
    """RFC 6522 multipart/report: DSNs, MDNs and other reports."""
    if content_type(msg) == "multipart/report":
        return "delivery report (multipart/report)"
    return None


def failed_recipients(msg: Message, ctx: Context) -> str | None:
    """Exim (and others) mark their bounces with X-Failed-Recipients."""
    if has_header(msg, "X-Failed-Recipients"):
        return "bounce (X-Failed-Recipients)"
    return None


# Tried in this order; the first reason wins.  Cheap, certain header checks
# come first, heuristics (subject prefixes) last.
RULES: list[Rule] = [
    auto_submitted,  # RFC 3834
    precedence,  # bulk / junk / list
    list_headers,  # List-Id, List-Unsubscribe, ...
    x_autoreply,  # X-Autoreply / X-Autorespond / X-Autoresponder
    null_return_path,  # bounces
    machine_sender,  # mailer-daemon, postmaster, noreply, ...
    from_ourselves,  # our own address in From
    own_message_id,  # our own message came back
    exchange_rule_loop,  # Exchange inbox rules
    delivery_report,  # multipart/report
    failed_recipients,  # X-Failed-Recipients
    out_of_office_subject,  # heuristic, last
]


def no_reply_reason(
    msg: Message, *, own_addresses: Iterable[str], secret: bytes
) -> str | None:
    """A short English reason why this message must get no automatic reply
    and no registration (it is machine mail), else None.  Never raises on
    malformed headers."""
    ctx = Context(
        own_addresses=frozenset(a.strip().lower() for a in own_addresses),
        secret=secret,
    )
    for rule in RULES:
        reason = rule(msg, ctx)
        if reason is not None:
            return reason
    return None


def reply_suppressed(msg: Message) -> bool:
    """True when the sender asks for no auto-reply (X-Auto-Response-Suppress
    with any value but 'None') on otherwise normal mail: process it, send
    nothing.  With the Exchange rule-loop header it is machine mail instead."""
    if has_header(msg, "X-MS-Exchange-Inbox-Rules-Loop"):
        return False
    for value in raw_values(msg, "X-Auto-Response-Suppress"):
        flags = [f.lower() for f in re.split(r"[\s,;]+", value) if f]
        if any(flag != "none" for flag in flags):
            return True
    return False
