"""Whether a stored message mentions an address: what forget deletes."""
from __future__ import annotations

import email
import email.header
import email.policy


def mentions(data: bytes, address: str) -> bool:
    """The address in the raw bytes or in any decoded header or body part (quoted-printable and base64 would
    otherwise hide it), case-insensitively."""
    needle = address.lower()
    if needle.encode() in data.lower():
        return True
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in msg.walk():
        for value in part.values():
            try:
                text = str(email.header.make_header(email.header.decode_header(str(value))))
            except (ValueError, LookupError, UnicodeError):
                continue
            if needle in text.lower():
                return True
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and needle.encode() in payload.lower():
            return True
    return False
