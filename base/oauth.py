"""OAuth2 for the mailbox: access tokens for SASL XOAUTH2 (IMAP and SMTP), and one-line explanations of failures.

The service logs in to Microsoft 365 / Exchange Online and Google Workspace mailboxes without a password:

* Microsoft 365 (``[oauth2] tenant_id``): client-credentials flow through msal (client secret or certificate),
  scope ``https://outlook.office365.com/.default``; the app needs IMAP.AccessAsApp / SMTP.SendAsApp with admin
  consent, a service principal in Exchange Online and a mailbox permission (see README).
* Google Workspace (``[oauth2] service_account_file``): a service account with domain-wide delegation; the token
  request is a signed JWT for the mailbox (RFC 7523), scope ``https://mail.google.com/``.
* Any other OAuth2 server (``[oauth2] token_url``): a plain client-credentials POST (RFC 6749 section 4.4).

A TokenProvider caches its token and fetches a new one ``renew_before`` seconds before it expires (a quarter of the
lifetime for short-lived tokens). ``invalidate`` drops a token the server refused, so the next login gets a fresh one.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.config import Config, OAuth2Config
from base.errors import PioniersError

log = logging.getLogger("pioniers.oauth")

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
RENEW_BEFORE = 300.0  # seconds before expiry that a new token is fetched (Microsoft tokens live 60-90 minutes)
HTTP_TIMEOUT = 30.0
MSAL_HTTP_CLIENT: Any = None  # msal's http_client when none is given (None: msal's own; tests set a local one)
README = "README, 'Microsoft 365 and Google Workspace (OAuth2)'"


class OAuth2Error(PioniersError):
    """No token could be obtained; the message is one line saying what to fix."""


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # time.monotonic() seconds
    renew_at: float  # from here on a new token is fetched, and connections that used this one are renewed

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.renew_at


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Microsoft and Google document it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def token_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT access token, unverified (Microsoft's are JWTs), or None for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


class TokenProvider:
    """Access tokens for one scope (and, for Google, one mailbox), cached and renewed before they expire."""

    def __init__(self, cfg: OAuth2Config, *, scope: str = "", subject: str = "", base_dir: Path = Path("."),
                 renew_before: float = RENEW_BEFORE, http_client: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.kind = "google" if cfg.service_account_file else "microsoft" if cfg.tenant_id else "generic"
        default = {"google": GOOGLE_SCOPE, "microsoft": MICROSOFT_SCOPE, "generic": ""}[self.kind]
        self.scope = scope or cfg.scope or default
        self.subject = subject
        self.base_dir = base_dir
        self.renew_before = renew_before
        self.http_client = http_client  # msal's http_client (tests route it to a local server)
        self.clock = clock
        self.issued = 0  # tokens fetched so far
        self._token: Token | None = None
        self._lock = threading.Lock()
        self._msal_app: Any = None

    @property
    def endpoint(self) -> str:
        if self.kind == "microsoft":
            return f"{MICROSOFT_AUTHORITY}/{self.cfg.tenant_id}"
        if self.kind == "google":
            return self._service_account().get("token_uri") or GOOGLE_TOKEN_URL
        return self.cfg.token_url

    def current(self) -> Token:
        """A token valid for at least the renewal margin; fetched when there is none or it is due."""
        with self._lock:
            if self._token is None or self._token.due(self.clock()):
                self._token = self._fetch()
            return self._token

    def token(self) -> str:
        return self.current().value

    def invalidate(self, value: str | None = None) -> None:
        """Forget the cached token (only if it is `value`): a server refused it, the next call fetches anew."""
        with self._lock:
            if self._token is not None and (value is None or self._token.value == value):
                self._token = None

    def roles(self, value: str) -> set[str] | None:
        """The application permissions in a Microsoft token ('roles'), or None when the token says nothing."""
        claims = token_claims(value)
        if claims is None or "roles" not in claims:
            return None if claims is None else set()
        roles = claims["roles"]
        return {str(r) for r in roles} if isinstance(roles, list) else {str(roles)}

    # -- fetching ------------------------------------------------------------------------------------------

    def _fetch(self) -> Token:
        started = self.clock()
        if self.kind == "microsoft":
            value, lifetime = self._fetch_msal()
        elif self.kind == "google":
            value, lifetime = self._fetch_google()
        else:
            value, lifetime = self._fetch_plain()
        lifetime = max(float(lifetime), 1.0)
        margin = min(self.renew_before, lifetime / 4)
        self.issued += 1
        log.info("oauth2: new access token from %s, valid %.0f s", self.endpoint, lifetime)
        return Token(value, started + lifetime, started + lifetime - margin)

    def _fetch_plain(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.cfg.client_id,
                "client_secret": self.cfg.client_secret}
        if self.scope:
            form["scope"] = self.scope
        return self._post(self.cfg.token_url, form)

    def _service_account(self) -> dict[str, Any]:
        path = Path(self.cfg.service_account_file)
        path = path if path.is_absolute() else self.base_dir / path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OAuth2Error(f"[oauth2] service_account_file {str(path)!r} is not a readable JSON key ({exc}): "
                              "download a new key for the service account") from None
        if not isinstance(data, dict) or not data.get("client_email") or not data.get("private_key"):
            raise OAuth2Error(f"[oauth2] service_account_file {str(path)!r} has no client_email/private_key: "
                              "use the service account's JSON key")
        return data

    def _fetch_google(self) -> tuple[str, float]:
        import jwt  # PyJWT, installed with msal

        key = self._service_account()
        url = key.get("token_uri") or GOOGLE_TOKEN_URL
        now = int(time.time())
        claims = {"iss": key["client_email"], "scope": self.scope, "aud": url, "iat": now, "exp": now + 3600}
        if self.subject:
            claims["sub"] = self.subject  # domain-wide delegation: act as the mailbox
        headers = {"kid": key["private_key_id"]} if key.get("private_key_id") else None
        try:
            assertion = jwt.encode(claims, key["private_key"], algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise OAuth2Error(f"[oauth2] the private key in service_account_file cannot sign ({exc}): "
                              "download a new JSON key") from None
        return self._post(url, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                "assertion": assertion})

    def _post(self, url: str, form: dict[str, str]) -> tuple[str, float]:
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:  # noqa: S310 - https or loopback
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OAuth2Error(f"cannot reach the OAuth2 token endpoint {url} ({reason}): "
                              f"check {self._where()} and the network") from None
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if status == 200 and data.get("access_token"):
            return str(data["access_token"]), float(data.get("expires_in") or 3600)
        raise OAuth2Error(self.explain(data, status))

    def _fetch_msal(self) -> tuple[str, float]:
        import msal

        cfg = self.cfg
        if self._msal_app is None:
            if cfg.certificate_path:
                path = Path(cfg.certificate_path)
                path = path if path.is_absolute() else self.base_dir / path
                try:
                    pem = path.read_text(encoding="ascii")
                except (OSError, ValueError) as exc:
                    raise OAuth2Error(f"[oauth2] certificate_path {str(path)!r} cannot be read ({exc})") from None
                credential: Any = {"private_key": pem, "thumbprint": cfg.certificate_thumbprint.replace(":", "")}
            else:
                credential = cfg.client_secret
            kwargs: dict[str, Any] = {"authority": self.endpoint, "client_credential": credential,
                                      "timeout": HTTP_TIMEOUT}
            http_client = self.http_client if self.http_client is not None else MSAL_HTTP_CLIENT
            if http_client is not None:
                kwargs["http_client"] = http_client
            try:
                self._msal_app = msal.ConfidentialClientApplication(cfg.client_id, **kwargs)
            except ValueError as exc:  # tenant discovery failed, or a certificate msal cannot use
                text = str(exc)
                if "OIDC Discovery" in text or "authority" in text.lower() or "tenant" in text.lower():
                    raise OAuth2Error(self.explain({"error": "invalid_tenant", "error_description": text},
                                                   400)) from None
                raise OAuth2Error(f"[oauth2] msal refused the client credential ({text.splitlines()[0]}): "
                                  "check certificate_path and certificate_thumbprint") from None
            except Exception as exc:  # noqa: BLE001 - requests' and msal's own errors
                raise OAuth2Error(f"cannot reach {MICROSOFT_AUTHORITY} ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}): check the network") from None
        # We cache ourselves (and renew earlier than msal would); a fresh msal cache means a real request.
        self._msal_app.token_cache = msal.TokenCache()
        try:
            result = self._msal_app.acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # noqa: BLE001 - requests' and msal's own errors: the network or the service
            raise OAuth2Error(f"cannot get a token from {MICROSOFT_AUTHORITY} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}): check the network") from None
        if result.get("access_token"):
            return str(result["access_token"]), float(result.get("expires_in") or 3600)
        raise OAuth2Error(self.explain(result, 400))

    # -- explaining ----------------------------------------------------------------------------------------

    def _where(self) -> str:
        return {"microsoft": "[oauth2] tenant_id", "google": "[oauth2] service_account_file",
                "generic": "[oauth2] token_url"}[self.kind]

    def explain(self, data: dict[str, Any], status: int) -> str:
        """One line for a token endpoint's error response (Microsoft AADSTS codes, Google, RFC 6749)."""
        error = str(data.get("error") or "")
        desc = str(data.get("error_description") or "").strip()
        first = desc.splitlines()[0][:200] if desc else ""
        codes = {str(c) for c in data.get("error_codes") or []}
        cfg = self.cfg

        def aad(code: str) -> bool:
            return code in codes or f"AADSTS{code}:" in desc or f"AADSTS{code} " in desc

        if self.kind == "microsoft":
            if aad("90002") or error == "invalid_tenant" or "OIDC Discovery" in desc:
                return (f"[oauth2] tenant_id {cfg.tenant_id!r} is not a Microsoft Entra tenant (AADSTS90002): copy "
                        "the Directory (tenant) ID from the app registration's Overview page")
            if aad("700016"):
                return (f"[oauth2] client_id {cfg.client_id!r} is not an application in tenant {cfg.tenant_id!r} "
                        "(AADSTS700016): copy the Application (client) ID from the app registration in that tenant")
            if aad("7000215"):
                return ("[oauth2] client_secret is wrong (AADSTS7000215): use the secret's Value (not its Secret "
                        "ID) from Certificates & secrets, or set PIONIERS_OAUTH2_CLIENT_SECRET")
            if aad("7000222"):
                return ("[oauth2] client_secret has expired (AADSTS7000222): create a new client secret under "
                        "Certificates & secrets and put its Value in the config")
            if aad("700027") or aad("700024"):
                return ("[oauth2] the certificate is not accepted (AADSTS700027): upload the certificate to the "
                        "app registration and set certificate_thumbprint to the thumbprint Entra shows")
            if aad("65001") or error == "consent_required":
                return ("[oauth2] admin consent is missing (AADSTS65001): in the app registration's API "
                        "permissions click 'Grant admin consent' for Office 365 Exchange Online")
            if aad("500011"):
                return (f"[oauth2] scope {self.scope!r} names an API that is not in tenant {cfg.tenant_id!r} "
                        f"(AADSTS500011): use scope = \"{MICROSOFT_SCOPE}\"")
            if aad("1002012") or aad("70011") or error == "invalid_scope":
                return (f"[oauth2] scope {self.scope!r} is not valid for an app-only token (AADSTS70011): "
                        f"use scope = \"{MICROSOFT_SCOPE}\"")
            if aad("7000229") or aad("700037"):
                return ("[oauth2] the app has no service principal (enterprise application) in the tenant "
                        "(AADSTS7000229): grant admin consent once in the app registration's API permissions")
            if aad("7000112"):
                return "[oauth2] the application is disabled in the tenant (AADSTS7000112): enable it in Entra ID"
        if self.kind == "google":
            if error == "unauthorized_client":
                return ("[oauth2] the service account may not act for the mailbox (unauthorized_client): in the "
                        "Google Admin console add its client ID under Security > API controls > Domain-wide "
                        f"delegation with scope {self.scope}")
            if error == "invalid_grant" and ("email" in desc.lower() or "user" in desc.lower()):
                return (f"[oauth2] Google does not know mailbox {self.subject!r} (invalid_grant: {first}): "
                        "set [imap]/[smtp] username to the Workspace mailbox address")
            if error == "invalid_grant":
                return (f"[oauth2] Google refused the service account key (invalid_grant: {first}): check the "
                        "server clock and that the key in service_account_file is not deleted")
        if error == "invalid_client" or status == 401:
            return (f"[oauth2] the token endpoint {self.endpoint} refused client_id {cfg.client_id!r} "
                    f"(invalid_client{': ' + first if first else ''}): check [oauth2] client_id and client_secret")
        if error == "unauthorized_client":
            return (f"[oauth2] client {cfg.client_id!r} may not use the client-credentials grant "
                    f"(unauthorized_client): enable it for this client at {self.endpoint}")
        if error == "invalid_scope":
            return f"[oauth2] scope {self.scope!r} was refused (invalid_scope): check [oauth2] scope"
        if error:
            return (f"[oauth2] the token endpoint {self.endpoint} refused: {error}"
                    f"{': ' + first if first else ''}")
        return (f"[oauth2] the token endpoint {self.endpoint} answered HTTP {status} without an access token: "
                f"check {self._where()}")


# -- what a mail server's refusal means ------------------------------------------------------------------------


def _mailbox_steps(client_id: str, user: str) -> str:
    """The two PowerShell steps of Microsoft's app-only guide that let the app open one mailbox."""
    return (f"in Exchange Online PowerShell run New-ServicePrincipal -AppId {client_id} -ObjectId <enterprise "
            f"application Object ID> and Add-MailboxPermission -Identity {user} -User <service principal id> "
            f"-AccessRights FullAccess ({README}, steps 4-5)")


def _explain_refusal(tokens: TokenProvider, protocol: str, permission: str, user: str, host: str, token: str,
                     said: str, fallback: str) -> str:
    """One line for a login that failed with a freshly issued token. protocol: IMAP | SMTP; permission: the
    Exchange Online app permission it needs; said: the server's answer ('' or ' (code text)')."""
    if tokens.kind == "microsoft":
        roles = tokens.roles(token)
        if roles is not None and permission not in roles:
            return (f"{protocol} login for {user} refused{said}: the token has no {permission} permission; in the "
                    "app registration add API permission Office 365 Exchange Online > Application permissions > "
                    f"{permission} and click 'Grant admin consent' ({README}, step 3)")
        return (f"{protocol} login for {user} at {host} refused{said} although the token is valid: the app may not "
                f"open this mailbox; {_mailbox_steps(tokens.cfg.client_id, user)}")
    if tokens.kind == "google":
        return (f"{protocol} login for {user} at {host} refused{said}: allow the service account's client ID the "
                f"scope {tokens.scope} under Domain-wide delegation, and check that {user} is a Workspace mailbox "
                f"({README})")
    return (f"{protocol} login for {user} at {host} refused with a fresh token from {tokens.endpoint}{said}: "
            f"{fallback}")


def explain_imap_refusal(tokens: TokenProvider, user: str, host: str, token: str, reply: str) -> str:
    """One line for an IMAP AUTHENTICATE XOAUTH2 that failed with a freshly issued token."""
    return _explain_refusal(tokens, "IMAP", "IMAP.AccessAsApp", user, host, token, f" ({reply})" if reply else "",
                            f"the server does not accept this client's tokens for {user}; check [oauth2] scope and "
                            "the mailbox's access for the client")


def smtp_auth_disabled(code: int, reply: str) -> str | None:
    """Exchange Online's 'SMTP AUTH is switched off' replies, explained; None for anything else."""
    if "5.7.139" in reply or "SmtpClientAuthentication is disabled" in reply:
        return ("SMTP AUTH is disabled for this mailbox or tenant (535 5.7.139): in Exchange Online PowerShell run "
                "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false "
                f"(or allow it tenant-wide with Set-TransportConfig -SmtpClientAuthenticationDisabled $false) ({README})")
    if "5.7.30" in reply or "Basic authentication is not supported" in reply:
        return ("SMTP AUTH with a password is switched off (5.7.30 basic authentication not supported): set "
                f'[smtp] auth = "oauth2" and fill in [oauth2] ({README})')
    return None


def explain_smtp_refusal(tokens: TokenProvider, user: str, host: str, token: str, code: int, reply: str) -> str:
    """One line for an SMTP AUTH XOAUTH2 that failed with a freshly issued token."""
    return smtp_auth_disabled(code, reply) or _explain_refusal(
        tokens, "SMTP", "SMTP.SendAsApp", user, host, token, f" ({code} {reply[:120]})",
        "check [oauth2] smtp_scope and the mailbox's send permission for the client")


# -- wiring ----------------------------------------------------------------------------------------------------


def imap_tokens(cfg: Config, **kw: Any) -> TokenProvider | None:
    if not cfg.imap.host or cfg.imap.auth != "oauth2":
        return None
    return TokenProvider(cfg.oauth2, scope=cfg.oauth2.scope, subject=cfg.imap.username, base_dir=cfg.base_dir, **kw)


def smtp_tokens(cfg: Config, **kw: Any) -> TokenProvider | None:
    if not cfg.smtp.host or cfg.smtp.auth != "oauth2":
        return None
    return TokenProvider(cfg.oauth2, scope=cfg.oauth2.smtp_scope or cfg.oauth2.scope, subject=cfg.smtp.username,
                         base_dir=cfg.base_dir, **kw)
