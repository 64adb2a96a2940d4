"""`pioniers meeting import FILE`: the network's history since 2018 from a spreadsheet, for `hosts` and `stats`.

Hooked into the `meeting` command of pioniers/cli.py by add_parser() and import_history().
"""
from __future__ import annotations

import argparse
from pathlib import Path

from db.app import App
from network import history
from network.history_import import ImportReport, import_history
from pioniers.progress import Progress


def add_parser(msub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = msub.add_parser("import", help="past meetings and who attended, from CSV or XLSX (the network's history); "
                                         "mails nobody")
    imp.add_argument("file", help="CSV (',' or ';') or XLSX; columns date, host, location, theme, start, end, "
                                  "email, name, organisation (or datum, gastgemeente, locatie, thema, e-mail, naam, "
                                  "organisatie)")


def import_history_file(app: App, args: argparse.Namespace) -> None:
    path = Path(args.file)
    parsed = history.parse(history.read_file(path), path.name, app.today())
    with Progress("importing", parsed.rows) as bar:
        report = import_history(app, parsed, progress=bar.update)
        bar.finish(parsed.rows)
    print("\n".join(report_lines(report, app.cfg.network.retention_days)))


def report_lines(report: ImportReport, retention_days: int) -> list[str]:
    lines = [f"meetings: {len(report.added)} added, {len(report.merged)} already there (merged: empty fields "
             "filled, nothing overwritten)"]
    lines += [f"  {note}" for note in report.notes]
    lines.append(f"attendees: {report.attendees} added, {report.known} already recorded")
    if report.figures_only:
        lines.append(f"{len(report.figures_only)} meeting(s) before {report.cutoff} are older than the retention "
                     f"({retention_days} days): only their figures are kept (counts per organisation and role), "
                     "no names or addresses")
    if report.skipped:
        lines.append(f"rows skipped: {len(report.skipped)}")
        lines += [f"  row {s.row}: {s.why}" for s in report.skipped]
    else:
        lines.append("rows skipped: 0")
    if report.unread:
        lines.append("columns not read: " + ", ".join(report.unread))
    lines.append("nobody was mailed; nobody was added to the mailing list")
    return lines
