"""Readable plain text from HTML mail: for the decide step (incoming) and for a list post's text part (outgoing)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

QUOTE_MARKER = "-----Original Message-----"  # where the quoted message begins; inbox/text.py cuts there

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
