"""Start a private Dovecot (IMAP + POP3) on loopback for tests, the demo and benchmarks."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from ._process import (
    Launcher,
    SharedServer,
    free_port,
    pid_alive,
    port_open,
    wait_pid_gone,
    wait_until,
)

DOVECOT_BIN = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM_BIN = shutil.which("doveadm") or "/usr/bin/doveadm"

# Dovecot refuses uid 0 for mail users; "nobody" works and need not own anything else.
MAIL_UID = 65534
MAIL_GID = 65534

SPECIAL_FOLDERS = {
    "Sent": "\\Sent",
    # A localised name (Outlook in German) so tests can prove SPECIAL-USE wins over names.
    "Gesendete Objekte": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}


DEFAULT_FOLDERS = ("Sent", "Drafts", "Trash", "Junk", "Archive")


class DovecotServer(Launcher):
    """A Dovecot instance with private config, state and mail under ``base_dir``."""

    host = "127.0.0.1"

    def __init__(self, base_dir: str | os.PathLike | None = None) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="cmc-dovecot-"))
        self.instance_name = f"cmc-{uuid.uuid4().hex[:8]}"
        self.imap_port = 0
        self.imaps_port = 0
        self.pop3_port = 0
        self.pop3s_port = 0
        self.managed = True  # False when attached to a server someone else started
        self._lock = threading.Lock()
        self._running = False
        self._pool: dict[str, list[str]] = {}
        if os.geteuid() == 0:
            self.mail_uid, self.mail_gid = MAIL_UID, MAIL_GID
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()

    # ---- paths -----------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.base_dir / "dovecot.conf"

    @property
    def cert_path(self) -> Path:
        return self.base_dir / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.base_dir / "key.pem"

    @property
    def users_path(self) -> Path:
        return self.base_dir / "users"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def state_dir(self) -> Path:
        return self.base_dir / "state"

    @property
    def mail_root(self) -> Path:
        return self.base_dir / "mail"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "dovecot.log"

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> DovecotServer:
        """Write config (first time), launch the daemon and wait until all ports answer."""
        if self._running:
            return self
        for path in (self.base_dir, self.run_dir, self.state_dir, self.mail_root):
            path.mkdir(parents=True, exist_ok=True)
            # Login processes run as an unprivileged user and must reach the sockets.
            os.chmod(path, 0o755)
        if not self.cert_path.exists():
            self._make_cert()
        if not self.users_path.exists():
            self.users_path.write_text("")
            os.chmod(self.users_path, 0o644)
        if not self.imap_port:
            self.imap_port, self.imaps_port = free_port(), free_port()
            self.pop3_port, self.pop3s_port = free_port(), free_port()
        self._write_config()
        # The daemon inherits our stdio: never hand it a pipe, or waiting for EOF hangs.
        err_path = self.base_dir / "start.err"
        with open(err_path, "w") as err:
            result = subprocess.run(
                [DOVECOT_BIN, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=30,
            )
        if result.returncode != 0:
            raise RuntimeError(f"dovecot failed to start: {err_path.read_text().strip()}")
        ports = (self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port)
        if not wait_until(
            lambda: self._master_pid() and all(port_open(p, self.host) for p in ports)
        ):
            raise RuntimeError(f"dovecot did not open its ports; see {self.log_path}")
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the daemon (waits until the master process is gone)."""
        pid = self._master_pid()
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
        elif self.config_path.exists():
            subprocess.run(
                [DOVEADM_BIN, "-c", str(self.config_path), "stop"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
            )
        if pid and not wait_pid_gone(pid):
            os.kill(pid, signal.SIGKILL)
        self._running = False

    def restart(self) -> None:
        """Stop and start again on the same ports (drops every open connection)."""
        self.stop()
        self._running = False
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def is_running(self) -> bool:
        return pid_alive(self._master_pid())

    def _owned_dir(self) -> Path | None:
        return self.base_dir if self._owns_dir else None

    def _master_pid(self) -> int | None:
        try:
            return int((self.run_dir / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _make_cert(self) -> None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key_path),
                "-out",
                str(self.cert_path),
                "-days",
                "3650",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        os.chmod(self.key_path, 0o600)

    def _write_config(self) -> None:
        mailboxes = "\n".join(
            # auto = no: a user gets only the folders add_user() created for them.
            f'  mailbox "{name}" {{\n    special_use = {use}\n    auto = no\n  }}'
            for name, use in SPECIAL_FOLDERS.items()
        )
        users = ""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.getuid()).pw_name
            users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        conf = f"""# generated by crm_mail_channel_testing.dovecot
instance_name = {self.instance_name}
base_dir = {self.run_dir}
state_dir = {self.state_dir}
log_path = {self.log_path}
info_log_path = {self.log_path}
{users}listen = 127.0.0.1
protocols = imap pop3
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = 1
first_valid_gid = 1
mail_plugins =
imap_capability = +XLIST
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv
protocol imap {{
  mail_max_userip_connections = 200
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_path}
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.pop3s_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
        self.config_path.write_text(conf)

    # ---- users and mail --------------------------------------------------------------------
    def add_user(self, login: str, password: str, folders: Iterable[str] = DEFAULT_FOLDERS) -> None:
        """Add (or replace) a mail user; Dovecot re-reads the passwd-file on change.

        ``folders`` are created empty (Maildir++ layout); names listed in SPECIAL_FOLDERS get
        their SPECIAL-USE flag from the server config.
        """
        self.add_users([(login, password)], folders)

    def add_users(
        self, users: Iterable[tuple[str, str]], folders: Iterable[str] = DEFAULT_FOLDERS
    ) -> None:
        """Add several users with one passwd-file write (and at most one wait)."""
        users = list(users)
        folders = tuple(folders)
        for login, password in users:
            if ":" in login + password or "\n" in login + password:
                raise ValueError("login and password must not contain ':' or newlines")
            self._make_maildir(login, folders)
        with self._lock:
            current = self.users_path.read_text().splitlines(keepends=True)
            lines = {line.split(":", 1)[0]: line for line in current}
            changed = False
            for login, password in users:
                home = self.mail_root / login
                line = f"{login}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}\n"
                if lines.get(login) != line:
                    lines[login] = line
                    changed = True
            if not changed:
                return
            tmp = self.users_path.with_suffix(".tmp")
            tmp.write_text("".join(lines.values()))
            os.chmod(tmp, 0o644)
            # Atomic replace so the auth process never reads a half-written file.
            os.replace(tmp, self.users_path)
            # Dovecot stats the passwd-file at most once per second: a login in the same
            # second as an earlier lookup would not see the new user yet. Wait it out.
            time.sleep(1.02 - (time.time() % 1))

    def _make_maildir(self, login: str, folders: Sequence[str]) -> None:
        home = self.mail_root / login
        maildir = home / "Maildir"
        dirs = [home, maildir] + [maildir / sub for sub in ("cur", "new", "tmp")]
        for folder in folders:
            if not folder.isascii() or "/" in folder:
                raise ValueError("only plain ASCII top-level folder names are supported here")
            box = maildir / f".{folder}"
            dirs += [box] + [box / sub for sub in ("cur", "new", "tmp")]
        for path in dirs:
            path.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(path, self.mail_uid, self.mail_gid)

    def new_user(self, prefix: str = "user", password: str = "secret") -> tuple[str, str]:
        """A fresh empty mailbox with a unique login; returns (login, password).

        Users are registered in blocks of 50 so tests rarely wait for the passwd-file reload.
        """
        with self._lock:
            pool = self._pool.setdefault(password, [])
            if pool:
                return pool.pop(), password
        block = [(f"{prefix}{uuid.uuid4().hex[:10]}", password) for _ in range(50)]
        self.add_users(block)
        with self._lock:
            self._pool[password].extend(login for login, _ in block[1:])
        return block[0]

    def imap_client(self, login: str, password: str):
        """A logged-in imapclient.IMAPClient over plain IMAP (for test setup)."""
        import imapclient

        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30)
        client.login(login, password)
        return client

    def append_messages(
        self,
        login: str,
        password: str,
        folder: str,
        raws: Sequence[bytes],
        flags: Iterable[str] = (),
        chunk: int = 500,
        when: datetime | None = None,
    ) -> None:
        """Append messages quickly with MULTIAPPEND (one command per ``chunk`` messages)."""
        flags = tuple(flags)
        client = self.imap_client(login, password)
        try:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(raws), chunk):
                part = raws[start : start + chunk]
                msgs = [{"msg": raw, "flags": flags, "date": when} for raw in part]
                if when is None:
                    msgs = [{"msg": raw, "flags": flags} for raw in part]
                client.multiappend(folder, msgs)
        finally:
            _logout(client)

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [DOVEADM_BIN, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    def set_uidvalidity(self, login: str, folder: str, value: int | None = None) -> int:
        """Force a new UIDVALIDITY on a folder (as servers do after a rebuild); return it."""
        value = value or int(time.time()) + 1000 + int(uuid.uuid4().int % 100000)
        self.doveadm("mailbox", "update", "-u", login, "--uid-validity", str(value), folder)
        return value

    def recreate_folder(self, login: str, password: str, folder: str) -> None:
        """Delete and recreate a folder with its messages: new UIDVALIDITY, new UIDs."""
        client = self.imap_client(login, password)
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            client.unselect_folder()
            client.delete_folder(folder)
            client.create_folder(folder)
            msgs = [
                {"msg": data[u][b"BODY[]"], "flags": _plain_flags(data[u][b"FLAGS"])}
                for u in sorted(data)
            ]
            if msgs:
                client.multiappend(folder, msgs)
        finally:
            _logout(client)

    def connection_count(self, login: str) -> int:
        """Logged-in IMAP and POP3 connections of ``login`` now (``doveadm who``)."""
        out = self.doveadm("who", "-1", login, check=False).stdout
        return sum(1 for line in out.splitlines()[1:] if line.split()[:1] == [login])

    def kick_user(self, login: str) -> None:
        """Disconnect every session of a user (a server-side dropped connection)."""
        self.doveadm("kick", login, check=False)

    # ---- sharing between processes ---------------------------------------------------------
    def info(self) -> dict:
        return {
            "host": self.host,
            "base_dir": str(self.base_dir),
            "config_path": str(self.config_path),
            "cert_path": str(self.cert_path),
            "log_path": str(self.log_path),
            "instance_name": self.instance_name,
            "imap_port": self.imap_port,
            "imaps_port": self.imaps_port,
            "pop3_port": self.pop3_port,
            "pop3s_port": self.pop3s_port,
            "pid": self._master_pid(),
        }

    @classmethod
    def attach(cls, info: dict) -> DovecotServer:
        """Use a Dovecot already started elsewhere (e.g. by scripts/services.py)."""
        server = cls(info["base_dir"])
        server._owns_dir = False
        server.managed = False
        server.instance_name = info.get("instance_name", server.instance_name)
        for key in ("imap_port", "imaps_port", "pop3_port", "pop3s_port"):
            setattr(server, key, int(info[key]))
        server._running = server.is_running()
        return server


def _plain_flags(flags: Iterable) -> tuple[str, ...]:
    out = []
    for flag in flags:
        text = flag.decode() if isinstance(flag, bytes) else str(flag)
        if text != "\\Recent":
            out.append(text)
    return tuple(out)


def _logout(client) -> None:
    with contextlib.suppress(Exception):
        client.logout()


def client_ssl_context(server: DovecotServer) -> ssl.SSLContext:
    """An SSL context that trusts the server's self-signed certificate."""
    return ssl.create_default_context(cafile=str(server.cert_path))


def _attach_running(info: dict) -> DovecotServer | None:
    server = DovecotServer.attach(info)
    return server if server.is_running() else None


def _start_own() -> DovecotServer:
    server = DovecotServer().start()
    atexit.register(server.cleanup)
    return server


_SHARED: SharedServer[DovecotServer] = SharedServer("dovecot", _attach_running)


def ensure_dovecot() -> DovecotServer:
    """Process-wide Dovecot: reuse the one in ``$CMC_SERVICES_FILE`` or start our own."""
    return _SHARED.get(_start_own)


class OAuthDovecotServer(DovecotServer):
    """A second, separate Dovecot (IMAP only) that also signs in with OAuth 2 tokens.

    XOAUTH2 and OAUTHBEARER go to an oauth2 passdb that asks ``introspection_url`` (e.g. a
    crm_mail_channel_testing.oauth_provider.OAuthProvider) whether the token is live and for
    which account; PLAIN/LOGIN still use the passwd-file, so tests fill mailboxes as usual and
    a password is never taken as a token. The default instance above is unchanged.
    """

    def __init__(self, introspection_url: str, base_dir: str | os.PathLike | None = None) -> None:
        super().__init__(base_dir)
        self.introspection_url = introspection_url

    @property
    def oauth2_conf_path(self) -> Path:
        return self.base_dir / "dovecot-oauth2.conf.ext"

    def _write_config(self) -> None:
        super()._write_config()
        self.oauth2_conf_path.write_text(
            f"""introspection_mode = post
introspection_url = {self.introspection_url}
username_attribute = email
active_attribute = active
active_value = true
force_introspection = yes
"""
        )
        os.chmod(self.oauth2_conf_path, 0o644)
        conf = self.config_path.read_text()
        conf = conf.replace(
            "auth_mechanisms = plain login",
            # Refusals are the point of these tests: no growing delay after each one.
            "auth_mechanisms = plain login xoauth2 oauthbearer\nauth_failure_delay = 0",
        )
        conf = conf.replace(
            "passdb {\n  driver = passwd-file\n",
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.oauth2_conf_path}\n}}\n"
            "passdb {\n  driver = passwd-file\n  mechanisms = plain login\n",
        )
        self.config_path.write_text(conf)


def start_oauth_dovecot(introspection_url: str) -> OAuthDovecotServer:
    """A private OAuth-enabled Dovecot for this process, stopped at exit."""
    server = OAuthDovecotServer(introspection_url).start()
    atexit.register(server.cleanup)
    return server
