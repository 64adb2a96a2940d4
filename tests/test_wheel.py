"""Installed the way operators install it: a wheel in a fresh virtualenv, used from a folder outside the checkout.
init -> meeting add -> run (embedded) -> a registration by SMTP -> a confirmation with an invite."""
from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DAY = "2099-03-19"  # far ahead of any clock this runs on: the service reads the real time



def _run(*cmd: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_the_wheel_runs_on_its_own(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIONIERS_", "VIRTUAL_ENV"))}
    dist, venv, site = tmp_path / "dist", tmp_path / "venv", tmp_path / "site"
    source = tmp_path / "source"  # built from a copy: a build leaves build/ behind in the tree it is given
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "var", "*.egg-info", "__pycache__",
                                                                ".mypy_cache", ".pytest_cache", ".hypothesis"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, source, cwd=tmp_path, env=env)
    (wheel,) = dist.glob("pioniers-*.whl")
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    _run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path, env=env)
    site.mkdir()
    where = _run(venv / "bin" / "python", "-c", "import mailer, pioniers; print(mailer.__file__, pioniers.__file__)",
                 cwd=site, env=env)
    assert str(ROOT) not in where and str(source) not in where and str(venv) in where  # the installed copy, not the checkout

    pioniers = venv / "bin" / "pioniers"
    out = _run(pioniers, "init", cwd=site, env=env)
    assert "config written" in out
    port = free_port()
    config = site / "config.toml"
    config.write_text(config.read_text().replace("smtp_port = 2525", f"smtp_port = {port}"))
    _run(pioniers, "meeting", "add", DAY, "--start", "14:00", "--end", "17:00", "--location", "Stadskantoor",
         "--host", "Gemeente Schiedam", cwd=site, env=env)
    service = subprocess.Popen([str(pioniers), "run"], cwd=site, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                    smtp.sendmail("jan@schiedam.nl", ["aanmelden@pioniers.localhost"],
                                  b"From: Jan Jansen <jan@schiedam.nl>\r\nTo: aanmelden@pioniers.localhost\r\n"
                                  b"Subject: Pioniersnetwerk 19 maart 2099\r\nMessage-ID: <w1@schiedam.nl>\r\n\r\n"
                                  b"Graag meld ik me aan.\r\n")
                break
            except OSError:
                assert time.time() < deadline and service.poll() is None, "the embedded server did not start"
                time.sleep(0.2)
        outbox = site / "var" / "outbox" / "new"
        while not (sent := list(outbox.glob("*")) if outbox.exists() else []):
            assert time.time() < deadline and service.poll() is None, "no confirmation was written"
            time.sleep(0.2)
    finally:
        service.send_signal(signal.SIGTERM)
        log, _ = service.communicate(timeout=60)
    assert service.returncode == 0, log
    (letter,) = sent
    msg = email.message_from_bytes(letter.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "jan@schiedam.nl" and "19 maart 2099" in str(msg["Subject"])
    calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST" and "DTSTART" in calendar.get_content()
    assert "Traceback" not in log and "TemplateNotFound" not in log
