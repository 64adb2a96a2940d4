"""Message-IDs that prove who we sent a letter to: a reply naming one proves the sender received our mail.

The MAC is keyed with the installation secret over the random part and the recipient, so it can be neither
guessed nor moved to another address.
"""
from __future__ import annotations

import re
import secrets

from base.secret import keyed, same

_OURS = re.compile(r"<([0-9a-f]{16})\.([0-9a-f]{20})@([^<>\s]+)>")


def make_msgid(secret: bytes, domain: str, recipient: str) -> str:
    rand = secrets.token_hex(8)
    return f"<{rand}.{_mac(secret, rand, recipient)}@{domain}>"


def _mac(secret: bytes, rand: str, recipient: str) -> str:
    return keyed(secret, "msgid", f"{rand}\0{recipient.strip().lower()}")[:20]


def sent_to(secret: bytes, domain: str, ref: str, address: str) -> bool:
    """Does ref name a Message-ID we made for a letter to address?"""
    m = _OURS.fullmatch(ref.strip().lower())
    if m is None or m.group(3) != domain.lower():
        return False
    return same(m.group(2), _mac(secret, m.group(1), address))
