"""Asking the organiser before anything mails many people or deletes data."""
from __future__ import annotations

import sys

from network.meetings import UserError


def confirm(question: str) -> bool:
    """True only for an explicit yes (Dutch or English); no terminal input counts as no."""
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except EOFError:
        answer = ""
    return answer in ("y", "yes", "j", "ja")


def agreed(question: str, yes: bool) -> bool:
    """--yes, or an explicit yes at a terminal. Without a terminal and without --yes nothing is asked and nothing
    done: a script or a cron job must say --yes, never be taken for a yes (or a silent no)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"{question} needs a yes: run it at a terminal, or add --yes")
    return confirm(question)
