"""The sign-in sheet as a PDF (`pioniers checkin DATE --sheet lijst.pdf`): the same people in the same order as the
XLSX, on A4 landscape pages with the header row and "pagina 1 van 3" on each; names in it, addresses and needs not.
"""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pypdf
import pytest

from helpers import authenticated, mail
from network.exports import SIGN_IN_BLANK, Sheet
from network.signin_pdf import sign_in_pdf
from pioniers import cli, cli_host

DAY = dt.date(2027, 3, 18)
HEADING = "Pioniersnetwerk 18 maart 2027, de gemeente Schiedam"
COLUMNS = ["Naam", "Organisatie", "Handtekening", "Aanwezig", "E-mailadres"]
PEOPLE = [  # (sender, body): names a plain font cannot print, and needs that must stay off the paper
    ("Zoë Łukasiewicz <zoe@utrecht.nl>", "Graag meld ik me aan. Ik ben vegetarisch.\n"),
    ("Ayşe Kılıç <ayse@schiedam.nl>", "Graag aanmelden. Ik kom met mijn rolstoel.\n"),
    ("Bert Bakker <bert@zwolle.nl>", "Graag meld ik me aan.\n"),
]


def _pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def _sheet(people: int) -> Sheet:
    rows: list[list] = [[f"Persoon {i:03d}", "Gemeente Gouda", "", "", f"p{i}@gouda.nl"] for i in range(people)]
    return Sheet("Presentielijst 2027-03-18", COLUMNS, rows + [["", "", "", "", ""]] * SIGN_IN_BLANK)


def test_more_people_take_more_pages_each_with_its_header_row_and_page_number():
    few, many = sign_in_pdf(_sheet(5), HEADING, "14.00-17.00 uur"), sign_in_pdf(_sheet(60), HEADING, "")
    assert few.startswith(b"%PDF") and many.startswith(b"%PDF")
    assert len(_pages(few)) == 1
    pages = _pages(many)
    assert len(pages) >= 5  # 65 rows, each tall enough to sign
    for number, text in enumerate(pages, start=1):
        assert HEADING in text and "Naam" in text and "Handtekening" in text and "Aanwezig" in text
        assert f"pagina {number} van {len(pages)}" in text
    text = "".join(pages)
    assert [text.index(f"Persoon {i:03d}") for i in range(60)] == sorted(text.index(f"Persoon {i:03d}")
                                                                        for i in range(60))
    assert "Persoon 059" in text and "@" not in text and "E-mailadres" not in text
    assert sign_in_pdf(_sheet(5), HEADING, "14.00-17.00 uur") == few  # no creation date: the same file again
    assert "page 1 of 1" in _pages(sign_in_pdf(_sheet(5), HEADING, "", "en"))[0]


def _cli(world, monkeypatch, *argv: str) -> int:
    for module in (cli, cli_host):
        monkeypatch.setattr(module, "_app", lambda args: world.app)
    return cli.main(["--config", str(world.config_path), *argv])


def test_checkin_sheet_as_pdf_names_without_addresses_or_needs(world, monkeypatch, capsys, tmp_path):
    world.meeting(DAY.isoformat())
    for sender, body in PEOPLE:
        world.deliver(mail(sender=sender, body=body, headers=authenticated(sender.rpartition("<")[2].rstrip(">"))))
    world.poll()
    capsys.readouterr()
    pdf, xlsx = tmp_path / "lijst.pdf", tmp_path / "lijst.xlsx"
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--sheet", str(pdf)) == 0
    assert f"(3 confirmed, and empty rows) written to {pdf}" in capsys.readouterr().out
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--sheet", str(xlsx)) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    (text,) = _pages(data)
    assert HEADING in text and "donderdag 18 maart 2027, 14.00-17.00 uur, Stadskantoor, Stadserf 1, Schiedam" in text
    assert "pagina 1 van 1" in text
    # The same people in the same order as the XLSX.
    names = [row[0] for row in openpyxl.load_workbook(xlsx).active.iter_rows(min_row=2, values_only=True) if row[0]]
    assert sorted(names) == ["Ayşe Kılıç", "Bert Bakker", "Zoë Łukasiewicz"]
    assert [text.index(n) for n in names] == sorted(text.index(n) for n in names)
    assert "@" not in text and "vegetarisch" not in text and "rolstoel" not in text
    assert b"vegetarisch" not in data and b"utrecht.nl" not in data


@pytest.mark.parametrize("name", ["lijst.docx", "lijst", "missing/lijst.pdf"])
def test_a_wrong_extension_or_folder_is_one_line(world, monkeypatch, capsys, tmp_path, name):
    world.meeting(DAY.isoformat())
    capsys.readouterr()
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--sheet", str(tmp_path / name)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert ("cannot write" in err) if name.startswith("missing") else (".xlsx or a .pdf" in err)
    assert not (tmp_path / name).exists()
