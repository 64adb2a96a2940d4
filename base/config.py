"""Loading and checking config.toml into plain, typed settings.

Every mistake a user can make here becomes one ConfigError line naming the key to fix.
"""
from __future__ import annotations

import functools
import ipaddress
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from base import secret

from base.errors import PioniersError


class ConfigError(PioniersError):
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
    participant_list_days: int = 3  # consenting attendees get the participant list this many days before (0 = never)
    host_list_days: int = 3  # the host contact gets the attendee list (with needs) this many days before (0 = never)
    poll_close_days: int = 7  # a theme poll without a closing date closes this many days before the meeting
    secret_file: str = "var/pioniers.secret"  # the installation secret (base/secret.py); or PIONIERS_SECRET
    templates: str = ""  # a folder of our own letters (nl/, en/ as in templates/): its files win over the shipped


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
    auth: str = "password"  # or "oauth2": SASL XOAUTH2 with a token from [oauth2] (base/oauth.py)


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    ssl: bool = False
    starttls: bool = True
    username: str = ""
    password: str = ""
    auth: str = "password"  # or "oauth2": AUTH XOAUTH2 with a token from [oauth2]


@dataclass(frozen=True)
class OAuth2Config:
    """Client-credentials OAuth2 for [imap]/[smtp] auth = "oauth2" (Microsoft 365, Google Workspace, any server)."""
    tenant_id: str = ""  # Microsoft Entra tenant (id or domain): token from login.microsoftonline.com via msal
    token_url: str = ""  # any other OAuth2 server's token endpoint
    client_id: str = ""
    client_secret: str = ""
    certificate_path: str = ""  # PEM with the private key (Microsoft: instead of client_secret)
    certificate_thumbprint: str = ""  # SHA-1 thumbprint of that certificate, as Entra shows it
    service_account_file: str = ""  # Google Workspace: service-account JSON key (domain-wide delegation)
    scope: str = ""  # default: https://outlook.office365.com/.default (Microsoft), https://mail.google.com/ (Google)
    smtp_scope: str = ""  # default: the same as scope


@dataclass(frozen=True)
class EmbeddedConfig:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    listen_beyond_loopback: bool = False  # true: smtp_host may be another address (a container's 0.0.0.0)
    inbox: str = "var/inbox"
    outbox: str = "var/outbox"


@dataclass(frozen=True)
class LimitsConfig:
    replies_per_address_per_day: int = 10
    replies_per_hour: int = 0  # a pace for a provider's limit, not a flood guard: 0 = none
    messages_per_minute: int = 0  # the provider's rate, for all sending together (replies and list): 0 = none
    recipients_per_day: int = 0  # the provider's daily quota, for all sending together: 0 = none


@dataclass(frozen=True)
class ListConfig:
    """The network's mailing list (announcements); see config.toml for what each key means."""

    post_address: str = ""  # empty: "nieuws@" + the registration address's domain
    bounce_address: str = ""  # empty: "bounces@" + that domain; VERP adds "+TOKEN"
    subscribe_registrants: bool = True
    unsubscribe_url: str = ""  # https endpoint for one-click unsubscribe (RFC 8058); "" = mailto only
    bounce_threshold: int = 3
    verp: bool = True
    rate: int = 0  # messages per second over all connections; 0 = unlimited
    connections: int = 4
    approval_hours: int = 72
    refusal_per_day: int = 1
    desk_address: str = ""  # the organisers' desk (inbox/desk_rules.py); empty: the post address + "+balie"


@dataclass(frozen=True)
class Config:
    network: NetworkConfig
    database: DatabaseConfig
    imap: ImapConfig = field(default_factory=ImapConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    oauth2: OAuth2Config = field(default_factory=OAuth2Config)
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    list: ListConfig = field(default_factory=ListConfig)
    base_dir: Path = Path(".")

    @property
    def domain(self) -> str:
        return self.network.registration_address.rpartition("@")[2].lower()

    @property
    def own_addresses(self) -> frozenset[str]:
        # The list's addresses too: mail to them (and their +tags) is ours to read, never to answer blindly.
        return frozenset({self.network.registration_address.lower(), self.post_address, self.bounce_address,
                          self.desk_address, _untagged(self.desk_address)})

    @property
    def post_address(self) -> str:
        return (self.list.post_address or f"nieuws@{self.domain}").strip().lower()

    @property
    def desk_address(self) -> str:
        """Where organisers mail commands. By default a +tag of the post address: its +tags already reach the
        inbox (approvals use them), so no new alias is needed, and it is not the post address itself."""
        if self.list.desk_address:
            return self.list.desk_address.strip().lower()
        local, _, domain = self.post_address.partition("@")
        return f"{local}+balie@{domain}"

    @property
    def bounce_address(self) -> str:
        return (self.list.bounce_address or f"bounces@{self.domain}").strip().lower()

    @functools.cached_property
    def secret(self) -> bytes:
        """The installation secret (read, or created 0600, on first use)."""
        return secret.load(self.path(self.network.secret_file))

    @property
    def templates(self) -> str:
        """The folder whose letters win over the shipped ones ('' for none), as an absolute path."""
        return str(self.path(self.network.templates).resolve()) if self.network.templates else ""

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p


def _untagged(address: str) -> str:
    """'nieuws+balie@d' -> 'nieuws@d': the mailbox a tagged address is delivered to."""
    local, _, domain = address.partition("@")
    return f"{local.partition('+')[0]}@{domain}"


_SECTIONS: dict[str, type] = {
    "network": NetworkConfig,
    "database": DatabaseConfig,
    "imap": ImapConfig,
    "smtp": SmtpConfig,
    "oauth2": OAuth2Config,
    "embedded": EmbeddedConfig,
    "limits": LimitsConfig,
    "list": ListConfig,
}
_REQUIRED_SECTIONS = ("network", "database")
_ENV = {
    ("imap", "password"): "PIONIERS_IMAP_PASSWORD",
    ("smtp", "password"): "PIONIERS_SMTP_PASSWORD",
    ("database", "url"): "PIONIERS_DATABASE_URL",
    ("oauth2", "client_secret"): "PIONIERS_OAUTH2_CLIENT_SECRET",
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
    if net.host_list_days < 0:
        raise ConfigError("[network] host_list_days must be 0 (never) or more")
    lst = cfg.list
    for key in ("post_address", "bounce_address"):
        value = getattr(lst, key)
        if value and ("@" not in value or "+" in value.partition("@")[0]):
            raise ConfigError(f"[list] {key} must be an email address without a +tag")
    if lst.desk_address and "@" not in lst.desk_address:
        raise ConfigError("[list] desk_address must be an email address")
    if lst.desk_address and lst.desk_address.strip().lower() in (cfg.post_address, cfg.bounce_address,
                                                                  net.registration_address.lower()):
        raise ConfigError("[list] desk_address must differ from the post, bounce and registration addresses")
    if lst.unsubscribe_url and not lst.unsubscribe_url.startswith("https://"):
        raise ConfigError("[list] unsubscribe_url must start with https:// (or be empty)")
    for key in ("bounce_threshold", "connections", "approval_hours"):
        if getattr(lst, key) < 1:
            raise ConfigError(f"[list] {key} must be at least 1")
    if lst.rate < 0 or lst.refusal_per_day < 0:
        raise ConfigError("[list] rate and refusal_per_day must not be negative")
    if cfg.imap.host and not cfg.imap.username:
        raise ConfigError("[imap] username is missing (needed when [imap] host is set)")
    _check_embedded(cfg)
    _check_oauth2(cfg)


def is_loopback(host: str) -> bool:
    """Exactly this machine: 'localhost' or a loopback IP address, never a name that merely starts so."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_FOLDER_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]+")


def _check_embedded(cfg: Config) -> None:
    emb = cfg.embedded
    if not emb.listen_beyond_loopback and not is_loopback(emb.smtp_host):
        raise ConfigError(f"[embedded] smtp_host {emb.smtp_host!r} is not a loopback address: the embedded server "
                          "takes mail from anyone who can reach it; set listen_beyond_loopback = true to mean it")
    if cfg.imap.host:
        return
    for key in ("processed_folder", "attention_folder"):  # subfolders of the embedded inbox: plain names
        value = getattr(cfg.imap, key)
        if not _FOLDER_NAME.fullmatch(value) or value.startswith(".") or value != value.strip():
            raise ConfigError(f"[imap] {key} {value!r} must be a plain folder name (no /, \\ or leading dot)")


def _check_oauth2(cfg: Config) -> None:
    for name, section in (("imap", cfg.imap), ("smtp", cfg.smtp)):
        if section.auth not in ("password", "oauth2"):
            raise ConfigError(f'[{name}] auth must be "password" or "oauth2"')
    users = [(name, s) for name, s in (("imap", cfg.imap), ("smtp", cfg.smtp)) if s.host and s.auth == "oauth2"]
    if not users:
        return
    for name, section in users:
        if not section.username:
            raise ConfigError(f'[{name}] username is missing (the mailbox address, needed for auth = "oauth2")')
    o = cfg.oauth2
    if o.service_account_file:
        if not cfg.path(o.service_account_file).is_file():
            raise ConfigError(f"[oauth2] service_account_file {o.service_account_file!r} does not exist")
        return
    if not (o.tenant_id or o.token_url):
        raise ConfigError('[oauth2] tenant_id (Microsoft 365) or token_url (any OAuth2 server) is missing '
                          'for auth = "oauth2"')
    if o.tenant_id and o.token_url:
        raise ConfigError("[oauth2] set tenant_id (Microsoft 365) or token_url, not both")
    if o.token_url:
        url = urlsplit(o.token_url)
        local = url.scheme == "http" and is_loopback(url.hostname or "")  # a local test server
        if not (url.scheme == "https" and url.hostname) and not local:
            raise ConfigError("[oauth2] token_url must be an https:// address")
    if not o.client_id:
        raise ConfigError('[oauth2] client_id is missing (the application (client) id, for auth = "oauth2")')
    if o.certificate_path:
        if not o.tenant_id:
            raise ConfigError("[oauth2] certificate_path works with tenant_id (Microsoft); "
                              "use client_secret with token_url")
        if not cfg.path(o.certificate_path).is_file():
            raise ConfigError(f"[oauth2] certificate_path {o.certificate_path!r} does not exist")
        if not o.certificate_thumbprint:
            raise ConfigError("[oauth2] certificate_thumbprint is missing (needed with certificate_path)")
    elif not o.client_secret:
        raise ConfigError("[oauth2] client_secret is missing (or set PIONIERS_OAUTH2_CLIENT_SECRET, "
                          "or certificate_path)")


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
    smtp, imap = sections["smtp"], sections["imap"]
    if smtp.auth == "oauth2" and not smtp.username and smtp.host:  # the same mailbox sends what it reads
        sections["smtp"] = SmtpConfig(**{**smtp.__dict__, "username": imap.username})
    cfg = Config(**sections, base_dir=p.resolve().parent)
    _check(cfg)
    return cfg
