"""The code is typed; this keeps it so."""
import subprocess
import sys
import tomllib
from pathlib import Path

PACKAGES = ["base", "db", "mailer", "network", "inbox", "pioniers"]  # the floors, from the ground up


def test_mypy_finds_no_errors() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", *PACKAGES],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_strict_where_it_matters() -> None:
    """Every function typed, and no `# type: ignore` that nothing needs: kept in pyproject.toml, which mypy reads."""
    settings = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["tool"]["mypy"]
    assert settings["disallow_untyped_defs"] is True and settings["warn_unused_ignores"] is True
