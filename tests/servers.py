"""Real mail servers for tests: a private Dovecot (IMAP) and an aiosmtpd sink (SMTP).

Plain classes, no pytest: conftest.py wraps them in fixtures.  Nothing here is
ever skipped -- a missing dovecot binary is an error, not a skip.
"""

from __future__ import annotations

import itertools
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

LOOPBACK = "127.0.0.1"
DOVECOT_CANDIDATES = ("dovecot", "/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _dovecot_binary() -> str:
    for candidate in DOVECOT_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("dovecot not installed: apt-get install dovecot-imapd")


def _traversable_by_others(path: Path) -> bool:
    """True when every directory from / down to `path` has the o+x bit."""
    path = path.resolve()
    for p in [path, *path.parents]:
        if not p.stat().st_mode & 0o001:
            return False
    return True


def _live_group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid` that are not zombies (PID 1 here may never reap
    orphans, so os.killpg(pgid, 0) keeps succeeding on zombies)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: fall back to "any process at all"
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except ProcessLookupError:
            return []
    live = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            live.append(int(entry.name))
    return live


# --------------------------------------------------------------------------- IMAP


class Mailbox:
    """One IMAP account on a Dovecot: connection data plus small helpers (imapclient)."""

    def __init__(self, host: str, port: int, user: str, password: str):
        self.host = host
        self.port = port
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return f"Mailbox({self.user!r} at {self.host}:{self.port})"

    def connect(self, timeout: float = 10) -> IMAPClient:
        """A logged-in IMAPClient; the caller logs out (it is also a context manager)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        try:
            client.login(self.user, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        """Store `raw` in `folder`, creating the folder if it does not exist."""
        with self.connect() as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags)

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """All raw messages in `folder` in UID order (flags untouched); [] if it is missing."""
        with self.connect() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            fetched = client.fetch(uids, ["BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in uids]

    def folders(self) -> list[str]:
        with self.connect() as client:
            return [name for _flags, _delim, name in client.list_folders()]


class Dovecot:
    """A private Dovecot on a free loopback port, config in a temp dir, started in the
    foreground (dovecot -F -c conf) so we own the process; ready when the port greets
    '* OK'. stop() sends SIGTERM and waits. Usable as a context manager.

    Each account has its own passwd-file TMP/users.d/<user>, which Dovecot reads on
    first use, so new_user() gives a test a fresh, empty account without a restart.

    As root, mail processes run as nobody:nogroup.  nobody cannot traverse pytest's
    0700 temp dirs (and pytest resets /tmp/pytest-of-root to 0700 whenever another
    pytest run starts), so the maildirs then live in a nobody-owned directory made
    with mkdtemp in a world-traversable place; TMP/mail is a symlink to it and close()
    removes it.
    """

    _counter = itertools.count(1)

    def __init__(self, tmpdir: Path, user: str = "inbox@pioniers.test", password: str = "secret"):
        self.binary = _dovecot_binary()
        self.tmpdir = Path(tmpdir).resolve()
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.port = free_port()
        self.user = user
        self.password = password
        self.instance_name = f"tests-{os.getpid()}-{next(self._counter)}"
        self.conf_path = self.tmpdir / "dovecot.conf"
        self.log_path = self.tmpdir / "dovecot.log"
        self.stderr_path = self.tmpdir / "dovecot.stderr"
        self.users_dir = self.tmpdir / "users.d"
        self._proc: subprocess.Popen | None = None
        self._users_lock = threading.Lock()
        self._external_mail_dir: Path | None = None
        self._prepare()

    # -- setup ---------------------------------------------------------------

    def _prepare(self) -> None:
        for sub in ("run", "state"):
            (self.tmpdir / sub).mkdir(exist_ok=True)
        self.is_root = os.geteuid() == 0
        if self.is_root:
            mail_user, mail_group = "nobody", "nogroup"
            try:
                grp.getgrnam(mail_group)
            except KeyError:  # non-Debian systems
                mail_group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
            self.mail_dir = self._root_mail_dir(mail_user, mail_group)
        else:
            mail_user = pwd.getpwuid(os.geteuid()).pw_name
            mail_group = grp.getgrgid(os.getegid()).gr_name
            self.mail_dir = self.tmpdir / "mail"
            self.mail_dir.mkdir(exist_ok=True)
        self.mail_user, self.mail_group = mail_user, mail_group
        self.users_dir.mkdir(exist_ok=True)
        self._add_user_line(self.user, self.password)
        self.conf_path.write_text(self._config())

    def _root_mail_dir(self, owner: str, group: str) -> Path:
        link = self.tmpdir / "mail"
        candidates = [self.tmpdir, Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
        parent = next((c for c in candidates if c.is_dir() and _traversable_by_others(c)), None)
        if parent is None:
            raise RuntimeError("Dovecot test server: no directory that 'nobody' can traverse for maildirs")
        if parent == self.tmpdir:
            mail_dir = link
            mail_dir.mkdir(exist_ok=True)
        else:
            mail_dir = Path(tempfile.mkdtemp(prefix=f"pioniers-{self.instance_name}-mail-", dir=parent))
            self._external_mail_dir = mail_dir
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(mail_dir)
        os.chmod(mail_dir, 0o700)
        shutil.chown(mail_dir, owner, group)
        return mail_dir

    def _config(self) -> str:
        t = self.tmpdir
        # Not root: login processes cannot chroot, so they run unchrooted as us.
        login_chroot = "" if self.is_root else "  chroot =\n"
        if self.is_root:
            privileges = f"""\
default_login_user = nobody
default_internal_user = nobody
default_internal_group = {self.mail_group}
# auth reads {self.users_dir}, inside a directory only root may enter
service auth {{
  user = root
}}
"""
        else:
            privileges = f"""\
default_login_user = {self.mail_user}
default_internal_user = {self.mail_user}
default_internal_group = {self.mail_group}
service anvil {{
  chroot =
}}
service auth {{
  user = $default_internal_user
}}
"""
        return f"""\
# Generated by tests/servers.py -- private test instance, do not edit.
base_dir = {t}/run
state_dir = {t}/state
instance_name = {self.instance_name}
log_path = {self.log_path}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.mail_dir}/%u
mail_fsync = never
first_valid_uid = 0
{privileges}
namespace inbox {{
  inbox = yes
  separator = /
}}
# Tests open many connections per account (app + assertions).
mail_max_userip_connections = 1000
# IDLE: if inotify is unavailable, still notice new mail quickly.
mailbox_idle_check_interval = 1 secs
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
}}
passdb {{
  driver = passwd-file
  # One passwd-file per account: Dovecot loads a file it has not seen on first
  # use, whereas changes to one shared file go unnoticed within the same second.
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = static
  args = uid={self.mail_user} gid={self.mail_group} home={self.mail_dir}/%u
}}
"""

    def _add_user_line(self, user: str, password: str) -> None:
        if any(c in user for c in ":/\n\r") or user.startswith("."):
            raise ValueError("user must not contain ':' '/' or newlines, nor start with '.'")
        if any(c in password for c in ":\n\r"):
            raise ValueError("password must not contain ':' or newlines")
        with self._users_lock:
            path = self.users_dir / user
            tmp = path.with_name(f".{user}.tmp")
            tmp.write_text(f"{user}:{{PLAIN}}{password}\n")
            tmp.replace(path)

    # -- lifecycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20) -> None:
        if self.running:
            return
        with self.stderr_path.open("ab") as err:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeError(f"dovecot exited with {code} during start-up\n{self.diagnostics()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    s.settimeout(2)
                    greeting = s.recv(1024)
                if greeting.startswith(b"* OK"):
                    return
                last_error = RuntimeError(f"unexpected greeting {greeting!r}")
            except OSError as exc:
                last_error = exc
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot not ready on {self.host}:{self.port} after {timeout}s "
                           f"({last_error})\n{self.diagnostics()}")

    def stop(self, timeout: float = 15) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # Signal the whole process group (start_new_session made the master its leader):
        # on SIGTERM alone the master takes a second and leaves imap/log/stats children
        # behind, and an orphaned imap process keeps serving its client.
        self._signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + timeout
        while _live_group_members(proc.pid):
            if time.monotonic() > deadline:
                self._signal_group(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass

    def restart(self) -> None:
        """stop + start on the same port (for reconnect tests); mail is kept."""
        self.stop()
        self.start()

    def close(self) -> None:
        """stop, and remove the maildir kept outside tmpdir (root only)."""
        self.stop()
        if self._external_mail_dir is not None:
            shutil.rmtree(self._external_mail_dir, ignore_errors=True)
            self._external_mail_dir = None

    def __enter__(self) -> "Dovecot":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def diagnostics(self) -> str:
        out = []
        for p in (self.stderr_path, self.log_path):
            if p.exists():
                out.append(f"--- {p} (tail)\n" + "\n".join(p.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(out)

    def log_errors(self) -> list[str]:
        """Lines of the Dovecot log that report an Error, Fatal or Panic."""
        if not self.log_path.exists():
            return []
        marks = (": Error:", ": Fatal:", ": Panic:")
        # A restart can stop anvil before auth notices: that EOF is shutdown noise, not a fault.
        benign = ("read(anvil-auth-penalty) failed: EOF",)
        return [line for line in self.log_path.read_text(errors="replace").splitlines()
                if any(m in line for m in marks) and not any(b in line for b in benign)]

    # -- accounts ------------------------------------------------------------

    def new_user(self, password: str = "secret") -> tuple[str, str]:
        """A fresh account (empty mailbox), usable at once without a restart."""
        user = f"u{uuid.uuid4().hex[:12]}@pioniers.test"
        self._add_user_line(user, password)
        return user, password

    def mailbox(self, user: str | None = None, password: str | None = None) -> Mailbox:
        """Helpers bound to one account (default: the instance's own user)."""
        if user is None:
            user, password = self.user, self.password
        return Mailbox(self.host, self.port, user, password if password is not None else "secret")

    def new_mailbox(self) -> Mailbox:
        return self.mailbox(*self.new_user())

    def connect(self, timeout: float = 10) -> IMAPClient:
        return self.mailbox().connect(timeout)

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        self.mailbox().append(raw, folder)

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        return self.mailbox().messages(folder)

    def folders(self) -> list[str]:
        return self.mailbox().folders()


# --------------------------------------------------------------------------- SMTP


@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float = field(default_factory=time.time)


class _SinkHandler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        message = SinkMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            received_at=time.time(),
        )
        code = self.sink.fail_with
        with self.sink._cond:
            if code is not None:
                self.sink.rejected.append(message)
            else:
                self.sink.messages.append(message)
            self.sink._cond.notify_all()
        if isinstance(code, str):  # a whole answer, as a provider writes it
            return code
        if code is not None:
            kind = "temporary" if 400 <= code < 500 else "permanent"
            return f"{code} Simulated {kind} failure (SmtpSink.fail_with)"
        return "250 OK: recorded by SmtpSink"


class SmtpSink:
    """An aiosmtpd Controller on a free loopback port that records every message:
    envelope sender, recipients, raw bytes. Context manager.

    fail_with: answer DATA with that code (e.g. 451, 550), or with that whole answer (a str), instead of 250;
    can be changed at any time.  Refused messages go to .rejected, not .messages.
    """

    def __init__(self, *, fail_with: int | str | None = None):
        self.host = LOOPBACK
        self.port = free_port()
        self.fail_with = fail_with
        self.messages: list[SinkMessage] = []
        self.rejected: list[SinkMessage] = []
        self._cond = threading.Condition()
        self._controller = None

    def start(self) -> None:
        if self._controller is not None:
            return
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            ready_timeout=10,
        )
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "SmtpSink":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
            self.rejected.clear()

    def wait_for(self, n: int, timeout: float = 10) -> list[SinkMessage]:
        """Block until at least n messages were accepted; returns a copy of them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise TimeoutError(
                    f"SmtpSink: expected {n} message(s) within {timeout}s, got {len(self.messages)} "
                    f"(rejected: {len(self.rejected)})"
                )
            return list(self.messages)
