"""The short fault suite (`python -m bench.faults --short`) on real servers: a private Dovecot, a misbehaving
aiosmtpd server, SQLite and a private PostgreSQL cluster. A missing binary fails; nothing here is skipped.

Asserted: only what the product promises and holds today -- nothing lost (every registration recorded, every
confirmation queued once: no message processed twice), the service alive across a database restart, a kill -9
leaving no orphans and at most one repeat, an announcement finished after its sender was killed. Everything else
(duplicates of the list's fan-out, rows waiting on a dead process's lease, sends during SMTP faults) is
reported as numbers by the suite and in bench/FAULTS.md."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import faults  # noqa: E402


def test_faults_short() -> None:
    started = time.perf_counter()
    results = faults.run(short=True, only=None, report=lambda s: print(s, flush=True))
    by: dict[str, list[faults.Row]] = {}
    for r in results:
        by.setdefault(r.experiment.split(" ")[0], []).append(r)
    assert set(by) == {"1", "2", "3", "4", "5", "6"}, [r.experiment for r in results]

    for r in by["1"] + by["2"] + by["4"] + by["6"]:  # every registration recorded, one confirmation queued each
        f = r.facts
        assert f["registered"] == f["total"], r.line()
        assert f["rows"] == f["total"] and f["rows_max"] == 1, r.line()
    burst = by["1"][0].facts
    assert burst["code"] == 0 and burst["twice"] == 0 and burst["missing"] == 0, by["1"][0].line()
    for r in by["2"]:  # kill -9 of poll --once: no orphans, the resume exits 0, at most one repeat
        assert r.facts["orphans"] == [] and r.facts["code"] == 0 and r.facts["max_copies"] <= 2, r.line()
    for r in by["3"]:  # kill -9 of announce: every member reached after the resume, one delivery row each, and
        f = r.facts  # at most the copy in flight on each of the 4 connections repeated
        assert f["orphans"] == [] and f["missing"] == 0 and f["stuck"] == 0, r.line()
        assert f["deliveries"] == f["total"] and r.twice <= 4 and f["max_copies"] <= 2, r.line()
    for r in by["4"]:  # `run` survives a PostgreSQL restart, everyone answered once
        assert r.facts["alive"] and r.missing == 0 and r.twice == 0, r.line()
    for r in by["5"]:  # kill -9 of `run`: its lock dies with it, a restarted `run` starts at once and answers all
        assert not r.facts["refused"] and r.missing == 0 and r.twice == 0, r.line()
    for r in by["6"]:  # SMTP down or dropping: `poll --once` still returns, reading is not held up
        assert r.facts["returned"] and r.facts["recorded_s"] is not None, r.line()
    print(f"short fault suite: {time.perf_counter() - started:.0f} s")
