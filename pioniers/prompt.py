"""Asking the organiser at the terminal before mail goes to the whole list."""
from __future__ import annotations


def confirm(question: str) -> bool:
    """True only for an explicit yes (Dutch or English); no terminal input counts as no."""
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except EOFError:
        answer = ""
    return answer in ("y", "yes", "j", "ja")
