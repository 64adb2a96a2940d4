"""Loading and checking config.toml into plain, typed settings.

Every mistake a user can make here becomes one ConfigError line naming the key to fix.
"""
from __future__ import annotations

import os
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A configuration problem the user can fix; the message names the key."""


@dataclass(frozen=True)
class NetworkConfig:
    name: str
    title: str
    registration_address: str
    organisers: tuple[str, ...]
    timezone: str = "Europe/Amsterdam"
    language: str = "nl"
    reminder_days: int = 3
    retention_days: int = 90


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class ImapConfig:
    host: str = ""
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Verwerkt"
    attention_folder: str = "Aandacht"
    poll_seconds: int = 60
    authserv_id: str = ""  # the authserv-id our receiving server stamps in Authentication-Results


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    ssl: bool = False
    starttls: bool = True
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class EmbeddedConfig:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    inbox: str = "var/inbox"
    outbox: str = "var/outbox"


@dataclass(frozen=True)
class LimitsConfig:
    replies_per_address_per_day: int = 10
    replies_per_hour: int = 500


@dataclass(frozen=True)
class Config:
    network: NetworkConfig
    database: DatabaseConfig
    imap: ImapConfig = field(default_factory=ImapConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    base_dir: Path = Path(".")

    @property
    def domain(self) -> str:
        return self.network.registration_address.rpartition("@")[2].lower()

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.network.registration_address.lower()})

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p


_SECTIONS: dict[str, type] = {
    "network": NetworkConfig,
    "database": DatabaseConfig,
    "imap": ImapConfig,
    "smtp": SmtpConfig,
    "embedded": EmbeddedConfig,
    "limits": LimitsConfig,
}
_REQUIRED_SECTIONS = ("network", "database")
_ENV = {
    ("imap", "password"): "PIONIERS_IMAP_PASSWORD",
    ("smtp", "password"): "PIONIERS_SMTP_PASSWORD",
    ("database", "url"): "PIONIERS_DATABASE_URL",
}


def _coerce(section: str, key: str, value: Any, wanted: Any) -> Any:
    where = f"[{section}] {key}"
    text = str(wanted)
    if "tuple" in text:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if text == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if text == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string in quotes")
    return value


def _section(name: str, raw: dict[str, Any]) -> Any:
    cls = _SECTIONS[name]
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"[{name}] {key} is not a known setting (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for key, f in known.items():
        env = _ENV.get((name, key))
        if env and os.environ.get(env):
            values[key] = os.environ[env]
        elif key in raw:
            values[key] = _coerce(name, key, raw[key], f.type)
        elif f.default is f.default_factory:  # no default: required
            raise ConfigError(f"[{name}] {key} is missing")
    return cls(**values)


def _check(cfg: Config) -> None:
    net = cfg.network
    if "@" not in net.registration_address:
        raise ConfigError("[network] registration_address must be an email address")
    for addr in net.organisers:
        if "@" not in addr:
            raise ConfigError(f"[network] organisers: {addr!r} is not an email address")
    if net.language not in ("nl", "en"):
        raise ConfigError('[network] language must be "nl" or "en"')
    try:
        zoneinfo.ZoneInfo(net.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[network] timezone {net.timezone!r} is not a known time zone") from None
    if not net.name.strip():
        raise ConfigError("[network] name must not be empty")
    if cfg.imap.host and not cfg.imap.username:
        raise ConfigError("[imap] username is missing (needed when [imap] host is set)")


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found (use --config PATH)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    for name in raw:
        if name not in _SECTIONS:
            raise ConfigError(f"[{name}] is not a known section (known: {', '.join(_SECTIONS)})")
        if not isinstance(raw[name], dict):
            raise ConfigError(f"{name} must be a [section]")
    for name in _REQUIRED_SECTIONS:
        if name not in raw:
            raise ConfigError(f"[{name}] section is missing")
    sections = {name: _section(name, raw.get(name, {})) for name in _SECTIONS}
    sections["network"] = NetworkConfig(
        **{
            **sections["network"].__dict__,
            "registration_address": sections["network"].registration_address.strip().lower(),
            "organisers": tuple(a.strip().lower() for a in sections["network"].organisers),
        }
    )
    cfg = Config(**sections, base_dir=p.resolve().parent)
    _check(cfg)
    return cfg
