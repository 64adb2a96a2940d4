"""The sign-in sheet (network.exports.sign_in_sheet) as a PDF to print at the door: A4 landscape, the meeting on top
of every page, the header row on every page, rows tall enough to sign, a box to tick, "pagina 1 van 3".

Drawn with matplotlib's Figure and PdfPages directly (no pyplot, no matplotlib.use: nothing global changes for
other code); DejaVu Sans, which matplotlib ships, prints every name (ë, ł, ş). The address column, the sheet's
last, is never printed.
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

from network.exports import Sheet

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PAGE_W, _PAGE_H = 297.0, 210.0  # A4 landscape, in mm; the drawing works in mm from the top left
_MARGIN = 15.0
_HEADER_Y = 34.0  # top of the column header row
_HEADER_H = 8.0
_ROW_H = 12.0  # room for a signature
_FOOTER_Y = _PAGE_H - 10.0
_ROWS_PER_PAGE = int((_FOOTER_Y - 6.0 - _HEADER_Y - _HEADER_H) // _ROW_H)
# Name, organisation, signature (wide, empty), present (a box to tick): left edges, the right margin last
_EDGES = (_MARGIN, 85.0, 150.0, 257.0, _PAGE_W - _MARGIN)
_BOX = 5.0
_PAGE_OF = {"nl": "pagina {page} van {pages}", "en": "page {page} of {pages}"}


def sign_in_pdf(sheet: Sheet, heading: str, details: str, lang: str = "nl") -> bytes:
    """The sheet's rows (name, organisation, signature, present; the address column left out) on as many pages
    as they take; heading ("Pioniersnetwerk 18 maart 2027, de gemeente Schiedam") and details (time and place)
    on top of each page. Reproducible: no creation date in it."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    columns = sheet.columns[:4]
    rows = [[str(c) for c in row[:2]] for row in sheet.rows]
    pages = [rows[i:i + _ROWS_PER_PAGE] for i in range(0, len(rows), _ROWS_PER_PAGE)] or [[]]
    out = io.BytesIO()
    # rc_context is undone on leaving: TrueType text (searchable, and names stay as typed), DejaVu Sans.
    with matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}):
        with PdfPages(out, metadata={"CreationDate": None, "Creator": None, "Producer": None}) as pdf:
            for number, page in enumerate(pages, start=1):
                fig = Figure(figsize=(_PAGE_W / 25.4, _PAGE_H / 25.4))
                _draw(fig, page, columns, heading, details,
                      _PAGE_OF.get(lang, _PAGE_OF["nl"]).format(page=number, pages=len(pages)))
                pdf.savefig(fig)
    return out.getvalue()


def _draw(fig: Figure, rows: list[list[str]], columns: list[str], heading: str, details: str, footer: str) -> None:
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Bbox, TransformedBbox

    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(0, _PAGE_W)
    ax.set_ylim(_PAGE_H, 0)  # y downwards, as one reads a page
    left, right = _EDGES[0], _EDGES[-1]
    ax.text(left, 14.0, heading, fontsize=15, fontweight="bold", va="baseline")
    ax.text(left, 22.0, details, fontsize=11, va="baseline")
    ax.text(right, _FOOTER_Y, footer, fontsize=9, ha="right", va="baseline")

    bottom = _HEADER_Y + _HEADER_H + _ROW_H * len(rows)
    for x, name in zip(_EDGES, columns):
        ax.text(x + 2.0, _HEADER_Y + _HEADER_H / 2, name, fontsize=11, fontweight="bold", va="center")
    ax.hlines([_HEADER_Y], left, right, colors="black", linewidth=0.8)
    ax.hlines([_HEADER_Y + _HEADER_H], left, right, colors="black", linewidth=1.4)
    ax.hlines([_HEADER_Y + _HEADER_H + _ROW_H * (i + 1) for i in range(len(rows))], left, right,
              colors="black", linewidth=0.6)
    ax.vlines(_EDGES, _HEADER_Y, bottom, colors="black", linewidth=0.6)
    present = (_EDGES[3] + _EDGES[4]) / 2
    for i, row in enumerate(rows):
        top = _HEADER_Y + _HEADER_H + _ROW_H * i
        for col, text in enumerate(row):
            # A long name is cut at its column's edge (set after Axes.text, which clips to the axes).
            cell = TransformedBbox(Bbox.from_extents(_EDGES[col], top, _EDGES[col + 1] - 1.0, top + _ROW_H),
                                   ax.transData)
            ax.text(_EDGES[col] + 2.0, top + _ROW_H / 2, text, fontsize=11, va="center",
                    clip_on=True).set_clip_box(cell)
        ax.add_patch(Rectangle((present - _BOX / 2, top + (_ROW_H - _BOX) / 2), _BOX, _BOX, fill=False,
                               edgecolor="black", linewidth=0.8))
