"""The one way we hash an address (forgotten people, tokens tied to an address)."""
from __future__ import annotations

import hashlib


def address_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
