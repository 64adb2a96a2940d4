"""Proof that a message comes from its From address, asked before a cancellation (the finding: the From header
alone can be forged). Pure: only the message and the Context.
"""
from __future__ import annotations

from inbox.auth import trusted_headers
from inbox.decision import Context
from inbox.message import Incoming
from mailer.msgid import sent_to

AUTHENTICATED = "authenticated"
REPLY = "reply to our mail"


def _aligned(domain: str, other: str) -> bool:
    other = other.strip().lower().rpartition("@")[2]
    return bool(other) and (other == domain or domain.endswith("." + other) or other.endswith("." + domain))


def authenticated(msg: Incoming, ctx: Context) -> bool:
    """Our own server (the configured authserv-id) says dmarc=pass for the From domain, or spf/dkim pass
    aligned with it."""
    domain = msg.sender.rpartition("@")[2]
    if not domain or not ctx.authserv_id:
        return False
    for header in trusted_headers(msg.msg, ctx.authserv_id):
        for r in header.results:
            if r.result != "pass":
                continue
            if r.method == "dmarc" and _aligned(domain, r.props.get("header.from", "")):
                return True
            if r.method == "dkim" and _aligned(domain, r.props.get("header.d", "") or r.props.get("header.i", "")):
                return True
            if r.method == "spf" and _aligned(domain, r.props.get("smtp.mailfrom", "")):
                return True
    return False


def proof(msg: Incoming, ctx: Context) -> str:
    """'authenticated', 'reply to our mail' (names a Message-ID we sent to this very address), or ''."""
    if not msg.sender:
        return ""
    if authenticated(msg, ctx):
        return AUTHENTICATED
    if ctx.secret and any(sent_to(ctx.secret, ctx.own_domain, ref, msg.sender) for ref in msg.references):
        return REPLY
    return ""
