"""An SMTP server on loopback that accepts every message and keeps it for inspection.

In-process: ``SmtpSink().start()`` runs an aiosmtpd ``Controller`` in a thread; ``messages``
lists dicts ``{mail_from, rcpt_tos, raw, auth_user, peer, received_at}`` where ``raw`` is the
bytes exactly as received (CRLF line ends, dot-stuffing undone). Any AUTH PLAIN/LOGIN login is
accepted without TLS, so code that logs in to its SMTP server (Odoo's ir.mail_server) works.

Across processes (Odoo tests talking to a sink that ``scripts/services.py`` started): give a
``spool_dir``; each message is written there as ``<id>.eml`` (raw bytes) plus ``<id>.json``
(envelope), and ``read_spool(spool_dir)`` / ``messages`` read them back. The module also serves
on its own until SIGTERM::

    python3 -m crm_mail_channel_testing.smtp_sink --port 2525 --spool /tmp/spool

which is what ``SmtpSink(spool_dir=...).start(background=True)`` launches (in its own session,
so it outlives the caller). ``info()`` / ``SmtpSink.attach(info)`` and ``ensure_smtp_sink()``
share one sink through the JSON file named by ``$CMC_SERVICES_FILE`` (key ``"smtp"``).

A sink given an ``SmtpAuthPolicy`` plays a provider's submission server instead: it refuses
mail before AUTH, checks LOGIN/PLAIN passwords and XOAUTH2 bearer tokens (asking an OAuth
introspection endpoint, e.g. ``oauth_provider.OAuthProvider``), answers Microsoft's
``535 5.7.139`` for accounts whose tenant turned SMTP AUTH off and Google's error challenge
then ``535 5.7.8`` for a bad token, and lists every AUTH it received in ``auth_attempts``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import binascii
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

from ._process import (
    HOST,
    Launcher,
    SharedServer,
    free_port,
    pid_alive,
    port_open,
    terminate_pid,
    wait_until,
)

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _port_open(port: int) -> bool:
    return port_open(port, HOST, timeout=0.2)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_spool(spool_dir: str | os.PathLike, message: dict[str, Any]) -> Path:
    """Store one message: the envelope first, then the .eml whose presence marks it complete."""
    spool = Path(spool_dir)
    spool.mkdir(parents=True, exist_ok=True)
    stem = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    envelope = {key: value for key, value in message.items() if key != "raw"}
    _write_atomic(spool / f"{stem}.json", json.dumps(envelope).encode())
    _write_atomic(spool / f"{stem}.eml", message["raw"])
    return spool / f"{stem}.eml"


def read_spool(spool_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Messages in a spool folder, oldest first, as the dicts ``SmtpSink.messages`` gives."""
    spool = Path(spool_dir)
    if not spool.is_dir():
        return []
    messages = []
    for eml in sorted(spool.glob("*.eml")):
        try:
            envelope = json.loads(eml.with_suffix(".json").read_text())
            raw = eml.read_bytes()
        except (OSError, ValueError):
            continue  # removed by clear() while we read
        messages.append({**envelope, "raw": raw, "path": str(eml)})
    return messages


def _not_login_data_notice(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 logs this itself on every successful AUTH; it is not about our code.
    return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_not_login_data_notice)


TENANT_DISABLED_REPLY = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
)
BAD_CREDENTIALS_REPLY = "535 5.7.8 Username and Password not accepted."
# Google's XOAUTH2 error challenge (base64 JSON), before its 535.
XOAUTH2_ERROR = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}


class SmtpAuthPolicy:
    """Who may log in to an authenticating sink, and how refusals are worded."""

    def __init__(
        self,
        passwords: dict[str, str] | None = None,
        introspection_url: str | None = None,
        tenant_disabled=(),
    ) -> None:
        self.passwords = dict(passwords or {})  # login -> password (LOGIN/PLAIN)
        self.introspection_url = introspection_url  # XOAUTH2 tokens are checked there
        self.tenant_disabled = set(tenant_disabled)  # logins answered 535 5.7.139

    def check_password(self, login: str, password: str) -> str | None:
        """None when accepted, else the reply to send."""
        if login in self.tenant_disabled:
            return TENANT_DISABLED_REPLY
        if login in self.passwords and self.passwords[login] == password:
            return None
        return BAD_CREDENTIALS_REPLY

    def check_token(self, login: str, token: str) -> str | None:
        """None when the token is live and was issued for ``login``, else the reply."""
        if login in self.tenant_disabled:
            return TENANT_DISABLED_REPLY
        if not (self.introspection_url and token):
            return BAD_CREDENTIALS_REPLY
        request = Request(
            self.introspection_url, data=urlencode({"token": token}).encode(), method="POST"
        )
        try:
            with urlopen(request, timeout=5) as response:
                answer = json.loads(response.read().decode() or "{}")
        except (OSError, ValueError):
            return "454 4.7.0 Temporary authentication failure"
        if answer.get("active") and answer.get("email") == login:
            return None
        return BAD_CREDENTIALS_REPLY


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    login = auth_data.login if isinstance(auth_data, LoginPassword) else auth_data
    if isinstance(login, bytes):
        login = login.decode("utf-8", "replace")
    return AuthResult(success=True, auth_data=login)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:
        auth = session.auth_data
        if isinstance(auth, bytes):
            auth = auth.decode("utf-8", "replace")
        message = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "raw": envelope.original_content or b"",
            "auth_user": auth if isinstance(auth, str) else None,
            "peer": list(session.peer) if session.peer else None,
            "received_at": time.time(),
        }
        mechanism = getattr(session, "cmc_auth_mechanism", None)
        if mechanism:
            message["auth_mechanism"] = mechanism
        self.sink._record(message)
        return "250 Message accepted"


class _AuthHandler(_Handler):
    """The handler of a sink with an ``SmtpAuthPolicy``: adds SASL XOAUTH2, and refuses mail
    before AUTH (here rather than aiosmtpd's ``auth_required``, which warns on every
    connection without TLS)."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def auth_XOAUTH2(self, server, args) -> AuthResult:
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1].encode(), validate=True)
            except (binascii.Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if blob is MISSING:
                return AuthResult(success=False)
        parts = blob.decode("utf-8", "replace").split("\x01")
        fields = dict(part.split("=", 1) for part in parts if "=" in part)
        login = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        reply = self.sink.auth_policy.check_token(login, token)
        attempt = {
            "mechanism": "XOAUTH2",
            "login": login,
            "secret": token,
            "argument": args[1] if len(args) > 1 else None,
        }
        if reply is None:
            self.sink._record_auth({**attempt, "success": True, "reply": "235"})
            server.session.cmc_auth_mechanism = "XOAUTH2"
            return AuthResult(success=True, auth_data=login)
        if reply == BAD_CREDENTIALS_REPLY:
            # Google first sends a JSON error challenge; the client answers with an empty line.
            await server.challenge_auth(json.dumps(XOAUTH2_ERROR))
        self.sink._record_auth({**attempt, "success": False, "reply": reply})
        return AuthResult(success=False, handled=False, message=reply)


class SmtpSink(Launcher):
    """Accepts all mail on 127.0.0.1:``port`` (a free one when 0)."""

    host = HOST

    def __init__(
        self,
        port: int = 0,
        spool_dir: str | os.PathLike | None = None,
        auth_policy: SmtpAuthPolicy | None = None,
    ) -> None:
        self.port = port
        self.auth_policy = auth_policy  # None: any login is accepted, none is required
        self.auth_attempts: list[dict[str, Any]] = []
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.managed = True  # False when attached to a sink another process started
        self.pid: int | None = None  # of the background process, when there is one
        self._owns_spool = False
        self._controller: Controller | None = None
        self._process: subprocess.Popen | None = None
        self._messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, background: bool = False) -> SmtpSink:
        """Serve in a thread, or with ``background`` in a detached process (spool required)."""
        if not self.port:
            self.port = free_port()
        if background:
            return self._start_process()
        if self.auth_policy is not None:
            self._controller = Controller(
                _AuthHandler(self),
                hostname=self.host,
                port=self.port,
                authenticator=self._check_login,
                auth_require_tls=False,
                auth_required=False,
            )
            self._controller.start()
            atexit.register(self.stop)
            return self
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            authenticator=_accept_any_login,
            auth_require_tls=False,
            auth_required=False,
        )
        self._controller.start()
        atexit.register(self.stop)
        return self

    def _start_process(self) -> SmtpSink:
        if self.spool_dir is None:
            self.spool_dir = Path(tempfile.mkdtemp(prefix="cmc-smtp-spool-"))
            self._owns_spool = True
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")])
        )
        log = open(self.spool_dir.parent / f"smtp-sink-{self.port}.log", "ab")  # noqa: SIM115
        with log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "crm_mail_channel_testing.smtp_sink",
                    "--port",
                    str(self.port),
                    "--spool",
                    str(self.spool_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.pid = self._process.pid
        process = self._process
        if not wait_until(lambda: _port_open(self.port), failed=lambda: process.poll() is not None):
            raise RuntimeError(f"the SMTP sink did not start; see {log.name}")
        return self

    def stop(self) -> None:
        """Stop serving (the thread, or the background process even if another started it)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        # No SIGKILL: the sink stops on SIGTERM, or is left alone.
        terminate_pid(self.pid, poll=self._reap, kill=False)
        self._reap()
        self._process = None

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()  # reap our own child

    def _owned_dir(self) -> Path | None:
        """The spool folder when we created it (``cleanup()`` removes it)."""
        return self.spool_dir if self._owns_spool else None

    def is_running(self) -> bool:
        if self._controller is not None:
            return True
        return pid_alive(self.pid) and _port_open(self.port)

    # ---- authentication (with an SmtpAuthPolicy) -----------------------------------------
    def _check_login(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login, auth_data.password
        login = login.decode("utf-8", "replace") if isinstance(login, bytes) else login
        password = password.decode("utf-8", "replace") if isinstance(password, bytes) else password
        reply = self.auth_policy.check_password(login, password)
        self._record_auth(
            {
                "mechanism": mechanism,
                "login": login,
                "secret": password,
                "argument": None,
                "success": reply is None,
                "reply": reply or "235",
            }
        )
        if reply is None:
            session.cmc_auth_mechanism = mechanism
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message=reply)

    def _record_auth(self, attempt: dict[str, Any]) -> None:
        with self._cond:
            self.auth_attempts.append({**attempt, "at": time.time()})

    # ---- messages ------------------------------------------------------------------------
    def _record(self, message: dict[str, Any]) -> None:
        if self.spool_dir is not None:
            write_spool(self.spool_dir, message)
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Messages received so far, oldest first (from the spool when there is one)."""
        if self.spool_dir is not None:
            return read_spool(self.spool_dir)
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self.auth_attempts.clear()
        if self.spool_dir is not None and self.spool_dir.is_dir():
            for path in self.spool_dir.iterdir():
                if path.suffix in (".eml", ".json"):
                    path.unlink(missing_ok=True)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages arrived; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"expected {count} message(s) at the SMTP sink, got {len(messages)}"
                )
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    # ---- sharing between processes ---------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What ``scripts/services.py`` stores under ``"smtp"`` in the services JSON."""
        return {
            "host": self.host,
            "port": self.port,
            "spool_dir": str(self.spool_dir) if self.spool_dir else None,
            "pid": self.pid,
        }

    @classmethod
    def attach(cls, info: dict[str, Any]) -> SmtpSink:
        """Use a sink started elsewhere; messages come from its spool folder."""
        sink = cls(int(info["port"]), info.get("spool_dir"))
        sink.pid = info.get("pid")
        sink.managed = False
        return sink


def _attach_serving(info: dict[str, Any]) -> SmtpSink | None:
    if not info.get("spool_dir"):
        return None  # only a spool folder shows us what another process received
    sink = SmtpSink.attach(info)
    return sink if _port_open(sink.port) else None


_SHARED: SharedServer[SmtpSink] = SharedServer("smtp", _attach_serving)


def ensure_smtp_sink() -> SmtpSink:
    """Process-wide sink: reuse the one in ``$CMC_SERVICES_FILE`` or start our own."""
    return _SHARED.get(lambda: SmtpSink().start())


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT, spooling every message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", required=True, help="folder receiving <id>.eml/<id>.json")
    args = parser.parse_args(argv)
    sink = SmtpSink(args.port, args.spool)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink.start()
    print(json.dumps(sink.info()), flush=True)
    while not stop.wait(0.5):
        pass
    sink.stop()
    return 0


__all__ = [
    "BAD_CREDENTIALS_REPLY",
    "TENANT_DISABLED_REPLY",
    "SmtpAuthPolicy",
    "SmtpSink",
    "ensure_smtp_sink",
    "main",
    "read_spool",
    "write_spool",
]

if __name__ == "__main__":
    sys.exit(main())
