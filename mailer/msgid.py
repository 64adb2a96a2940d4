"""Message-IDs that prove who we sent a letter to: a reply naming one proves the sender received our mail.

The MAC is keyed with the installation secret over the random part and the recipient, so it can be neither
guessed nor moved to another address. The random part itself ends in a mark keyed with the secret alone, and list
mail carries one too: is_own() tells our own mail coming back from anyone's mail with a Message-ID at our domain
(an organiser posting from Thunderbird or Apple Mail), which the domain alone cannot.
"""
from __future__ import annotations

import re
import secrets

from base.secret import keyed, same

_OURS = re.compile(r"<([0-9a-f]{16})\.([0-9a-f]{20})@([^<>\s]+)>")
_LIST = re.compile(r"<list\.(\d{1,18})\.([0-9a-f]{16})\.\d{1,18}@[^<>\s]+>")
_RANDOM = 10  # hex digits of chance in the random part; the other 6 are the installation's mark


def make_msgid(secret: bytes, domain: str, recipient: str) -> str:
    chance = secrets.token_hex(_RANDOM // 2)
    rand = chance + _mark(secret, chance)[: 16 - _RANDOM]
    return f"<{rand}.{_mac(secret, rand, recipient)}@{domain}>"


def list_msgid_prefix(secret: bytes, announcement_id: int) -> str:
    """The start of a list mail's Message-ID, up to the member's part: "<list.ID.MARK." (see is_own)."""
    return f"<list.{announcement_id}.{_mark(secret, f'list.{announcement_id}')[:16]}."


def _mark(secret: bytes, value: str) -> str:
    return keyed(secret, "own-msgid", value)


def is_own(secret: bytes, ref: str) -> bool:
    """Is ref a Message-ID this installation made (a letter or a list mail), to whomever it went?"""
    value = ref.strip().lower()
    if len(value) > 300 or not secret:
        return False
    letter = _OURS.fullmatch(value)
    if letter is not None:
        rand = letter.group(1)
        return same(rand[_RANDOM:], _mark(secret, rand[:_RANDOM])[: 16 - _RANDOM])
    listed = _LIST.fullmatch(value)
    return listed is not None and same(listed.group(2), _mark(secret, f"list.{int(listed.group(1))}")[:16])


def _mac(secret: bytes, rand: str, recipient: str) -> str:
    return keyed(secret, "msgid", f"{rand}\0{recipient.strip().lower()}")[:20]


def sent_to(secret: bytes, domain: str, ref: str, address: str) -> bool:
    """Does ref name a Message-ID we made for a letter to address?"""
    m = _OURS.fullmatch(ref.strip().lower())
    if m is None or m.group(3) != domain.lower():
        return False
    return same(m.group(2), _mac(secret, m.group(1), address))
