"""Plain text from incoming mail: the sender's own part, HTML conversion and the sender's organisation."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

QUOTE_MARKER = "-----Original Message-----"

# --- may_contain -------------------------------------------------------------------------------

# The characters beyond ASCII that a re.IGNORECASE pattern matches to an ASCII letter: 'ſ' (s), 'ı' and 'İ' (i),
# the Kelvin sign (k). str.lower() does not always turn them into that letter, so such text is left to the regex.
_FOLDS_TO_ASCII = ("\u017f", "\u0131", "\u0130", "\u212a")


def may_contain(text: str, words: tuple[str, ...]) -> bool:
    """False only when none of the lower-case ASCII words occurs in text the way a re.IGNORECASE pattern would
    find it. A cheap test (plain substring search) before an expensive regex that cannot match without one."""
    if type(text) is not str or not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII):
        return True  # rare: leave it to the regex
    return any(map(text.lower().__contains__, words))


# --- strip_prefixes ----------------------------------------------------------------------------

_PREFIX = re.compile(r"^\s*((re|aw|antw|fw|fwd|doorst|wg|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def strip_prefixes(subject: str) -> str:
    """'RE: Antw: FW: x' -> 'x'."""
    return _PREFIX.sub("", subject)


# --- top_of_body -------------------------------------------------------------------------------

_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|oorspronkelijk bericht|origineel bericht|forwarded message"
    r"|doorgestuurd bericht)\s*-{2,}|_{30,})\s*$",
    re.IGNORECASE,
)
# Outlook prints its header block with optional bold markers when rendered to text: "*Van:* Jan".
_HEADER_FROM = re.compile(r"^\s*\*?(?:van|from)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(?:verzonden|datum|sent|date)\s*:", re.IGNORECASE)
_HEADER_WINDOW = 4  # Outlook puts "Verzonden:" right under "Van:"; allow a wrapped address or two
_ATTRIBUTION = re.compile(
    r"^\s*(?:op\s.*\b(?:schreef|geschreven)\b.*|on\s.*\bwrote)\s*:\s*$", re.IGNORECASE
)
_ATTRIBUTION_DETAIL = re.compile(r"\d{1,2}[:.]\d{2}|@")


_OP_ON = re.compile(r"^\s*(?:op|on)\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s*$")
# What a quote start can begin with, after white space: '>', a separator's '-' or '_', Outlook's '*', or the
# 'v'/'f' of Van:/From: and the 'o' of Op/On. (No character beyond ASCII matches v, f or o under IGNORECASE.)
_QUOTE_FIRST = frozenset(">-_*vVfFoO")


def _is_attribution(line: str, following: str) -> bool:
    """Gmail/Apple/Thunderbird: "Op ma 3 sep. 2018 om 10:12 schreef Jan <jan@x.nl>:", maybe wrapped."""
    if len(line) > 300 or not _OP_ON.match(line):
        return False
    candidates = [line]
    if not _SENTENCE_END.search(line):  # a finished sentence is not half an attribution
        candidates.append(f"{line.rstrip()} {following.strip()}")
    # Real attributions carry a time or an address; "Op 18 september ... schreef:" in prose does not.
    return any(_ATTRIBUTION.match(c) and _ATTRIBUTION_DETAIL.search(c) for c in candidates)


def _is_quote_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.lstrip()[:1] not in _QUOTE_FIRST:  # most lines: none of the patterns below can match
        return False
    if line.lstrip().startswith(">") or _SEPARATOR.match(line):
        return True
    if _HEADER_FROM.match(line) and any(
        _HEADER_NEXT.match(later) for later in lines[i + 1 : i + 1 + _HEADER_WINDOW]
    ):
        return True
    return _is_attribution(line, lines[i + 1] if i + 1 < len(lines) else "")


def top_of_body(text: str) -> str:
    """The part of a plain-text body written by the sender: everything above the first quote marker.

    The signature stays: the sender's organisation is read from it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i in range(len(lines)):
        if _is_quote_start(lines, i):
            return "\n".join(lines[:i]).rstrip()
    return "\n".join(lines).rstrip()


# --- html_to_text ------------------------------------------------------------------------------

_SKIPPED = {"head", "style", "script", "title"}
_BLOCKS = {
    "p", "div", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer",
}


def _starts_quote(tag: str, attrs: dict[str, str]) -> bool:
    """Outlook (web and desktop) and Gmail open the quoted message with one of these."""
    if tag == "div":
        if attrs.get("id", "").lower() in {"divrplyfwdmsg", "appendonsend"}:
            return True
        if "gmail_quote" in attrs.get("class", "").split():
            return True
        style = attrs.get("style", "").lower().replace(" ", "")
        return "border-top:solid" in style
    return tag == "blockquote" and attrs.get("type", "").lower() == "cite"


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0

    def _newline(self) -> None:
        # Block boundaries give one break, not one per nested element; source indentation between
        # blocks is dropped (a &nbsp; paragraph is kept: Outlook's empty line).
        while self.parts and self.parts[-1].strip(" ") == "" and "\n" not in self.parts[-1]:
            self.parts.pop()
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip_depth += 1
        elif tag == "body":
            self.skip_depth = 0  # an unclosed <head> must not swallow the message
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self._newline()
            self.pre_depth += tag == "pre"
            if _starts_quote(tag, {k: v or "" for k, v in attrs}):
                self.parts.append(f"\n{QUOTE_MARKER}\n")
        elif tag in {"td", "th"}:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED:  # <br/>, <hr/>, <div/>: no content to skip
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCKS:
            self.pre_depth = max(0, self.pre_depth - (tag == "pre"))
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:  # some clients wrap a plain-text body in <pre>: keep its lines
            self.parts.append(data.replace("\r\n", "\n"))
        else:
            # Newlines in HTML source are just spaces; &nbsp; stays until the final clean-up.
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text from HTML mail, with Outlook's quoted part marked by a separator line."""
    parser = _TextExtractor()
    parser.feed(html)
    if parser.rawdata.startswith("<"):
        # A tag or comment left open runs to the end, which a browser does not show either. close() would scan
        # the rest again for every '<' in it (quadratic: 17 s for 200 KB of "<!--"; CPython gh-135462).
        parser.rawdata = ""
    parser.close()
    lines = [re.sub(r"\s+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- organisations -----------------------------------------------------------------------------

_PARTICLES = {"aan", "de", "den", "der", "het", "in", "op", "van", "en", "bij", "voor", "a/d", "'t"}
_ORG_KINDS = {
    "gemeente": "Gemeente",
    "provincie": "Provincie",
    "waterschap": "Waterschap",
    "hoogheemraadschap": "Hoogheemraadschap",
    "wetterskip": "Wetterskip",
}
_WORD = r"(?:'[st]-?)?[^\W\d_]+(?:-[^\W\d_]+)*"
_KIND = "|".join(_ORG_KINDS)
_OWN_LINE = re.compile(
    rf"^(?P<kind>{_KIND})\s+(?P<name>{_WORD}(?:\s+{_WORD}){{0,4}}(?:\s*\([A-Za-z.]{{1,4}}\))?)$", re.I
)
_MINISTRY_LINE = re.compile(rf"^ministerie\s+van\s+(?P<name>{_WORD}(?:,?\s+{_WORD}){{0,5}})$", re.I)
# "werkzaam bij de gemeente Schiedam": the name must be capitalised in running text.
_PHRASE = re.compile(
    rf"\b(?i:bij|namens|voor|van)\s+(?i:de\s+|het\s+)?(?P<kind>(?i:{_KIND}))\s+"
    rf"(?P<name>(?:'[st]-)?[A-Z][^\W\d_]*(?:-[^\W\d_]+)*(?:\s+(?:(?:aan|den|de|op|in)\s+)*[A-Z][^\W\d_]*(?:-[^\W\d_]+)*)*)",
)
_SEGMENT_SPLIT = re.compile(r"\||•|·|\t|\s[-–—]\s|;")


def _smart_title(word: str, first: bool) -> str:
    if not first and word in _PARTICLES:
        return word
    if word.startswith(("'s-", "'t-")):
        return word[:3] + _smart_title(word[3:], True)
    if "-" in word:
        return "-".join(_smart_title(part, True) for part in word.split("-"))
    if word.startswith("ij"):  # Dutch digraph: IJsselstein, IJssel
        return "IJ" + word[2:]
    return word[:1].upper() + word[1:]


def _tidy_name(name: str) -> str | None:
    """Keep the sender's capitals unless the name is all lower or upper case; None for sentence-like text."""
    words = name.split()
    if name == name.lower() or name == name.upper():
        words = [w.lower() for w in words]
        proper = [w for w in words if w not in _PARTICLES]
        if len(proper) > 2:  # "gemeente rotterdam heeft besloten" is a sentence, not a name
            return None
        return " ".join(_smart_title(w, i == 0) for i, w in enumerate(words))
    for i, word in enumerate(words):
        bare = word.lstrip("'").removeprefix("s-").removeprefix("t-").strip("(),")
        if not (bare[:1].isupper() or (i > 0 and word.lower() in _PARTICLES)):
            return None
    return " ".join(words)


def _organisation_in_segment(segment: str) -> str | None:
    ministry = _MINISTRY_LINE.match(segment)
    if ministry:
        name = ministry.group("name")
        if " " not in name and len(name) <= 5:  # "ministerie van bzk": an abbreviation
            return f"Ministerie van {name.upper()}"
        tidy = _tidy_name(name)
        return f"Ministerie van {tidy}" if tidy else None
    own = _OWN_LINE.match(segment)
    if own:
        tidy = _tidy_name(own.group("name"))
        return f"{_ORG_KINDS[own.group('kind').lower()]} {tidy}" if tidy else None
    return None


def _segments(line: str) -> list[str]:
    parts = [p.strip() for p in _SEGMENT_SPLIT.split(line.strip()) if p.strip()]
    # "Jan Jansen, Gemeente Schiedam": also try the comma parts (ministry names contain commas).
    return parts + [c.strip() for p in parts if "," in p for c in p.split(",") if c.strip()]


def organisation_from_signature(text: str) -> str | None:
    """The sender's organisation ('Gemeente Schiedam', 'Provincie Utrecht', 'Ministerie van BZK')
    found as its own line (signatures, bottom up) or a clear phrase in the sender's part."""
    lines = top_of_body(text).split("\n")
    for line in reversed(lines):
        for segment in _segments(line):
            found = _organisation_in_segment(segment)
            if found:
                return found
    for line in lines:
        phrase = _PHRASE.search(line)
        if phrase:
            return f"{_ORG_KINDS[phrase.group('kind').lower()]} {phrase.group('name')}"
    return None


# Municipalities (2024, plus a few merged since 2018 whose addresses linger). Domains are matched
# on letters only: "den-haag.nl", "denhaag.nl" and "gemeentedenhaag.nl" are all Den Haag.
_MUNICIPALITIES = """
Eemsdelta|Groningen|Het Hogeland|Midden-Groningen|Oldambt|Pekela|Stadskanaal|Veendam|Westerkwartier|Westerwolde
Achtkarspelen|Ameland|Dantumadiel|De Fryske Marren|Harlingen|Heerenveen|Leeuwarden|Noardeast-Fryslân|Ooststellingwerf
Opsterland|Schiermonnikoog|Smallingerland|Súdwest-Fryslân|Terschelling|Tytsjerksteradiel|Vlieland|Waadhoeke|Weststellingwerf
Aa en Hunze|Assen|Borger-Odoorn|Coevorden|De Wolden|Emmen|Hoogeveen|Meppel|Midden-Drenthe|Noordenveld|Tynaarlo|Westerveld
Almelo|Borne|Dalfsen|Deventer|Dinkelland|Enschede|Haaksbergen|Hardenberg|Hellendoorn|Hengelo|Hof van Twente|Kampen|Losser
Oldenzaal|Olst-Wijhe|Ommen|Raalte|Rijssen-Holten|Staphorst|Steenwijkerland|Tubbergen|Twenterand|Wierden|Zwartewaterland|Zwolle
Almere|Dronten|Lelystad|Noordoostpolder|Urk|Zeewolde
Aalten|Apeldoorn|Arnhem|Barneveld|Berg en Dal|Berkelland|Beuningen|Bronckhorst|Brummen|Buren|Culemborg|Doesburg|Doetinchem
Druten|Duiven|Ede|Elburg|Epe|Ermelo|Harderwijk|Hattem|Heerde|Heumen|Lingewaard|Lochem|Maasdriel|Montferland|Neder-Betuwe
Nijkerk|Nijmegen|Nunspeet|Oldebroek|Oost Gelre|Oude IJsselstreek|Overbetuwe|Putten|Renkum|Rheden|Rozendaal|Scherpenzeel|Tiel
Voorst|Wageningen|West Betuwe|West Maas en Waal|Westervoort|Wijchen|Winterswijk|Zaltbommel|Zevenaar|Zutphen
Amersfoort|Baarn|Bunnik|Bunschoten|De Bilt|De Ronde Venen|Eemnes|Houten|IJsselstein|Leusden|Lopik|Montfoort|Nieuwegein
Oudewater|Renswoude|Rhenen|Soest|Stichtse Vecht|Utrecht|Utrechtse Heuvelrug|Veenendaal|Vijfheerenlanden|Wijk bij Duurstede
Woerden|Woudenberg|Zeist
Aalsmeer|Alkmaar|Amstelveen|Amsterdam|Bergen (NH)|Beverwijk|Blaricum|Bloemendaal|Castricum|Den Helder|Diemen|Dijk en Waard
Drechterland|Edam-Volendam|Enkhuizen|Gooise Meren|Haarlem|Haarlemmermeer|Heemskerk|Heemstede|Heiloo|Hilversum|Hollands Kroon
Hoorn|Huizen|Koggenland|Landsmeer|Laren|Medemblik|Oostzaan|Opmeer|Ouder-Amstel|Purmerend|Schagen|Stede Broec|Texel|Uitgeest
Uithoorn|Velsen|Waterland|Wijdemeren|Wormerland|Zaanstad|Zandvoort|Heerhugowaard|Langedijk|Beemster|Weesp
Alblasserdam|Albrandswaard|Alphen aan den Rijn|Barendrecht|Bodegraven-Reeuwijk|Capelle aan den IJssel|Delft|Den Haag|Dordrecht
Goeree-Overflakkee|Gorinchem|Gouda|Hardinxveld-Giessendam|Hendrik-Ido-Ambacht|Hillegom|Hoeksche Waard|Kaag en Braassem
Katwijk|Krimpen aan den IJssel|Krimpenerwaard|Lansingerland|Leiden|Leiderdorp|Leidschendam-Voorburg|Lisse|Maassluis
Midden-Delfland|Molenlanden|Nieuwkoop|Nissewaard|Noordwijk|Oegstgeest|Papendrecht|Pijnacker-Nootdorp|Ridderkerk|Rijswijk
Rotterdam|Schiedam|Sliedrecht|Teylingen|Vlaardingen|Voorne aan Zee|Voorschoten|Waddinxveen|Wassenaar|Westland|Zoetermeer
Zoeterwoude|Zuidplas|Zwijndrecht|Brielle|Hellevoetsluis|Westvoorne
Borsele|Goes|Hulst|Kapelle|Middelburg|Noord-Beveland|Reimerswaal|Schouwen-Duiveland|Sluis|Terneuzen|Tholen|Veere|Vlissingen
Alphen-Chaam|Altena|Asten|Baarle-Nassau|Bergeijk|Bergen op Zoom|Bernheze|Best|Bladel|Boekel|Boxtel|Breda|Cranendonck|Deurne
Dongen|Drimmelen|Eersel|Eindhoven|Etten-Leur|Geertruidenberg|Geldrop-Mierlo|Gemert-Bakel|Gilze en Rijen|Goirle|Halderberge
Heeze-Leende|Helmond|'s-Hertogenbosch|Heusden|Hilvarenbeek|Land van Cuijk|Laarbeek|Loon op Zand|Maashorst|Meierijstad
Moerdijk|Nuenen|Oirschot|Oisterwijk|Oosterhout|Oss|Reusel-De Mierden|Roosendaal|Rucphen|Sint-Michielsgestel|Someren
Son en Breugel|Steenbergen|Tilburg|Valkenswaard|Veldhoven|Vught|Waalre|Waalwijk|Woensdrecht|Zundert|Uden|Boxmeer|Cuijk
Beek|Beekdaelen|Beesel|Bergen (L)|Brunssum|Echt-Susteren|Eijsden-Margraten|Gennep|Gulpen-Wittem|Heerlen|Horst aan de Maas
Kerkrade|Landgraaf|Leudal|Maasgouw|Maastricht|Meerssen|Mook en Middelaar|Nederweert|Peel en Maas|Roerdalen|Roermond
Simpelveld|Sittard-Geleen|Stein|Vaals|Valkenburg aan de Geul|Venlo|Venray|Voerendaal|Weert
"""


def _letters(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


_MUNICIPALITY_BY_KEY = {_letters(n): n for n in re.split(r"[|\n]", _MUNICIPALITIES) if n}
# Domains that differ from the name.
_MUNICIPALITY_BY_KEY |= {
    "sgravenhage": "Den Haag",
    "bergen": "Bergen (L)",
    "heuvelrug": "Utrechtse Heuvelrug",
    "shertogenbosch": "'s-Hertogenbosch",
    "denbosch": "'s-Hertogenbosch",
}
_DUTCH_TLDS = ("nl", "frl")  # Frisian municipalities also mail from .frl


def organisation_from_domain(domain: str) -> str | None:
    """'Gemeente X' for a municipality's mail domain (schiedam.nl, mail.utrecht.nl, den-haag.nl);
    None for anything else: free mail, other governments, companies, foreign domains."""
    labels = domain.strip().strip(".").lower().split(".")
    if len(labels) < 2 or labels[-1] not in _DUTCH_TLDS:
        return None
    key = _letters(labels[-2])
    # A list rather than "any .nl is a municipality": gmail.com, rijksoverheid.nl, uwv.nl or a
    # consultancy would otherwise become "Gemeente Uwv".
    if key in _MUNICIPALITY_BY_KEY:
        return f"Gemeente {_MUNICIPALITY_BY_KEY[key]}"
    rest = key.removeprefix("gemeente")
    if rest != key and rest:
        return f"Gemeente {_MUNICIPALITY_BY_KEY.get(rest) or _smart_title(rest, True)}"
    return None
