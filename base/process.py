"""Who holds a lease or lock: "host:pid", and whether that process is gone, so its leases need not be waited out."""
from __future__ import annotations

import os
import socket


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_here(holder: str) -> bool:
    """A holder ("host:pid", optionally ":more") on this host whose process no longer exists (killed, crashed).
    Holders elsewhere, and this very process, are never presumed dead: for them only a stale heartbeat counts."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False
