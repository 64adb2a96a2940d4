"""The one way we hash an address (forgotten people, tokens tied to an address)."""
from __future__ import annotations

import hashlib

from base.secret import keyed


def address_hash(secret: bytes, email: str) -> str:
    """Keyed with the installation secret: the do-not-mail list cannot be reversed by hashing known addresses."""
    return keyed(secret, "forgotten", email.strip().lower())


def legacy_address_hash(email: str) -> str:
    """The unkeyed SHA-256 used before the hash was keyed: rows written then stay valid, so nobody forgotten
    before is mailed again. Only looked up, never written."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def address_hashes(secret: bytes, email: str) -> tuple[str, str]:
    """Both hashes an address may be stored under: look up with both, write only the first."""
    return address_hash(secret, email), legacy_address_hash(email)
