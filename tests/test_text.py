import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.html import QUOTE_MARKER, html_to_text
from inbox.text import organisation_from_domain, organisation_from_signature, top_of_body

OWN = "Graag meld ik me aan.\n\nMet vriendelijke groet,\n\nPiet Jansen\nGemeente Schiedam"

QUOTED = {
    "outlook nl": (
        "Van: Pioniersnetwerk <aanmelden@pioniers.nl>\n"
        "Verzonden: maandag 3 september 2018 10:12\n"
        "Aan: Piet Jansen <piet@schiedam.nl>\n"
        "Onderwerp: Pioniersnetwerk 11 december 2018\n\nOude tekst"
    ),
    "outlook nl, Datum": "Van: Pioniersnetwerk\nDatum: 3 september 2018\nOnderwerp: x",
    "outlook nl, wrapped sender": (
        "Van: Pioniersnetwerk Open Overheid namens Secretariaat\n<aanmelden@pioniers.nl>\n"
        "Verzonden: maandag 3 september 2018 10:12"
    ),
    "outlook nl, bold markers": "*Van:* Pioniersnetwerk <a@pioniers.nl>\n*Verzonden:* maandag\n*Aan:* Piet",
    "outlook en": (
        "From: Pioniersnetwerk <aanmelden@pioniers.nl>\nSent: Monday, September 3, 2018 10:12 AM\n"
        "To: Piet\nSubject: Pioniersnetwerk 11 december 2018"
    ),
    "outlook en, Date": "From: Pioniersnetwerk\nDate: Monday, September 3, 2018",
    "original message": "-----Original Message-----\nFrom: x\nOude tekst",
    "oorspronkelijk bericht": "-----Oorspronkelijk bericht-----\nOude tekst",
    "forwarded": "---------- Forwarded message ---------\nFrom: x",
    "doorgestuurd": "---------- Doorgestuurd bericht ---------\nVan: x",
    "outlook separator": "________________________________\nVan: Pioniersnetwerk\nOude tekst",
    "gmail nl": "Op ma 3 sep. 2018 om 10:12 schreef Jan <jan@x.nl>:\n\n> Oude tekst",
    "gmail nl, wrapped": "Op ma 3 sep. 2018 om 10:12 schreef Pioniersnetwerk Open Overheid <\naanmelden@pioniers.nl>:\n\n> Oude tekst",
    "apple nl": "Op 3 sep. 2018, om 10:12 heeft Jan Jansen <jan@x.nl> het volgende geschreven:\n\n> Oude tekst",
    "apple nl, wrapped": "Op 3 sep. 2018, om 10:12 heeft Jan Jansen <jan@x.nl> het\nvolgende geschreven:\n> Oude tekst",
    "gmail en": "On Mon, Sep 3, 2018 at 10:12 AM Jan <jan@x.nl> wrote:\n> Oude tekst",
    "gmail en, wrapped": "On Mon, Sep 3, 2018 at 10:12 AM Pioniersnetwerk <aanmelden@pioniers.nl>\nwrote:\n> Oude tekst",
    "bare quote": "> Oude tekst\n> meer",
    "indented quote": "  > Oude tekst",
}


@pytest.mark.parametrize("quoted", QUOTED.values(), ids=QUOTED.keys())
def test_top_of_body_cuts_quoted_text(quoted: str) -> None:
    assert top_of_body(f"{OWN}\n\n{quoted}\n") == OWN


@pytest.mark.parametrize(
    "text",
    [
        OWN,
        "Ik kom graag.\n-- \nPiet Jansen\nGemeente Schiedam",  # the signature stays
        "Op 18 september kom ik graag.\nTot dan!",  # "Op" without attribution
        "Op 18 september kom ik graag, zoals ik eerder schreef.\nTot dan:",
        "Van: mijn collega hoorde ik van het netwerk.\nDank!",  # "Van:" without a header block
        "Onderstreept\n__________\nPiet",  # a short rule is decoration
        "",
    ],
)
def test_top_of_body_keeps_own_text(text: str) -> None:
    assert top_of_body(text) == text


def test_top_of_body_handles_crlf_and_trailing_space() -> None:
    text = "Ik kom.\r\nPiet\r\n\r\n\r\nVan: x\r\nVerzonden: y\r\n"
    assert top_of_body(text) == "Ik kom.\nPiet"


def test_top_of_body_quote_at_the_top() -> None:
    assert top_of_body("> Oude tekst\nNieuw antwoord") == ""


OUTLOOK_DESKTOP_HTML = """<html xmlns:o="urn:schemas-microsoft-com:office:office">
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>Pioniers</title>
<style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt} --></style>
<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]-->
</head>
<body lang="NL" link="#0563C1">
<div class="WordSection1">
<p class="MsoNormal">Beste&nbsp;organisatie,<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Graag   meld ik me aan voor het
Pioniersnetwerk op 18&nbsp;september &amp; neem een collega mee.<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Met vriendelijke groet,<br>Piet Jansen<br/>Gemeente Schiedam<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>Van:</b> Pioniersnetwerk &lt;aanmelden@pioniers.nl&gt;<br>
<b>Verzonden:</b> maandag 3 september 2018 10:12<br>
<b>Onderwerp:</b> Pioniersnetwerk 11 december 2018</p>
</div>
<p class="MsoNormal">Oude tekst</p>
</div>
<script>alert("x")</script>
</body></html>"""

OWN_FROM_HTML = (
    "Beste organisatie,\n\n"
    "Graag meld ik me aan voor het Pioniersnetwerk op 18 september & neem een collega mee.\n\n"
    "Met vriendelijke groet,\nPiet Jansen\nGemeente Schiedam"
)

OUTLOOK_WEB_HTML = """<html><head><style type="text/css">P {margin:0}</style></head>
<body dir="ltr"><div style="font-family:Calibri">Graag aanmelden voor Pioniersnetwerk 18 september.</div>
<div>Groet,</div><div>Piet</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Pioniersnetwerk<br>
<b>Sent:</b> Monday, September 3, 2018</font><div>&nbsp;</div></div>
<div>Oude tekst</div></body></html>"""

GMAIL_HTML = """<div dir="ltr">Ik kom graag!<div><br></div><div>Piet</div></div><br>
<div class="gmail_quote"><div dir="ltr" class="gmail_attr">Op ma 3 sep. 2018 om 10:12 schreef Jan &lt;<a href="mailto:jan@x.nl">jan@x.nl</a>&gt;:<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Oude tekst</blockquote></div>"""


@pytest.mark.parametrize(
    ("html", "own"),
    [
        (OUTLOOK_DESKTOP_HTML, OWN_FROM_HTML),
        (OUTLOOK_WEB_HTML, "Graag aanmelden voor Pioniersnetwerk 18 september.\nGroet,\nPiet"),
        (GMAIL_HTML, "Ik kom graag!\n\nPiet"),
    ],
    ids=["outlook desktop", "outlook web", "gmail"],
)
def test_html_only_mail_gives_own_text(html: str, own: str) -> None:
    text = html_to_text(html)
    assert QUOTE_MARKER in text or "schreef" in text
    assert top_of_body(text) == own


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>a</p><p>b</p>", "a\nb"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<div><div><p>a</p></div></div>b", "a\nb"),
        ("<p>a</p><p>&nbsp;</p><p>b</p>", "a\n\nb"),
        ("<p>a</p><p></p><p></p><p></p><br><br><br><p>b</p>", "a\n\nb"),
        ("<h1>Kop</h1><ul><li>een</li><li>twee</li></ul>", "Kop\neen\ntwee"),
        ("<table><tr><td>Naam</td><td>Piet</td></tr><tr><td>Org</td><td>Schiedam</td></tr></table>",
         "Naam Piet\nOrg Schiedam"),
        ("<p>caf&eacute; &#8364;5 &lt;ok&gt; &amp;&#x41;</p>", "café €5 <ok> &A"),
        ("<p>  veel \n\t  ruimte  </p>", "veel ruimte"),
        ("<head><title>T</title><style>x{}</style></head><body>Tekst<script>var a=1;</script></body>", "Tekst"),
        ("<p>a<!-- commentaar --></p>", "a"),
        ("", ""),
        ("Gewone tekst", "Gewone tekst"),
        ("<pre>Ik kom.\n\n&gt; oud\n</pre>", "Ik kom.\n\n> oud"),
        ("<html><head><meta charset=utf-8><body><p>Geen &lt;/head&gt;</p></body>", "Geen </head>"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_survives_broken_html() -> None:
    assert html_to_text("<p>a<div>b</span></p></p>") == "a\nb"
    assert html_to_text("<p>a</p><p")  # an unfinished tag neither raises nor loses text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (OWN, "Gemeente Schiedam"),
        ("Groet,\nPiet\ngemeente schiedam", "Gemeente Schiedam"),
        ("Groet,\nPiet\nGEMEENTE SCHIEDAM", "Gemeente Schiedam"),
        ("Groet,\nPiet\nGemeente Den Haag", "Gemeente Den Haag"),
        ("Groet,\nPiet\ngemeente den haag", "Gemeente Den Haag"),
        ("Groet,\nPiet\ngemeente capelle aan den ijssel", "Gemeente Capelle aan den IJssel"),
        ("Groet,\nPiet\nGemeente 's-Hertogenbosch", "Gemeente 's-Hertogenbosch"),
        ("Groet,\nPiet\ngemeente súdwest-fryslân", "Gemeente Súdwest-Fryslân"),
        ("Groet,\nPiet\nProvincie Utrecht", "Provincie Utrecht"),
        ("Groet,\nPiet\nWaterschap Hollandse Delta", "Waterschap Hollandse Delta"),
        ("Groet,\nPiet\nMinisterie van BZK", "Ministerie van BZK"),
        ("Groet,\nPiet\nministerie van bzk", "Ministerie van BZK"),
        ("Groet,\nPiet\nMinisterie van Binnenlandse Zaken en Koninkrijksrelaties",
         "Ministerie van Binnenlandse Zaken en Koninkrijksrelaties"),
        ("Groet,\nPiet Jansen | Adviseur | Gemeente Schiedam", "Gemeente Schiedam"),
        ("Groet,\nPiet Jansen, Provincie Utrecht", "Provincie Utrecht"),
        ("Groet,\nPiet Jansen - Gemeente Schiedam", "Gemeente Schiedam"),
        ("Ik werk bij de gemeente Schiedam als adviseur.", "Gemeente Schiedam"),
        ("Ik werk namens de Provincie Noord-Holland.", "Provincie Noord-Holland"),
        ("Ik werk bij de gemeente Alphen aan den Rijn.", "Gemeente Alphen aan den Rijn"),
        # the signature (bottom) wins over a mention in the text
        ("Ik werk bij de gemeente Delft.\n\nPiet\nGemeente Schiedam", "Gemeente Schiedam"),
        # quoted text is not the sender's
        ("Ik kom.\n\nVan: Jan\nVerzonden: maandag\n\nJan\nGemeente Delft", None),
        ("Ik kom.\n\nPiet", None),
        ("De gemeente heeft besloten dat ik mag komen.", None),
        ("Gemeente Rotterdam heeft besloten dat ik mag komen.", None),
        ("gemeente rotterdam heeft besloten dat ik mag komen", None),
        ("Ik werk bij de gemeente en kom graag.", None),
        ("Gemeentehuis Schiedam", None),
        ("", None),
    ],
)
def test_organisation_from_signature(text: str, expected: str | None) -> None:
    assert organisation_from_signature(text) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("schiedam.nl", "Gemeente Schiedam"),
        ("SCHIEDAM.NL", "Gemeente Schiedam"),
        ("mail.utrecht.nl", "Gemeente Utrecht"),
        ("den-haag.nl", "Gemeente Den Haag"),
        ("denhaag.nl", "Gemeente Den Haag"),
        ("gemeentedenhaag.nl", "Gemeente Den Haag"),
        ("gemeentewestland.nl", "Gemeente Westland"),
        ("gemeente-oss.nl", "Gemeente Oss"),
        ("gemeentex.nl", "Gemeente X"),
        ("s-hertogenbosch.nl", "Gemeente 's-Hertogenbosch"),
        ("alphenaandenrijn.nl", "Gemeente Alphen aan den Rijn"),
        ("capelleaandenijssel.nl", "Gemeente Capelle aan den IJssel"),
        ("sudwestfryslan.nl", "Gemeente Súdwest-Fryslân"),
        ("dantumadiel.frl", "Gemeente Dantumadiel"),
        ("amsterdam.nl.", "Gemeente Amsterdam"),
        # free mail
        ("gmail.com", None),
        ("hotmail.com", None),
        ("outlook.com", None),
        ("live.nl", None),
        ("ziggo.nl", None),
        ("kpnmail.nl", None),
        ("xs4all.nl", None),
        ("icloud.com", None),
        ("yahoo.com", None),
        ("proton.me", None),
        ("hetnet.nl", None),
        # other government
        ("rijksoverheid.nl", None),
        ("minbzk.nl", None),
        ("minezk.nl", None),
        ("vng.nl", None),
        ("provincie-utrecht.nl", None),
        ("pzh.nl", None),
        ("waterschaphollandsedelta.nl", None),
        ("hhnk.nl", None),
        ("uwv.nl", None),
        ("belastingdienst.nl", None),
        # companies and foreign domains
        ("ordina.nl", None),
        ("schiedam.de", None),
        ("nl", None),
        ("", None),
    ],
)
def test_organisation_from_domain(domain: str, expected: str | None) -> None:
    assert organisation_from_domain(domain) == expected


PIECES = ["<p>", "</p>", "<br>", "<div id=divRplyFwdMsg>", "<head>", "</head>", "<pre>", "&nbsp;", "&amp", "<",
          ">", "Van: x", "Verzonden: y", "Op 1 sep om 10:12", "schreef:", "Gemeente", " ", "\n", "\t", "Schiedam"]


@given(st.one_of(st.text(), st.lists(st.sampled_from(PIECES)).map("".join)))
def test_text_functions_never_raise(text: str) -> None:
    plain = html_to_text(text)
    own = top_of_body(plain)
    assert own == top_of_body(own)  # cutting twice changes nothing
    organisation_from_signature(text)
    organisation_from_signature(plain)
