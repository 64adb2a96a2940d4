"""The installation secret: one random key per installation, for what must not be guessable or reversible.

It marks the Message-IDs we send (so a reply proves it answers our mail to that address), keys the hashes of
forgotten addresses (so the list cannot be reversed by hashing every address one knows) and derives tokens.
`pioniers init` creates it (32 random bytes, hex, mode 0600) beside the database; several workers on different
machines share one through PIONIERS_SECRET.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from base.errors import PioniersError

ENV = "PIONIERS_SECRET"


class SecretError(PioniersError):
    """The secret file exists but cannot be read or is not a secret."""


def load(path: Path, *, create: bool = True) -> bytes:
    """The secret from PIONIERS_SECRET, else from path, created there (0600) when missing and create is set."""
    if value := os.environ.get(ENV, "").strip():
        if len(value) < 32:
            raise SecretError(f"{ENV} is too short: use at least 32 random characters (pioniers init prints one)")
        return value.encode()
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise SecretError(f"no installation secret at {path}: run 'pioniers init'") from None
        return _create(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read the installation secret {path}: {exc}") from None
    if len(text) < 32:
        raise SecretError(f"the installation secret {path} is damaged (too short): restore it from a backup")
    return text.encode()


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load(path, create=False)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value.encode()


def keyed(secret: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of value for one purpose (hex): the same value gives unrelated results per purpose."""
    return hmac.new(secret, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
