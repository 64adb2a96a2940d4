"""The code is typed; this keeps it so."""
import subprocess
import sys
from pathlib import Path

PACKAGES = ["base", "db", "mailer", "network", "inbox", "pioniers"]  # the floors, from the ground up


def test_mypy_finds_no_errors() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", *PACKAGES],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
