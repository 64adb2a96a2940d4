"""Files with tokens or personal data are the service's alone: 0600 files, 0700 folders; looser ones are reported."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from helpers import mail, write_config


def pioniers(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(cfg), *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=cfg.parent)
    assert proc.returncode == 0, proc.stderr
    return proc


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_everything_the_service_writes_is_private(tmp_path):
    os.umask(0o022)  # a typical login shell's umask: the service must not depend on it
    var = tmp_path / "var"
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{var}/pioniers.db")
    pioniers(cfg, "init")
    pioniers(cfg, "meeting", "add", "2099-03-18", "--start", "14:00", "--end", "17:00", "--location", "Stadhuis",
             "--host", "Gemeente Schiedam")
    inbox = var / "inbox" / "new"
    inbox.mkdir(parents=True)
    (inbox / "1.eml").write_bytes(mail(subject="Pioniersnetwerk 18 maart 2099"))  # as a delivery agent would
    (var / "inbox").chmod(0o700)
    out = pioniers(cfg, "poll", "--once").stdout
    assert "1 processed" in out
    modes = _modes(var)
    assert any(name.startswith("outbox/new/") for name in modes), modes  # the confirmation was written
    assert "pioniers.db-sent" in modes
    created = {name: mode for name, mode in modes.items() if not name.startswith("inbox")}
    loose = {name: oct(mode) for name, mode in created.items() if mode & 0o077}
    assert not loose, loose
    assert modes["."] & 0o077 == 0


def test_loose_files_are_reported_with_the_fix(tmp_path):
    var = tmp_path / "var"
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{var}/pioniers.db")
    pioniers(cfg, "init")
    assert "warning" not in pioniers(cfg, "init").stdout
    (var / "pioniers.db").chmod(0o644)
    var.chmod(0o755)
    out = pioniers(cfg, "init").stdout
    assert f"warning: {var / 'pioniers.db'} is readable by others (mode 644): chmod 600 {var / 'pioniers.db'}" in out
    assert f"chmod 700 {var}" in out


def test_init_creates_the_installation_secret_once_and_private(tmp_path):
    os.umask(0o022)
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/var/pioniers.db")
    first = pioniers(cfg, "init").stdout
    secret = tmp_path / "var" / "pioniers.secret"
    assert f"installation secret created: {secret}" in first
    value = secret.read_text()
    assert len(value.strip()) == 64 and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "secret created" not in pioniers(cfg, "init").stdout
    assert secret.read_text() == value  # never replaced


def test_the_secret_keys_hashes_per_installation(tmp_path):
    from base.secret import keyed, load

    one, two = load(tmp_path / "a"), load(tmp_path / "b")
    assert one != two and load(tmp_path / "a") == one
    assert keyed(one, "forgotten", "jan@schiedam.nl") != keyed(two, "forgotten", "jan@schiedam.nl")
    assert keyed(one, "forgotten", "jan@schiedam.nl") != keyed(one, "msgid", "jan@schiedam.nl")
