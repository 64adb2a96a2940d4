"""The templates ship with the code: a wheel holds every file under templates/, beside mailer/ where
mailer.compose looks for them."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ["base", "db", "mailer", "network", "inbox", "pioniers", "templates"]


def _copy(dest: Path) -> Path:
    """The project without caches or build output, so building leaves the checkout as it was."""
    src = dest / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    return src


def _installed(tmp: Path) -> tuple[str, Path]:
    """The files a wheel of the project holds. pip builds it with the setuptools installed here; where pip
    cannot (no `wheel` for an older setuptools) and `build` is not installed either, setuptools' build_py
    lays out what the wheel is made of, from the same pyproject.toml."""
    src, out = _copy(tmp), tmp / "dist"
    builders = [[sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                 "-q", "-w", str(out), "."]]
    if importlib.util.find_spec("build"):
        builders.append([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out), "."])
    for cmd in builders:
        if subprocess.run(cmd, cwd=src, capture_output=True, timeout=120).returncode == 0:
            (wheel,) = out.glob("*.whl")
            zipfile.ZipFile(wheel).extractall(tmp / "lib")  # what pip install puts in site-packages
            return wheel.name, tmp / "lib"
    lib = tmp / "lib"
    proc = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                           "--build-lib", str(lib)], cwd=src, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return "build_py", lib


def test_the_wheel_holds_every_template(tmp_path: Path) -> None:
    how, lib = _installed(tmp_path)
    files = {p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file()}
    templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    assert len(templates) > 100 and "templates/layout.html" in templates
    missing = sorted(templates - files)
    assert not missing, f"{how} lacks {missing[:10]} ({len(missing)} files)"
    # beside mailer/, where mailer.compose looks: Path(compose.__file__).parent.parent / "templates"
    assert "mailer/compose.py" in files and "pioniers/cli.py" in files
    # and installed, the code finds and renders them (a letter from each language, with its layout)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from types import SimpleNamespace as N; "
            "from mailer import compose; assert compose.TEMPLATES.is_relative_to(sys.argv[1]), compose.TEMPLATES; "
            "net = N(title='Pioniersnetwerk', name='p', registration_address='a@p.test'); "
            "print(compose.render('nl', 'list_subscribed', network=net, name='').subject, "
            "compose.render('en', 'list_subscribed', network=net, name='').subject, sep='|')")
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(lib)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    nl, en = proc.stdout.strip().split("|")
    assert nl and en and nl != en
