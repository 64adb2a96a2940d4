"""inbox/intent.py: what people's own words ask, as they write them (Outlook and Gmail quotes never read)."""
from __future__ import annotations

import pytest

from inbox import intent as i
from inbox.text import top_of_body

KEYS = {i.REGISTER, i.CANCEL, i.CANNOT_COME, i.DOUBT, i.QUESTION, i.NEED}
R, X, N, D, Q, NEED = i.REGISTER, i.CANCEL, i.CANNOT_COME, i.DOUBT, i.QUESTION, i.NEED

OUTLOOK = ("\n\nVan: Pioniersnetwerk <aanmelden@pioniers.test>\nVerzonden: maandag 1 maart 2027 10:00\n"
           "Aan: Jan\nOnderwerp: Pioniersnetwerk 18 maart 2027\n\nKom je ook? Meld je aan, we hebben plek.\n")
GMAIL = ("\n\nOp ma 1 mrt 2027 om 10:00 schreef Pioniersnetwerk <aanmelden@pioniers.test>:\n"
         "> Kun je niet komen? Zeg het ons. Vegetarisch eten is er altijd.\n> Twijfel je nog?\n")

# (own text, subject, the intents among KEYS it must have)
SENTENCES = [
    ("Deze keer sla ik over.", "", {N}),
    ("Ben ik eigenlijk al aangemeld? Ik weet het niet meer.", "", {Q}),
    ("Geen tijd helaas.", "", {N}),
    ("Ik zit die dag in een andere afspraak, jammer!", "", {N}),
    ("Ik probeer te komen maar weet het nog niet.", "", {D}),
    ("Klopt het dat het om 14.00 begint?", "", {Q}),
    ("Helaas, op 17 juni zit ik op vakantie", "", {N}),
    ("Nee, ik kan helaas niet op 18 maart", "", {N}),
    ("", "Niet aanmelden: Pioniersnetwerk 17 juni 2027", {N}),
    ("Ik twijfel nog of ik kan", "", {D}),
    ("", "Pioniersnetwerk 17 juni 2027 - kan niet", {N}),
    ("Hoi, waar is het en hoe laat begint het?", "", {Q}),
    ("Toch niet, ik kan op 16 september niet meer. Sorry!", "", {N}),
    ("Is de bijeenkomst ook online te volgen?", "", {Q}),
    ("Is het gebouw rolstoeltoegankelijk?", "", {Q, NEED}),
    ("Ik ben vegetarisch", "", {NEED}),
    ("Graag meld ik me aan.", "", {R}),
    ("Ik meld me aan voor 18 maart", "", {R}),
    ("Hierbij meld ik mij aan", "", {R}),
    ("Ik wil graag komen", "", {R}),
    ("Ik kom graag!", "", {R}),
    ("Ik ben erbij", "", {R}),
    ("Schrijf me maar in", "", {R}),
    ("Graag inschrijven voor de bijeenkomst", "", {R}),
    ("Aanmelding", "", {R}),
    ("Please sign me up", "", {R}),
    ("Count me in", "", {R}),
    ("I'd like to register", "", {R}),
    ("Ik wil me afmelden", "", {X}),
    ("Ik moet helaas afzeggen", "", {X}),
    ("Ik zeg mijn plek af", "", {X}),
    ("Ik ben helaas verhinderd", "", {X, N}),
    ("Helaas verhinderd", "", {X, N}),
    ("Ik kan toch niet komen", "", {X, N}),
    ("Ik kom niet", "", {N}),
    ("Ik zal er niet bij zijn", "", {X}),
    ("Graag mijn aanmelding intrekken", "", {X}),
    ("Annuleer mijn aanmelding", "", {X}),
    ("Please cancel my registration", "", {X}),
    ("I can't make it", "", {X, N}),
    ("Sorry, I cannot attend", "", {X, N}),
    ("I won't be able to come", "", {N}),
    ("I'm on holiday then", "", {N}),
    ("Dat lukt me helaas niet", "", {N}),
    ("Ik kan die dag niet", "", {N}),
    ("Kan niet, zit in Spanje", "", {N}),
    ("Ik ben dan op vakantie", "", {N}),
    ("Toch niet", "", {N}),
    ("Het lukt niet meer", "", {N}),
    ("Helaas kan ik er niet bij zijn", "", {N}),
    ("Misschien kom ik", "", {D}),
    ("Wellicht, ik laat het nog weten", "", {D}),
    ("Ik weet nog niet of ik kan", "", {D}),
    ("Onder voorbehoud aanmelden", "", {D, R}),
    ("Ik weet het nog niet zeker", "", {D}),
    ("Not sure yet if I can come", "", {D}),
    ("Maybe", "", {D}),
    ("Waarschijnlijk kom ik wel", "", {D}),
    ("Hoe laat begint het?", "", {Q}),
    ("Waar is het precies?", "", {Q}),
    ("Is er parkeergelegenheid", "", set()),
    ("Kan ik een collega meenemen?", "", {Q}),
    ("Mag ik iemand meenemen?", "", {Q}),
    ("Wat is het programma?", "", {Q}),
    ("Where is it?", "", {Q}),
    ("What time does it start?", "", {Q}),
    ("Is there a livestream?", "", {Q}),
    ("Zie https://example.org/?a=1 voor info", "", set()),
    ("Ik ben veganist", "", {NEED}),
    ("Ik heb een notenallergie", "", {NEED}),
    ("Ik ben allergisch voor noten", "", {NEED}),
    ("Ik volg een glutenvrij dieet", "", {NEED}),
    ("Ik zit in een rolstoel", "", {NEED}),
    ("I am vegetarian", "", {NEED}),
    ("I use a wheelchair", "", {NEED}),
    ("Graag aanmelden. Ik ben vegetarisch.", "", {R, NEED}),
    ("Ik meld me aan. Is er parkeergelegenheid?", "", {R, Q}),
    ("", "Pioniersnetwerk 18 maart 2027", set()),
    ("Tot dan!", "Pioniersnetwerk 18 maart 2027", set()),
    ("Ik kan niet wachten!", "", set()),
    ("Mijn collega kan niet, ik kom wel.", "", {R}),
    ("Zin in!", "", set()),
    ("Leuk, tot 18 maart", "", set()),
    ("Ik meld me aan", "RE: Pioniersnetwerk 18 maart 2027", {R}),
    ("", "Afmelding Pioniersnetwerk 18 maart 2027", {X}),
    ("", "Afmelden Pioniersnetwerk 18 maart 2027", {X}),
    ("Ik twijfel of ik kan komen, hoe laat is het afgelopen?", "", {D, Q}),
    ("Ik ben er helaas niet bij", "", {X, N}),
    ("Ik meld me aan" + OUTLOOK, "", {R}),
    ("Ik meld me aan" + GMAIL, "", {R}),
    ("Toch niet, sorry" + OUTLOOK, "", {N}),
    ("Hoe laat begint het?" + GMAIL, "", {Q}),
    ("" + OUTLOOK, "", set()),
    ("Dank je!" + GMAIL, "", set()),
    ("Graag aanmelden\n\nMet vriendelijke groet,\nJan\nGemeente Kan niet bestaan? Misschien", "", {R}),
    ("Hallo,\n\nIk kan op 18 maart niet.\n\nGroet,\nPiet", "", {N}),
]


@pytest.mark.parametrize("text,subject,expected", SENTENCES)
def test_reads_intents(text: str, subject: str, expected: set[str]) -> None:
    reading = i.read(top_of_body(text), subject)
    assert reading.intents & KEYS == expected, reading


def test_a_decliner_never_reads_as_a_registration() -> None:
    reading = i.read("Nee, ik wil me niet aanmelden, ik kan niet", "Aanmelding Pioniersnetwerk")
    assert reading.declines and not reading.has(i.REGISTER)


def test_doubt_is_never_clear() -> None:
    assert not i.read("Ik meld me aan, maar twijfel nog").clear


# (answer above the quote, what it says: approve / discard / '' for unclear)
ANSWERS = [
    ("ja", i.APPROVE), ("Ja!", i.APPROVE), ("Ja, versturen maar", i.APPROVE), ("akkoord", i.APPROVE),
    ("Akkoord, dank je", i.APPROVE), ("versturen", i.APPROVE), ("ok", i.APPROVE), ("OK", i.APPROVE),
    ("oké", i.APPROVE), ("prima", i.APPROVE), ("Prima!\n\nGroet, Jan", i.APPROVE), ("goed", i.APPROVE),
    ("yes", i.APPROVE), ("go", i.APPROVE), ("Hoi,\n\nJa graag.\n", i.APPROVE), ("ja" + OUTLOOK, i.APPROVE),
    ("nee", i.DISCARD), ("Nee, niet versturen", i.DISCARD), ("niet versturen", i.DISCARD),
    ("weggooien", i.DISCARD), ("no", i.DISCARD), ("Nee, toch niet.", i.DISCARD),
    ("Wacht even, er staat een fout in de datum", ""), ("Nog niet versturen aub", ""), ("STOP", ""),
    ("", ""), (OUTLOOK, ""), (GMAIL, ""), ("ja, maar pas eerst de datum aan", ""), ("nee, wacht", ""),
    ("Ja, kan het ook morgen?", ""), ("Hmm", ""), ("Even checken bij Piet", ""), ("wait", ""),
    ("Ok, als de datum klopt", ""), ("Goed, maar de locatie is fout", ""),
]


@pytest.mark.parametrize("text,expected", ANSWERS)
def test_reads_answers(text: str, expected: str) -> None:
    reading = i.approval(top_of_body(text))
    if expected:
        assert reading.clear and reading.intents == {expected}, reading
    else:
        assert not reading.clear and i.APPROVE not in reading.intents, reading
