"""A small OAuth 2 provider on loopback, playing Google and Microsoft in tests.

It answers, under any path prefix (``/google/``, ``/ms/``...):

- ``GET  .../authorize``  the consent screen: redirects to ``redirect_uri`` with a code and
  the state (``login_hint`` names the account that consents);
- ``POST .../token``      ``authorization_code`` → access + refresh token, ``refresh_token`` →
  a new access token (and a new refresh token when ``rotate`` is on); a revoked, unknown or
  already rotated refresh token answers ``400 {"error": "invalid_grant"}``;
- ``POST .../introspect`` for Dovecot's oauth2 passdb (RFC 7662 style): ``{"active": true,
  "email": <account>}`` for a live access token it issued, ``{"active": false}`` otherwise.

Tests drive it directly too: ``issue_code()``, ``revoke()``, ``expire_access_tokens()``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Grant:
    email: str
    client_id: str
    scope: str = ""
    revoked: bool = False
    refresh_tokens: set[str] = field(default_factory=set)


class OAuthProvider:
    """Token endpoint, consent redirect and introspection for one or more fake providers."""

    host = "127.0.0.1"

    def __init__(self, client_id="cmc-client", client_secret="cmc-secret", access_ttl=3600):
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl = access_ttl
        self.rotate = False  # answer a refresh with a new refresh token (Microsoft does)
        self.requests: list[dict] = []  # every POST to a token endpoint, for assertions
        self._lock = threading.Lock()
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._access: dict[str, tuple[Grant, float]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> OAuthProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def do_GET(self):
                provider._handle_get(self)

            def do_POST(self):
                provider._handle_post(self)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    @property
    def introspection_url(self) -> str:
        return self.url("introspect")

    # ---- test controls -------------------------------------------------------------------
    def issue_code(self, email: str, client_id: str | None = None, scope: str = "") -> str:
        """The code the provider hands back after ``email`` consented."""
        code = "code-" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = Grant(email, client_id or self.client_id, scope)
        return code

    def issue_tokens(self, email: str) -> tuple[str, str]:
        """(access token, refresh token) for ``email``, without the consent screen."""
        grant = Grant(email, self.client_id)
        with self._lock:
            return self._new_access(grant), self._new_refresh(grant)

    def revoke(self, email: str) -> None:
        """The account withdraws its consent: every token of it stops working."""
        with self._lock:
            for grant, _expiry in list(self._access.values()):
                if grant.email == email:
                    grant.revoked = True
            for grant in self._refresh.values():
                if grant.email == email:
                    grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {t: (g, 0.0) for t, (g, _e) in self._access.items()}

    def grant_count(self, grant_type: str) -> int:
        return sum(1 for r in self.requests if r.get("grant_type") == grant_type)

    # ---- tokens --------------------------------------------------------------------------
    def _new_access(self, grant: Grant) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        self._access[token] = (grant, time.time() + self.access_ttl)
        return token

    def _new_refresh(self, grant: Grant) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        grant.refresh_tokens.add(token)
        self._refresh[token] = grant
        return token

    def _token(self, form: dict) -> tuple[int, dict]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return 401, {"error": "invalid_client", "error_description": "Unknown client."}
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.pop(form.get("code", ""), None)
                if not grant:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "The code is invalid or was already used.",
                    }
                return 200, self._answer(grant, self._new_refresh(grant))
            if grant_type == "refresh_token":
                old = form.get("refresh_token", "")
                grant = self._refresh.get(old)
                if not grant or grant.revoked:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    }
                refresh = None
                if self.rotate:
                    del self._refresh[old]
                    refresh = self._new_refresh(grant)
                return 200, self._answer(grant, refresh)
        return 400, {"error": "unsupported_grant_type"}

    def _answer(self, grant: Grant, refresh: str | None) -> dict:
        answer = {
            "access_token": self._new_access(grant),
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "scope": grant.scope,
        }
        if refresh:
            answer["refresh_token"] = refresh
        return answer

    def _introspect(self, token: str) -> dict:
        with self._lock:
            grant, expiry = self._access.get(token, (None, 0.0))
        if not grant or grant.revoked or expiry < time.time():
            return {"active": False}
        return {"active": True, "email": grant.email, "client_id": grant.client_id}

    # ---- HTTP ----------------------------------------------------------------------------
    @staticmethod
    def _reply(handler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _handle_get(self, handler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path.endswith("/authorize") and query.get("redirect_uri"):
            code = self.issue_code(query.get("login_hint", ""), query.get("client_id"))
            params = {"code": code, "state": query.get("state", "")}
            handler.send_response(302)
            handler.send_header("Location", f"{query['redirect_uri']}?{urlencode(params)}")
            handler.end_headers()
            return
        if url.path.endswith("/introspect"):
            token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._reply(handler, 200, self._introspect(token or query.get("token", "")))
            return
        self._reply(handler, 404, {"error": "not_found"})

    def _handle_post(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw).items()}
        path = urlsplit(handler.path).path
        if path.endswith("/introspect"):
            token = form.get("token") or (handler.headers.get("Authorization") or "").removeprefix(
                "Bearer "
            )
            self._reply(handler, 200, self._introspect(token))
            return
        if path.endswith("/token"):
            self.requests.append({"path": path, **form})
            status, payload = self._token(form)
            self._reply(handler, status, payload)
            return
        self._reply(handler, 404, {"error": "not_found"})


_SHARED: tuple | None = None
_SHARED_LOCK = threading.Lock()


def ensure_oauth_servers():
    """Process-wide ``(OAuthProvider, OAuthDovecotServer)``: the provider and a Dovecot that
    checks tokens with it. Started on first use, stopped when the process exits."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            import atexit

            from .dovecot import start_oauth_dovecot

            provider = OAuthProvider().start()
            atexit.register(provider.stop)
            _SHARED = (provider, start_oauth_dovecot(provider.introspection_url))
        return _SHARED
