"""Raw bytes in, plain values out: everything the decide step needs from one incoming message.

Reading never raises: malformed headers, bad charsets and broken MIME degrade to empty strings.
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
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import cast

from inbox.text import html_to_text, top_of_body

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MSGID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")  # no control characters: it goes into our In-Reply-To
MAX_TEXT = 200_000  # characters of body text we look at; the rest is never needed to decide


def clean(value: str) -> str:
    """One line of text, safe to put into a header or template: no CR/LF or other control characters."""
    return _CONTROL.sub(" ", value).strip()


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
_DOMAIN = re.compile(rf"{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-)*{_LABEL_CHAR})?(?:\.{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-)*"
                     rf"{_LABEL_CHAR})?)+")
_NOT_IN_LOCAL = ("C", "Z")  # control, format, surrogate, private use, unassigned; any kind of space
_IN_DOMAIN = ("L", "M", "N")  # letters, marks, digits: what an internationalised domain label is made of


def address_problem(addr: str) -> str:
    """'' for a syntactically valid mailbox local@domain as written, else what is wrong with it."""
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        return "no local part and domain"
    if "=?" in addr or "?=" in addr:
        return "an encoded word in the address"
    if len(addr.encode("utf-8", "surrogatepass")) > MAX_ADDRESS:
        return "address too long"
    if len(local.encode("utf-8", "surrogatepass")) > MAX_LOCAL:
        return "local part too long"
    if not _LOCAL.fullmatch(local):
        return "not a valid local part"
    if not _DOMAIN.fullmatch(domain) or domain.rpartition(".")[2].isdigit():
        return "not a valid domain"
    if not addr.isascii():
        if any(unicodedata.category(c)[0] in _NOT_IN_LOCAL for c in local if not c.isascii()):
            return "a space or control character in the local part"
        if any(unicodedata.category(c)[0] not in _IN_DOMAIN for c in domain if not c.isascii()):
            return "not a valid domain"
    for label in domain.split("."):
        if len(label) > MAX_LABEL or not label.isascii() and len(label.encode("punycode")) + 4 > MAX_LABEL:
            return "domain label too long"
    return ""


def part_text(part: Message) -> str:
    """A text part's content as str, whatever its declared (or missing, or wrong) charset."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:
        pass
    try:
        # decode=True never gives a Message: bytes, or None for a multipart
        payload = cast("bytes | str", part.get_payload(decode=True) or b"")
    except Exception:
        return ""
    if isinstance(payload, str):
        return payload
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        pass
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):  # unknown charset, or a name the codec registry rejects (NUL)
        return payload.decode("utf-8", errors="replace")


def _walk(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except Exception:
        return [msg]


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

    def __call__(self, name, value):  # type: ignore[no-untyped-def]
        if type(value) is str and len(value) <= 4096:
            return _cached_header(self, name, value)
        return super().__call__(name, value)


@functools.lru_cache(maxsize=4096)
def _cached_header(registry: HeaderRegistry, name: str, value: str):  # type: ignore[no-untyped-def]
    return HeaderRegistry.__call__(registry, name, value)


class _Message(EmailMessage):
    """EmailMessage, answering get_content_type() and get_param() once per distinct header instead of parsing the
    header again on every call: the parser and get_content() ask some ten times per part. Both answers depend on
    nothing but the policy and the first header of that name, so the stdlib works them out on a message holding
    only that header, and the answer is kept."""

    def get_content_type(self) -> str:
        raw = self._first_raw("content-type")
        if raw is None:
            return super().get_content_type()
        return _content_type(self.policy, *raw)  # type: ignore[no-any-return]

    def get_param(self, param, failobj=None, header="content-type", unquote=True):  # type: ignore[no-untyped-def]
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
           unquote: bool):  # type: ignore[no-untyped-def]
    return EmailMessage.get_param(_only(policy, name, value), param, failobj, header, unquote)


POLICY = email.policy.default.clone(header_factory=_CachingHeaderRegistry(), message_factory=_Message)


def _message_from_bytes(raw: bytes) -> Message:
    """email.message_from_bytes(raw, policy=POLICY) without its three wrapper objects: the same decode, and the
    same FeedParser fed the same 8192-character pieces as email.parser.Parser.parse() reads them."""
    text = raw.decode("ASCII", errors="surrogateescape")
    parser = FeedParser(policy=POLICY)
    for start in range(0, len(text), 8192):
        parser.feed(text[start : start + 8192])
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
        disposition = _disposition(part)
        if ctype == "text/calendar" and calendar is None:
            payload = part.get_payload(decode=True)
            calendar = payload if isinstance(payload, bytes) else None
        elif "attachment" in disposition:
            continue
        elif ctype == "text/plain" and not plain:
            plain = part_text(part)[:MAX_TEXT]
        elif ctype == "text/html" and not html:
            html = part_text(part)[:MAX_TEXT]
    text = plain or (html_to_text(html) if html else "")
    return Incoming(
        sender=sender,
        name=name,
        subject=subject,
        own_text=top_of_body(text),
        message_id=message_id,
        references=refs,
        calendar=calendar,
        msg=msg,
        sender_problem=f"no usable From address: {problem}" if problem else "",
    )


def _disposition(part: Message) -> str:
    """The Content-Disposition, lower case; '' when there is none or it cannot be read."""
    try:
        return (part.get("Content-Disposition") or "").lower()
    except Exception:
        return ""
