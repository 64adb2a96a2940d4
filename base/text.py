"""One line of text made safe, and a MIME text part read as str: what reading and writing mail both need."""
from __future__ import annotations

import re
from email.message import Message
from typing import cast

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"<?(?:mailto:)?[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+>?")


def clean(value: str) -> str:
    """One line of text, safe to put into a header or template: no CR/LF or other control characters."""
    return _CONTROL.sub(" ", value).strip()


def scrub(text: str) -> str:
    """One clean line without any mail address in it: it may be shown to other people."""
    return " ".join(_ADDRESS.sub("", text).split()).strip(" ,;:-")


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


_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}")


def redact_tokens(text: str) -> str:
    """Text for a screen or a log: a live token (approval, confirmation, unsubscribe) shown is a token anyone
    looking over a shoulder can use, so each long run of letters and digits keeps only its first four."""
    return _TOKEN.sub(lambda m: m.group(0)[:4] + "…", text)
