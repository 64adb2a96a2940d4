"""The one error the user can fix: its message is the single line the command line prints (exit code 2)."""
from __future__ import annotations


class PioniersError(Exception):
    """A problem the user can fix; str(exc) says what to do, in one line."""
