"""Display names as Exchange writes them ("Vries, Anouk de"), turned round only when they clearly are one."""
from __future__ import annotations

import pytest

from base.names import natural_name
from helpers import mail
from inbox.message import parse_message

CASES = [
    ("Vries, Anouk de", "Anouk de Vries"),
    ("Jansen, P. (Piet)", "Piet Jansen"),
    ("JANSEN, Piet", "Piet Jansen"),
    ("VRIES, ANOUK DE", "Anouk de Vries"),
    ("Berg, J. van den", "J. van den Berg"),
    ("Berg, Jan van der", "Jan van der Berg"),
    ("Hoek, Jan in 't", "Jan in 't Hoek"),
    ("Brink, Els ten", "Els ten Brink"),
    ("de Vries, Anouk", "Anouk de Vries"),
    ("Jansen-Bakker, Els", "Els Jansen-Bakker"),
    ("Jansen, P.J.M.", "P.J.M. Jansen"),
    ("Müller, Jürgen", "Jürgen Müller"),
    ("O'Brien, Sean", "Sean O'Brien"),
    ("Jansen,Piet", "Piet Jansen"),
    # kept as written: no "Last, First" form
    ("Anouk de Vries", "Anouk de Vries"),
    ("Gemeente Schiedam, Afdeling Informatiebeheer", "Gemeente Schiedam, Afdeling Informatiebeheer"),
    ("Jansen, Piet (Gemeente Schiedam)", "Jansen, Piet (Gemeente Schiedam)"),
    ("Jansen, Piet, Gemeente Schiedam", "Jansen, Piet, Gemeente Schiedam"),
    ("Schiedam, gemeente", "Schiedam, gemeente"),
    ("Jansen, Piet Jan Karel Wim", "Jansen, Piet Jan Karel Wim"),
    ("Jansen, ", "Jansen, "),
    (", Piet", ", Piet"),
    ("", ""),
    ("Team 3, Beleid", "Team 3, Beleid"),
]


@pytest.mark.parametrize(("written", "said"), CASES)
def test_natural_name(written: str, said: str) -> None:
    assert natural_name(written) == said


def test_long_and_hostile_names_are_kept_and_cheap() -> None:
    hostile = "a, " + "de " * 20000
    assert natural_name(hostile) == hostile


@pytest.mark.parametrize(("header", "name"), [
    ('"Vries, Anouk de" <a.devries@utrecht.nl>', "Anouk de Vries"),
    ("=?utf-8?q?Jansen=2C_P=2E_=28Piet=29?= <p.jansen@schiedam.nl>", "Piet Jansen"),
    ("Anouk de Vries <a.devries@utrecht.nl>", "Anouk de Vries"),
])
def test_the_sender_name_is_read_as_said(header: str, name: str) -> None:
    assert parse_message(mail(sender=header)).name == name
