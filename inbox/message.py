"""Raw bytes in, plain values out: everything the decide step needs from one incoming message.

Reading never raises: malformed headers, bad charsets and broken MIME degrade to empty strings.

Reading is bounded: the email package's header parser takes 10 to 50 microseconds per character of a hostile
structured header, its feed parser some 0.1 microsecond per line and nesting level, and mail is read one message
at a time. So the parsed view (never the stored bytes) is cut to the limits below while it is built: see _Budget.
"""
from __future__ import annotations

import email
import email.policy
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from email.feedparser import FeedParser
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import Any

from base.html import html_to_text
from base.names import natural_name
from base.text import clean, part_text
from inbox.text import top_of_body

_MSGID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")  # no control characters: it goes into our In-Reply-To
MAX_TEXT = 200_000  # characters of body text we look at; the rest is never needed to decide


def safe_header(msg: Message, name: str) -> str:
    """A header as text; a header the email package cannot parse falls back to a lenient decode."""
    try:
        value = msg.get(name)
        return "" if value is None else _unescape(str(value))
    except Exception:  # the stdlib raises ValueError/IndexError/... on hostile headers
        raw = raw_header(msg, name)
        try:
            return str(make_header(decode_header(raw)))
        except Exception:
            return raw


def raw_header(msg: Message, name: str) -> str:
    """The undecoded header value, or ''; never raises."""
    try:
        wanted = name.lower()
        for key, value in msg.raw_items():
            if key.lower() == wanted:
                return _unescape(str(value))
    except Exception:
        pass
    return ""


_SURROGATE = re.compile("[\udc80-\udcff]")  # an undecodable byte, as the email package stores it


def _unescape(value: str) -> str:
    """8-bit header bytes arrive as lone surrogates, which no database or SMTP server takes: read them as
    UTF-8, else as Windows-1252 (what mailers that send raw 8-bit headers mostly mean)."""
    if value.isascii() or not _SURROGATE.search(value):
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_ANGLE = re.compile(r"^(?P<display>.*)<(?P<addr>[^<>\s@]+@[^<>\s@]+)>\s*$", re.DOTALL)


def parse_address(msg: Message, name: str) -> tuple[str, str]:
    """(display name, bare lower-case address) of an address header; ('', '') when unusable."""
    display, addr, _ = read_mailbox(raw_header(msg, name))
    return display, addr


def read_mailbox(raw: str) -> tuple[str, str, str]:
    """(display name, bare lower-case address, problem) of a header that must hold one mailbox. An address that
    is not a valid mailbox as written gives ('', '', what is wrong): it is never repaired.

    The address is read from the raw header, where it is never encoded: a display name that decodes to
    "Jan\r\nBcc: x@evil" must not be able to supply the address.
    """
    text = " ".join(raw.split())
    if not text:
        return "", "", "none given"
    found = _ANGLE.match(text) if text.count("<") == 1 else None
    if found:
        display, addr = found.group("display"), found.group("addr")
    else:
        try:
            pairs = getaddresses([text])
        except Exception:  # RecursionError on deeply nested comments, among others
            return "", "", "unreadable"
        addresses = [pair for pair in pairs if pair[1]]
        if len(addresses) > 1:
            return "", "", "more than one address"
        if not addresses:
            return "", "", "no address"
        display, addr = addresses[0]
        if addr not in text:  # the legacy parser joined it up, e.g. across spaces or comments: not as written
            return "", "", "not a valid address"
    problem = address_problem(addr)
    if problem:
        return "", "", problem
    display = display.strip().strip('"').strip()
    if "=?" in display:  # without an encoded word, decode_header + make_header give the text back unchanged
        try:
            display = str(make_header(decode_header(display)))
        except Exception:
            pass
    return clean(display).strip("'\" "), addr.lower(), ""


MAX_ADDRESS = 254  # octets (RFC 5321 4.5.3.1, as the path less its angle brackets)
MAX_LOCAL = 64
MAX_LABEL = 63
# A dot-atom (RFC 5322 3.2.3) whose atext may be any character beyond ASCII (RFC 6532): no quoted local parts,
# no comments, no domain literals. Which characters beyond ASCII are allowed is told below, by category.
_ATEXT = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL_CHAR = r"(?:[A-Za-z0-9]|[^\x00-\x7f])"
_LABEL = rf"{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-){{0,{MAX_LABEL - 2}}}{_LABEL_CHAR})?"  # the length of an ASCII one
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_NOT_IN_LOCAL = ("C", "Z")  # control, format, surrogate, private use, unassigned; any kind of space
_IN_DOMAIN = ("L", "M", "N")  # letters, marks, digits: what an internationalised domain label is made of


def address_problem(addr: str) -> str:
    """'' for a syntactically valid mailbox local@domain as written, else what is wrong with it."""
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        return "no local part and domain"
    if "=?" in addr or "?=" in addr:
        return "an encoded word in the address"
    ascii = addr.isascii()
    if (len(addr) if ascii else len(addr.encode("utf-8", "surrogatepass"))) > MAX_ADDRESS:
        return "address too long"
    if (len(local) if ascii else len(local.encode("utf-8", "surrogatepass"))) > MAX_LOCAL:
        return "local part too long"
    if not _LOCAL.fullmatch(local):
        return "not a valid local part"
    if not _DOMAIN.fullmatch(domain) or domain.rpartition(".")[2].isdigit():
        return "not a valid domain"
    if ascii:
        return ""
    if any(unicodedata.category(c)[0] in _NOT_IN_LOCAL for c in local if not c.isascii()):
        return "a space or control character in the local part"
    if any(unicodedata.category(c)[0] not in _IN_DOMAIN for c in domain if not c.isascii()):
        return "not a valid domain"
    if any(not label.isascii() and len(label.encode("punycode")) + 4 > MAX_LABEL for label in domain.split(".")):
        return "not a valid domain"  # its A-label (xn--...) is too long
    return ""


def _walk(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except Exception:
        return [msg]


SCAN_LINES = 10_000
SCAN_CHARS = 256 * 1024


def scan_copy(msg: Message, lines: int = SCAN_LINES, chars: int = SCAN_CHARS) -> Message:
    """A copy of msg whose undecoded payloads hold at most `lines` lines and `chars` characters in all, for
    scanners that run dozens of regexes over every line of every part (flufl.bounce: some 10 us a line and
    0.25 us a character). The headers and the tree are kept; the parts are the same kind of object."""
    left = [lines, chars]

    def copy(part: Message) -> Message:
        clone = type(part)(policy=part.policy)
        for key, value in part.raw_items():
            clone.set_raw(key, value)
        clone.set_default_type(part.get_default_type())
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    clone.attach(copy(sub))
        elif isinstance(payload, str):
            end = min(len(payload), left[1])
            position = -1
            for _ in range(left[0]):
                position = payload.find("\n", position + 1, end)
                if position < 0:
                    break
            else:
                end = position + 1
            left[0] -= payload.count("\n", 0, end)
            left[1] -= end
            clone.set_payload(payload[:end])
        return clone

    return copy(msg)


@dataclass(frozen=True)
class Incoming:
    """What one message says, as plain values."""

    sender: str  # bare address, lower case; '' when there is none
    name: str  # display name, one clean line
    subject: str  # one clean line
    own_text: str  # the sender's own words: body text above any quoted part
    message_id: str
    references: tuple[str, ...]
    calendar: bytes | None  # the first text/calendar part, if any
    msg: Message = field(repr=False, compare=False)
    sender_problem: str = ""  # why sender is '': "no usable From address: ..."


class _CachingHeaderRegistry(HeaderRegistry):
    """The default policy parses a header again on every access (the parser itself reads Content-Type several
    times per part), which was most of the cost of reading a message. Header objects are immutable, and most
    values (Content-Type, Content-Transfer-Encoding, MIME-Version, To) repeat from message to message: parse
    each (name, value) once."""

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is str and len(value) <= 4096:
            return _cached_header(self, name, value)
        return super().__call__(name, value)


@functools.lru_cache(maxsize=4096)
def _cached_header(registry: HeaderRegistry, name: str, value: str) -> BaseHeader:
    return HeaderRegistry.__call__(registry, name, value)


# --- the limits of the parsed view ------------------------------------------------------------------------------
# Real mail stays far below each of these. Cutting a header keeps its start; past a limit on headers, the header
# is left out; past a limit on the whole message, the parser is fed no more of it.

HEADER_LIMIT = 8192  # characters of one header value, unfolded
HEADER_LIMITS = {
    "subject": 2048,
    "references": 16384,  # the end of it is kept: the latest message-ids
    "content-type": 2048,
    "content-disposition": 2048,
    "content-transfer-encoding": 256,
}
MAX_HEADERS = 500  # headers of one part
MAX_HEADER_BYTES = 256 * 1024  # characters of the headers of one part
MAX_ADDRESSES = 100  # addresses kept of one address header: cut before the 101st comma
# Headers that hold addresses, which the decide step parses with the (slow) RFC 5322 parser.
ADDRESS_HEADERS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to", "resent-cc",
    "resent-bcc", "return-path", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
    "disposition-notification-to", "errors-to", "mail-followup-to", "mail-reply-to", "x-failed-recipients",
})
MAX_TOP_ADDRESS_HEADERS = 32  # address headers of the message itself (those of inner parts are never parsed)
MAX_TOP_ADDRESS_BYTES = 64 * 1024
# The MIME headers the parser and the decide step parse for every part: at most this many characters of them in
# the whole message (some 250 attachments); past it the message is read no further.
MIME_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
MAX_MIME_BYTES = 48 * 1024
MAX_PARTS = 1000  # MIME parts (and nested messages) read; then the message is read no further
MAX_DEPTH = 100  # a part nested deeper is read as an opaque application/octet-stream
# The feed parser's work, in units of some 10 ns: per character, per line (and per enclosing multipart, whose
# boundary it tests every line against), and per colon (a header line costs the most). MAX_WORK is some 0.7 s: a
# message of 2 levels may have 60 MB of base64, one of 100 levels 40,000 lines.
CHAR_WORK = 1
LINE_WORK = 25
DEPTH_WORK = 10
HEADER_WORK = 110
MAX_WORK = 70_000_000


def bound_header(name: str, value: str) -> str:
    """One header value cut to its limit: the first MAX_ADDRESSES addresses of an address header, the end of
    References, the start of any other."""
    return _bound(name.lower(), value)


_SHORT = min(HEADER_LIMITS.values())  # a value no longer than this needs cutting only if it holds addresses
_CHECKED = ADDRESS_HEADERS | MIME_HEADERS


def _bound(key: str, value: str) -> str:
    limit = HEADER_LIMITS.get(key, HEADER_LIMIT)
    if key in ADDRESS_HEADERS:
        end = -1
        for _ in range(MAX_ADDRESSES):
            end = value.find(",", end + 1)
            if end < 0:
                break
        else:
            value = value[:end]
    if len(value) <= limit:
        return value
    if key == "references":
        return value[-limit:]
    space = value.rfind(" ", limit - limit // 4, limit)  # a whole word rather than half an encoded word
    return value[: space if space > 0 else limit]


class _Budget:
    """What one message may still cost to parse; shared by all its parts (see _message_from_bytes)."""

    __slots__ = ("work", "parts", "depth", "mime_bytes", "address_headers", "address_bytes", "cut")

    def __init__(self) -> None:
        self.work = 0
        self.parts = 0
        self.depth = 0
        self.mime_bytes = 0
        self.address_headers = 0
        self.address_bytes = 0
        self.cut = ""  # why the parser was fed no more, if it was stopped

    def admit(self, msg: _Message, name: str, value: str) -> str | None:
        """The value to store for this header of msg (cut to its limit), or None to leave it out."""
        if len(msg._headers) >= MAX_HEADERS or msg._header_bytes >= MAX_HEADER_BYTES:  # type: ignore[attr-defined]
            return None
        key = name.lower()
        if len(value) > _SHORT or key in _CHECKED:  # most headers are neither
            value = _bound(key, value)
            if key in MIME_HEADERS:
                self.mime_bytes += len(value)
                if self.mime_bytes > MAX_MIME_BYTES:
                    self.cut = self.cut or f"more than {MAX_MIME_BYTES:,} characters of MIME headers"
                    return None
            elif key in ADDRESS_HEADERS and msg._depth == 0:
                if self.address_headers >= MAX_TOP_ADDRESS_HEADERS or self.address_bytes >= MAX_TOP_ADDRESS_BYTES:
                    return None
                self.address_headers += 1
                self.address_bytes += len(value)
        msg._header_bytes += len(name) + len(value)
        return value


class _Message(EmailMessage):
    """EmailMessage, answering get_content_type() and get_param() once per distinct header instead of parsing the
    header again on every call: the parser and get_content() ask some ten times per part. Both answers depend on
    nothing but the policy and the first header of that name, so the stdlib works them out on a message holding
    only that header, and the answer is kept.

    A message the parser makes also keeps to its _Budget: set_raw() bounds each header, attach() counts the parts
    and their depth, and a part nested deeper than MAX_DEPTH is opaque."""

    _budget: _Budget | None = None  # set on every message _message_from_bytes makes
    _depth = 0  # 0: the message itself
    _header_bytes = 0

    def set_raw(self, name: str, value: str) -> None:
        budget = self._budget
        if budget is not None and type(name) is str and type(value) is str:
            bounded = budget.admit(self, name, value)
            if bounded is None:
                return
            value = bounded
        self._headers.append((name, value))  # type: ignore[attr-defined]  # all that Message.set_raw does

    def attach(self, payload: Message) -> None:  # type: ignore[override]
        budget = self._budget
        if budget is not None and isinstance(payload, _Message):
            payload._depth = self._depth + 1
            budget.depth = max(budget.depth, payload._depth)
            budget.parts += 1
            if budget.parts >= MAX_PARTS:
                budget.cut = budget.cut or f"more than {MAX_PARTS:,} MIME parts"
        super().attach(payload)  # type: ignore[arg-type]  # typeshed: a part of the same class

    def get_content_type(self) -> str:
        if self._depth > MAX_DEPTH:  # the parser reads no further into it
            return "application/octet-stream"
        raw = self._first_raw("content-type")
        if raw is None:
            return super().get_content_type()
        return _content_type(self.policy, *raw)

    def get_param(self, param: str, failobj: Any = None, header: str = "content-type",
                  unquote: bool = True) -> Any:
        plain = type(param) is str and type(header) is str and type(unquote) is bool and (
            failobj is None or type(failobj) is str)  # hashable, and compared as the stdlib compares them
        raw = self._first_raw(header) if plain else None
        if raw is None:
            return super().get_param(param, failobj, header, unquote)
        return _param(self.policy, *raw, param, failobj, header, unquote)

    def _first_raw(self, name: str) -> tuple[str, str] | None:
        """The first (name, value) of that header as stored, if both are plain short strings; else None."""
        wanted = name.lower()
        for key, value in self._headers:  # type: ignore[attr-defined]  # private, as Message.get() reads them
            if key.lower() == wanted:
                return (key, value) if type(key) is str and type(value) is str and len(value) <= 1000 else None
        return None


def _only(policy: email.policy.Policy, name: str, value: str) -> EmailMessage:
    msg = EmailMessage(policy=policy)
    msg.set_raw(name, value)
    return msg


@functools.lru_cache(maxsize=512)
def _content_type(policy: email.policy.Policy, name: str, value: str) -> str:
    return EmailMessage.get_content_type(_only(policy, name, value))


@functools.lru_cache(maxsize=512)
def _param(policy: email.policy.Policy, name: str, value: str, param: str, failobj: str | None, header: str,
           unquote: bool) -> Any:  # whatever Message.get_param answers
    return EmailMessage.get_param(_only(policy, name, value), param, failobj, header, unquote)


POLICY = email.policy.default.clone(header_factory=_CachingHeaderRegistry(), message_factory=_Message)


def _message_from_bytes(raw: bytes) -> Message:
    """email.message_from_bytes(raw, policy=POLICY) without its three wrapper objects (the same decode, and the
    same FeedParser fed the same 8192-character pieces as email.parser.Parser.parse() reads them), bounded: the
    parser is fed no more once the message's _Budget is spent, and what it was fed is the parsed view."""
    budget = _Budget()

    def new_message(policy: email.policy.Policy = POLICY) -> _Message:
        msg = _Message(policy=policy)
        msg._budget = budget
        return msg

    parser = FeedParser(new_message, policy=POLICY)
    for start in range(0, len(raw), 8192):
        piece = raw[start : start + 8192].decode("ASCII", errors="surrogateescape")  # byte by byte: no state
        # Lines, whatever ends them (the parser splits on CRLF, CR and LF); colons, of which a header line has one.
        lines = piece.count("\n") + piece.count("\r") - piece.count("\r\n")
        budget.work += (len(piece) * CHAR_WORK + lines * (LINE_WORK + DEPTH_WORK * budget.depth)
                        + piece.count(":") * HEADER_WORK)
        if budget.work > MAX_WORK:
            budget.cut = budget.cut or f"more than {MAX_WORK:,} units of parsing work"
        if budget.cut:
            break
        parser.feed(piece)
    return parser.close()


def parse_message(raw: bytes) -> Incoming:
    msg = _message_from_bytes(raw)
    # Only the From address acts: DMARC vouches for the From domain, so Sender must never stand in for it.
    name, sender, problem = read_mailbox(raw_header(msg, "From"))
    subject = clean(safe_header(msg, "Subject"))
    message_id = ""
    found = _MSGID.search(raw_header(msg, "Message-ID"))
    if found:
        message_id = found.group(0)
    refs = tuple(_MSGID.findall(raw_header(msg, "References") + " " + raw_header(msg, "In-Reply-To")))

    plain, html, calendar = "", "", None
    for part in _walk(msg):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/calendar" and calendar is None:
            payload = part.get_payload(decode=True)
            calendar = payload if isinstance(payload, bytes) else None
        elif ctype not in ("text/plain", "text/html") or "attachment" in _disposition(part):
            continue
        elif ctype == "text/plain" and not plain:
            plain = part_text(part)[:MAX_TEXT]
        elif ctype == "text/html" and not html:
            html = part_text(part)[:MAX_TEXT]
    text = plain or (html_to_text(html) if html else "")
    return Incoming(
        sender=sender,
        name=natural_name(name),  # "Vries, Anouk de" as Exchange writes it: "Anouk de Vries"
        subject=subject,
        own_text=top_of_body(text),
        message_id=message_id,
        references=refs,
        calendar=calendar,
        msg=msg,
        sender_problem=f"no usable From address: {problem}" if problem else "",
    )


def _disposition(part: Message) -> str:
    """The Content-Disposition as written, lower case; '' when there is none. Read raw: only the word
    'attachment' is looked for, and the header parser costs some 10 microseconds a character on odd values."""
    return raw_header(part, "Content-Disposition").lower()
