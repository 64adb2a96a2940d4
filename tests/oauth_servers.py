"""OAuth2 test servers, all on 127.0.0.1: a token endpoint, Dovecot validating its tokens, and an SMTP server
that requires AUTH XOAUTH2.

FakeOAuthServer speaks three dialects on one port:
  POST /token                                   RFC 6749 client credentials, and Google's JWT-bearer grant
  GET  /<tenant>/v2.0/.well-known/openid-configuration   Microsoft Entra tenant discovery (for msal)
  POST /<tenant>/oauth2/v2.0/token              Microsoft Entra token endpoint, with its AADSTS errors
  POST /introspect                              RFC 7662 introspection, for Dovecot's oauth2 passdb
Tokens look like Microsoft's (an unsigned JWT with a 'roles' claim), so the service's diagnostics can read them.
expire_all() ends every issued token at once, as if they had all run out.

OAuthDovecot is tests/servers.py's Dovecot plus `passdb { driver = oauth2 }` (introspection against the fake),
and kick() ends every IMAP session of a user, as Exchange Online does when a session's token expires.

XOAuthSmtpSink is tests/servers.py's SmtpSink that requires AUTH XOAUTH2 with a valid token, and answers the
next MAIL FROM of a session whose token has expired with 421.
"""
from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from servers import LOOPBACK, Dovecot, SmtpSink, _SinkHandler
except ImportError:  # tests/ turned into a package
    from tests.servers import LOOPBACK, Dovecot, SmtpSink, _SinkHandler

MS_HOST = "https://login.microsoftonline.com"
ALL_ROLES = ("IMAP.AccessAsApp", "SMTP.SendAsApp")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Client:
    client_id: str
    secret: str = ""
    mailbox: str | None = None  # the one mailbox the app may use (Add-MailboxPermission); None: none
    roles: tuple[str, ...] = ALL_ROLES  # application permissions with admin consent
    tenant: str = ""  # Microsoft tenant it is registered in ("" = plain OAuth2 client)
    public_key: object | None = None  # Google service account: the key that signs its JWTs
    smtp_auth_disabled: bool = False  # Exchange: Set-CASMailbox -SmtpClientAuthenticationDisabled $true


@dataclass
class Issued:
    client: Client
    subject: str
    expires_at: float
    revoked: bool = False

    @property
    def active(self) -> bool:
        return not self.revoked and time.time() < self.expires_at


@dataclass
class FakeOAuthServer:
    lifetime: float = 3600.0  # expires_in of new tokens, seconds
    host: str = LOOPBACK
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    tenants: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                status, body = server._get(self.path)
                self._reply(status, body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                status, body = server._post(self.path, form, self.headers.get("Authorization", ""))
                self._reply(status, body)

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- test controls -----------------------------------------------------------------------------------

    def add_client(self, mailbox: str | None, *, roles: tuple[str, ...] = ALL_ROLES, tenant: str = "",
                   public_key: object | None = None) -> Client:
        client = Client(f"app-{secrets.token_hex(6)}", secrets.token_urlsafe(16), mailbox, roles, tenant,
                        public_key)
        with self._lock:
            self.clients[client.client_id] = client
            if tenant:
                self.tenants.add(tenant)
        return client

    def expire_all(self) -> None:
        with self._lock:
            for issued in self.tokens.values():
                issued.revoked = True

    def issued_to(self, client: Client) -> int:
        with self._lock:
            return sum(1 for t in self.tokens.values() if t.client is client)

    def validate(self, token: str, user: str | None = None) -> Issued | None:
        """The token's grant when it is active and (if user is given) may use that mailbox."""
        with self._lock:
            issued = self.tokens.get(token)
        if issued is None or not issued.active:
            return None
        if user is not None and (issued.subject or issued.client.mailbox or "").lower() != user.lower():
            return None
        return issued

    # -- endpoints ---------------------------------------------------------------------------------------

    def _issue(self, client: Client, subject: str = "") -> dict:
        claims = {"aud": "https://outlook.office365.com", "appid": client.client_id, "tid": client.tenant,
                  "roles": list(client.roles), "jti": secrets.token_hex(8)}
        token = ".".join([_b64url(b'{"alg":"none","typ":"JWT"}'), _b64url(json.dumps(claims).encode()),
                          _b64url(secrets.token_bytes(16))])
        with self._lock:
            self.tokens[token] = Issued(client, subject, time.time() + self.lifetime)
        return {"token_type": "Bearer", "access_token": token, "expires_in": int(self.lifetime),
                "ext_expires_in": int(self.lifetime)}

    def _get(self, path: str) -> tuple[int, dict]:
        self.requests.append(f"GET {path}")
        parts = path.split("?")[0].strip("/").split("/")
        if parts == ["common", "discovery", "instance"]:  # msal's instance metadata
            aliases = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]
            return 200, {"tenant_discovery_endpoint": f"{MS_HOST}/common/v2.0/.well-known/openid-configuration",
                         "api-version": "1.1", "metadata": [{"preferred_network": "login.microsoftonline.com",
                                                             "preferred_cache": "login.windows.net",
                                                             "aliases": aliases}]}
        if len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            tenant = parts[0]
            if tenant not in self.tenants:
                return 400, {"error": "invalid_tenant", "error_codes": [90002],
                             "error_description": f"AADSTS90002: Tenant '{tenant}' not found. Check to make "
                                                  "sure you have the correct tenant ID and are signing into the "
                                                  "correct cloud."}
            base = f"{MS_HOST}/{tenant}"
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                         "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                         "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]}
        return 404, {"error": "not_found"}

    def _post(self, path: str, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        self.requests.append(f"POST {path}")
        if path == "/introspect":
            issued = self.validate(form.get("token", ""))
            if issued is None or "IMAP.AccessAsApp" not in issued.client.roles:
                return 200, {"active": False}
            # Without a mailbox permission the token names no mailbox this app may open.
            return 200, {"active": True, "username": issued.subject or issued.client.mailbox or "nobody@invalid",
                         "client_id": issued.client.client_id}
        parts = path.strip("/").split("/")
        if path == "/token":
            if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return self._google(form.get("assertion", ""))
            client = self.clients.get(form.get("client_id", ""))
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if client is None or client.tenant or not secrets.compare_digest(client.secret,
                                                                             form.get("client_secret", "")):
                return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
            return 200, self._issue(client)
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            tenant, client = parts[0], self.clients.get(form.get("client_id", ""))
            if client is None or client.tenant != tenant:
                return 400, {"error": "unauthorized_client", "error_codes": [700016],
                             "error_description": f"AADSTS700016: Application with identifier "
                                                  f"'{form.get('client_id')}' was not found in the directory "
                                                  f"'{tenant}'. This can happen if the application has not been "
                                                  "installed by the administrator of the tenant."}
            if form.get("client_assertion"):  # certificate credential: a JWT signed with the app's key
                import jwt

                try:
                    jwt.decode(form["client_assertion"], client.public_key, algorithms=["RS256", "PS256"],
                               audience=f"{MS_HOST}/{tenant}/oauth2/v2.0/token")
                except (jwt.PyJWTError, TypeError, ValueError):
                    return 401, {"error": "invalid_client", "error_codes": [700027],
                                 "error_description": "AADSTS700027: Client assertion failed signature "
                                                      "validation."}
            elif not secrets.compare_digest(client.secret, form.get("client_secret", "")):
                return 401, {"error": "invalid_client", "error_codes": [7000215],
                             "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
                                                  "secret being sent in the request is the client secret value, "
                                                  "not the client secret ID."}
            if form.get("scope") != "https://outlook.office365.com/.default":
                return 400, {"error": "invalid_scope", "error_codes": [1002012],
                             "error_description": f"AADSTS1002012: The provided value for scope "
                                                  f"{form.get('scope')} is not valid."}
            return 200, self._issue(client)
        return 404, {"error": "not_found"}

    def _google(self, assertion: str) -> tuple[int, dict]:
        import jwt

        try:
            email = jwt.decode(assertion, options={"verify_signature": False})["iss"]
            client = self.clients[email]
            claims = jwt.decode(assertion, client.public_key, algorithms=["RS256"], audience=f"{self.url}/token")
        except (KeyError, jwt.PyJWTError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("scope") != "https://mail.google.com/" or claims.get("sub") != client.mailbox:
            return 401, {"error": "unauthorized_client",
                         "error_description": "Client is unauthorized to retrieve access tokens using this "
                                              "method, or client not authorized for any of the scopes requested."}
        return 200, self._issue(client, claims["sub"])


class MsalHttp:
    """msal's http_client, with login.microsoftonline.com served by the FakeOAuthServer."""

    def __init__(self, fake: FakeOAuthServer) -> None:
        self.fake = fake

    def _url(self, url: str) -> str:
        assert url.startswith(MS_HOST), url  # nothing leaves the machine
        return self.fake.url + url[len(MS_HOST):]

    def _do(self, method: str, url: str, params=None, data=None, headers=None) -> "_Response":
        url = self._url(url)
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        if isinstance(body, str):
            body = body.encode()
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return _Response(resp.status, resp.read().decode(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, exc.read().decode(), dict(exc.headers))

    def get(self, url, params=None, headers=None, **kwargs):
        return self._do("GET", url, params, None, headers)

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        return self._do("POST", url, params, data, headers)

    def close(self) -> None:
        pass


@dataclass
class _Response:
    status_code: int
    text: str
    headers: dict

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text}")


# --------------------------------------------------------------------------- IMAP


class OAuthDovecot(Dovecot):
    """The test Dovecot, also accepting XOAUTH2 / OAUTHBEARER with tokens the FakeOAuthServer introspects."""

    def __init__(self, tmpdir, oauth: FakeOAuthServer, **kw) -> None:
        self.oauth = oauth  # set before Dovecot.__init__ writes the config
        super().__init__(tmpdir, **kw)

    def _config(self) -> str:
        conf_ext = self.tmpdir / "dovecot-oauth2.conf.ext"
        conf_ext.write_text(f"""\
introspection_mode = post
introspection_url = {self.oauth.url}/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
""")
        base = super()._config()
        assert "auth_mechanisms = plain login\n" in base and "\npassdb {" in base
        base = base.replace("auth_mechanisms = plain login\n",
                            "auth_mechanisms = plain login xoauth2 oauthbearer\n"
                            "# every login asks the token server again: an expired token must fail\n"
                            "auth_cache_size = 0\n"
                            "auth_failure_delay = 0\n"
                            "# no growing auth penalty for the refused logins the tests provoke\n"
                            "login_trusted_networks = 127.0.0.0/8\n", 1)
        return base.replace("\npassdb {", f"""
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {conf_ext}
}}
passdb {{""", 1)

    def kick(self, user: str) -> None:
        """End every IMAP session of `user` (Exchange Online does this when the session's token expires)."""
        subprocess.run(["doveadm", "-c", str(self.conf_path), "kick", user], check=True,
                       capture_output=True, timeout=10)


# --------------------------------------------------------------------------- SMTP


class _XOAuthHandler(_SinkHandler):
    def __init__(self, sink: "XOAuthSmtpSink") -> None:
        super().__init__(sink)

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd finds AUTH mechanisms by name
        from aiosmtpd.smtp import MISSING, AuthResult

        sink: XOAuthSmtpSink = self.sink  # type: ignore[assignment]
        if len(args) == 1:
            raw = await server.challenge_auth("")
            if raw is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                raw = base64.b64decode(args[1], validate=True)
            except ValueError:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        fields = dict(p.split("=", 1) for p in raw.decode(errors="replace").split("\x01") if "=" in p)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        with sink._cond:
            sink.auth_attempts.append(user)
        issued = sink.oauth.validate(token, user)
        if issued is not None and issued.client.smtp_auth_disabled:
            return AuthResult(success=False, handled=False, message="535 5.7.139 Authentication unsuccessful, "
                              "SmtpClientAuthentication is disabled for the Mailbox.")
        if issued is None or "SMTP.SendAsApp" not in issued.client.roles:
            return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")
        return AuthResult(success=True, auth_data=token)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.sink.oauth.validate(session.auth_data or "") is None:
            return "421 4.7.0 Session token expired, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


class XOAuthSmtpSink(SmtpSink):
    """SmtpSink that only takes mail after AUTH XOAUTH2 with an active token from `oauth`."""

    def __init__(self, oauth: FakeOAuthServer, **kw) -> None:
        super().__init__(**kw)
        self.oauth = oauth
        self.auth_attempts: list[str] = []

    def start(self) -> None:
        if self._controller is not None:
            return
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        class BigLineSMTP(SMTP):
            command_size_limit = 16384  # AUTH with an initial response carries a whole token (RFC 4954: 12288)
            line_length_limit = 16384

        class XController(Controller):
            def factory(self):
                return BigLineSMTP(self.handler, **self.SMTP_kwargs)

        import warnings

        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)  # loopback test
        self._controller = XController(
            _XOAuthHandler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=True, ready_timeout=10,
            auth_required=True, auth_require_tls=False, auth_exclude_mechanism=["LOGIN", "PLAIN"])
        self._controller.start()
