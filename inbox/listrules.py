"""Message in, decision out, for the mailing list: bounces, tokens, posts, (un)subscribe. Pure functions.

Each check has the signature of those in inbox/decide.py CHECKS, where they are listed in order.
"""
from __future__ import annotations

import functools
import re
from email.message import Message
from typing import TYPE_CHECKING

from flufl.bounce import all_failures

from inbox import intent
from inbox.decision import IGNORE, Context, Decision, Token
from inbox.loops import by_headers, content_type, has_header, mailboxes, no_reply_reason, raw_values
from inbox.message import scan_copy
from inbox.text import may_contain, strip_prefixes

if TYPE_CHECKING:
    from inbox.message import Incoming

# Actions, each handled by one function in inbox/list_handlers.py.
BOUNCE = "list_bounce"
POST = "list_post"  # an organiser's post: hold it and mail a preview
REFUSE = "list_refuse"  # someone else mailed the post address
TOKEN_YES = "list_token_yes"  # a reply carrying an approval / confirmation token
TOKEN_NO = "list_token_no"  # the same, saying "nee"
TOKEN_UNCLEAR = "list_token_unclear"  # the same, without a plain yes or no: "wacht even", "ja, maar", nothing
SUBSCRIBE = "list_subscribe"
UNSUBSCRIBE = "list_unsubscribe"
UNSUBSCRIBE_TOKEN = "list_unsubscribe_token"  # mail to the List-Unsubscribe address

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_SUBJECT_TOKEN = re.compile(r"\[#([0-9a-f]{26})\]", re.IGNORECASE)
_TAG_TOKEN = re.compile(r"^(approve|confirm|unsubscribe)-([0-9a-f]{26})$")
_UNSUBSCRIBE = re.compile(
    r"\b(uitschrijven|uitschrijving|unsubscribe|afmelden\s+(voor\s+de\s+|van\s+de\s+)?(nieuwsbrief|mailinglijst)"
    r"|(nieuwsbrief|mailinglijst)\s+(opzeggen|afmelden|stoppen)"
    r"|geen\s+(e-?)?mails?\s+meer|geen\s+(nieuwsbrief|berichten|mailtjes)\s+meer)\b",
    re.IGNORECASE,
)
_SUBSCRIBE = re.compile(
    r"\b((aanmelden|inschrijven|abonneren|aanmelding)\s+(voor\s+(de\s+)?|op\s+(de\s+)?)?(nieuwsbrief|mailinglijst)"
    r"|subscribe)\b",
    re.IGNORECASE,
)
# Every branch of _UNSUBSCRIBE and _SUBSCRIBE holds one of these words: text without any asks neither.
_LIST_WORDS = ("uitschrijv", "subscribe", "nieuwsbrief", "mailinglijst", "meer")


def recipients(msg: Message) -> list[str]:
    """Every address the message says it was sent or delivered to, lower case, in header order."""
    return list(by_headers(msg, recipients, lambda: tuple(_recipients(msg))))  # several checks ask


def _recipients(msg: Message) -> list[str]:
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        for _, spec in mailboxes(msg, name):
            spec = spec.strip().lower()
            if "@" in spec and spec not in found:
                found.append(spec)
    return found


def split_tag(address: str) -> tuple[str, str]:
    """'nieuws+approve-x@d' -> ('nieuws@d', 'approve-x')."""
    local, _, domain = address.partition("@")
    base, _, tag = local.partition("+")
    return f"{base}@{domain}", tag


def tags_for(msg: Message, base: str) -> list[str] | None:
    """The +tags of every recipient address with this base ('' for the bare address); None if none is ours."""
    tags = by_headers(msg, (tags_for, base), lambda: tuple(
        tag for spec in recipients(msg) for b, tag in [split_tag(spec)] if b == base))
    return list(tags) if tags else None


def looks_like_bounce(msg: Message) -> bool:
    """Cheap signs of a delivery failure report; only then do we run the bounce detectors."""
    return bool(by_headers(msg, looks_like_bounce, lambda: _looks_like_bounce(msg)))


def _looks_like_bounce(msg: Message) -> bool:
    if content_type(msg) == "multipart/report" or has_header(msg, "X-Failed-Recipients"):
        return True
    null_path = any(re.sub(r"\s", "", v) == "<>" for v in raw_values(msg, "Return-Path"))
    daemon = any(local.lower() in ("mailer-daemon", "postmaster") for local, _ in mailboxes(msg, "From"))
    return null_path or daemon


def permanent_failures(msg: Message) -> tuple[list[str], list[str]]:
    """(permanent, temporary) failed recipients according to flufl.bounce; never raises."""
    try:
        temporary, permanent = all_failures(scan_copy(msg))  # its detectors take 10 us a line: the first lines
    except Exception:  # a detector choking on odd MIME must not stop the message
        return [], []

    def text(values: frozenset[bytes]) -> list[str]:
        return sorted({v.decode("utf-8", "replace").strip().strip("<>").lower() for v in values if b"@" in v})

    return text(permanent), text(temporary)


def check_bounce(msg: Incoming, ctx: Context) -> Decision | None:
    """Bounces: counted against the member whose VERP token (bounces+TOKEN@) the report came back to, never
    answered. Anyone can write a DSN naming any address, so a report without a member's token counts for no one.

    Runs before the machine-mail check, since bounces are machine mail.
    """
    tags = tags_for(msg.msg, ctx.bounce_address) if ctx.bounce_address else None
    if tags is None and not looks_like_bounce(msg.msg):
        return None
    permanent, temporary = permanent_failures(msg.msg)
    token = next((t for t in (tags or []) if re.fullmatch(r"[0-9a-f]{26}", t)), "")
    if permanent and token:
        return Decision(BOUNCE, f"bounce: permanent failure for {', '.join(permanent)}", may_reply=False,
                        detail=Token(token))
    if permanent:
        return Decision(IGNORE, f"bounce for {', '.join(permanent)} without a member's token (bounces+TOKEN@): "
                        "not counted", may_reply=False)
    if tags is not None:  # to our bounce address, but no permanent failure: a delay notice or an auto-reply
        what = "delay notice" if temporary else "no bounce recognised"
        return Decision(IGNORE, f"mail to the bounce address: {what}", may_reply=False)
    return None  # a report about something else: the machine-mail check ignores it


def check_unsubscribe_token(msg: Incoming, ctx: Context) -> Decision | None:
    """Mail to the List-Unsubscribe address. The token is the proof, so it counts even from a machine
    (some clients send it automatically); the confirmation then stays unsent."""
    for tag in tags_for(msg.msg, ctx.post_address) or [] if ctx.post_address else []:
        found = _TAG_TOKEN.match(tag)
        if found and found.group(1) == "unsubscribe":
            machine = no_reply_reason(msg.msg, own_addresses=ctx.own_addresses, secret=ctx.secret)
            return Decision(UNSUBSCRIBE_TOKEN, "unsubscribe by List-Unsubscribe address", may_reply=not machine,
                            detail=Token(found.group(2)))
    return None


def token_in(msg: Incoming, ctx: Context) -> str:
    """The approval or confirmation token a reply carries (in a +tag or the subject); '' when none."""
    for tag in tags_for(msg.msg, ctx.post_address) or [] if ctx.post_address else []:
        found = _TAG_TOKEN.match(tag)
        if found and found.group(1) in ("approve", "confirm"):
            return found.group(2)
    found = _SUBJECT_TOKEN.search(msg.subject)
    return found.group(1).lower() if found else ""


@functools.lru_cache(maxsize=4)  # wants_out and wants_in both ask, for the same message
def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")[:200]


def _asks(pattern: re.Pattern[str], text: str) -> bool:
    return may_contain(text, _LIST_WORDS) and bool(pattern.search(text))


def wants_out(msg: Incoming) -> bool:
    """'uitschrijven' in the subject or the first line the sender wrote."""
    return _asks(_UNSUBSCRIBE, strip_prefixes(msg.subject)) or _asks(_UNSUBSCRIBE, _first_line(msg.own_text))


def wants_in(msg: Incoming) -> bool:
    return _asks(_SUBSCRIBE, strip_prefixes(msg.subject)) or _asks(_SUBSCRIBE, _first_line(msg.own_text))


def check_list_mail(msg: Incoming, ctx: Context) -> Decision | None:
    """Token replies, posts to the post address, and (un)subscribe requests. After the spoofing check."""
    token = token_in(msg, ctx)
    if token:
        answer = intent.approval(msg.own_text)  # only a plain yes sends a post to the whole network
        if answer.has(intent.DISCARD):
            return Decision(TOKEN_NO, f"reply declining a list token ({answer.why})", detail=Token(token))
        if answer.clear and answer.has(intent.APPROVE):
            return Decision(TOKEN_YES, f"reply with a list token ({answer.why})", detail=Token(token))
        return Decision(TOKEN_UNCLEAR, f"reply with a list token, unclear ({answer.why})", detail=Token(token))
    to_post = ctx.post_address and tags_for(msg.msg, ctx.post_address) is not None
    organiser = msg.sender in ctx.organisers
    if to_post and organiser:
        return Decision(POST, "post to the list by an organiser: held for approval")
    if wants_out(msg):
        return Decision(UNSUBSCRIBE, "asks to leave the mailing list")
    if wants_in(msg):
        return Decision(SUBSCRIBE, "asks to join the mailing list")
    if to_post:
        return Decision(REFUSE, f"post to the list by {msg.sender}, who is no organiser: not sent")
    return None
