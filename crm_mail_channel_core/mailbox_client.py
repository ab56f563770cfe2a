"""IMAP and POP3 sessions with error mapping to plain-words MailChannelError subclasses."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import poplib
import socket
import ssl
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SENT

from .errors import (
    AppPasswordRequired,
    AuthenticationFailed,
    ConnectionTimedOut,
    HostUnreachable,
    MailChannelError,
    ServerError,
    TlsError,
    throttle_reason,
    throttled,
)

if TYPE_CHECKING:  # typing.Self exists from Python 3.11; Odoo 18 also runs on 3.10
    from typing import Self

__all__ = [
    "FetchedMessage",
    "FolderRef",
    "FolderStatus",
    "ImapSession",
    "MailboxSettings",
    "Pop3Session",
    "map_error",
    "open_session",
    "test_connection",
]

FETCH_BATCH = 200
_IMAPLIB_LOGGER = logging.getLogger("imapclient.imaplib")
# imapclient sets imaplib's debug level to 5 on every connection (routed to the logger above),
# so imaplib formats the repr() of every response, whole message bodies included, even when
# nothing is logged: fetching takes about three times the CPU (bench/bench_protocol.py).
# True turns that level off during fetches unless the logger wants debug output; imapclient
# has no switch for it, so this reaches its ``_imap`` attribute. False keeps imapclient's
# behaviour, the reference tests/test_imap_client.py compares with.
QUIET_IMAPLIB = True


@dataclass
class MailboxSettings:
    protocol: str  # 'imap' | 'pop3'
    host: str
    port: int
    security: str  # 'ssl' | 'starttls' | 'none'
    login: str
    password: str
    timeout: float = 30
    ssl_verify: bool = True
    ca_file: str | None = None  # extra trust anchor (e.g. a test server's self-signed cert)
    # OAuth access token: IMAP then logs in with XOAUTH2 instead of the password.
    oauth2_token: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not self.ssl_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


@dataclass(frozen=True)
class FolderRef:
    name: str
    role: str  # 'inbox' | 'sent'


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None
    exists: int


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    flags: tuple[str, ...]
    size: int
    raw: bytes | None  # None when size > max_size (not downloaded)


# ---- error mapping ---------------------------------------------------------------------------
def _provider(host: str) -> str | None:
    host = (host or "").lower()
    if host.endswith(("gmail.com", "googlemail.com", "google.com")):
        return "google"
    if host.endswith(("office365.com", "outlook.com", "hotmail.com", "live.com")):
        return "microsoft"
    if host.endswith(("yahoo.com", "ymail.com")):
        return "yahoo"
    if host.endswith(("me.com", "icloud.com")):
        return "apple"
    if "zoho" in host:
        return "zoho"
    return None


def _auth_error(settings: MailboxSettings, text: str) -> MailChannelError:
    lowered = text.lower()
    provider = _provider(settings.host)
    if (
        "application-specific password" in lowered
        or "app password" in lowered
        or (provider == "google" and "web login required" in lowered)
    ):
        return AppPasswordRequired(
            "Google refuses your normal password here. Turn on 2-Step Verification, create an "
            "app password (Google Account > Security > App passwords) and enter it instead."
            if provider == "google"
            else None,
            detail=text,
        )
    if provider == "microsoft" and (
        "basicauthblocked" in lowered
        or "authenticate failed" in lowered
        or "login failed" in lowered
        or "logondenied" in lowered
    ):
        return AppPasswordRequired(
            "Microsoft has turned off password sign-in for mail programs (basic "
            "authentication) on this account, so the login was refused. An OAuth sign-in is "
            "needed; ask your Microsoft 365 administrator.",
            detail=text,
            code="oauth_required",
        )
    if provider in ("yahoo", "apple", "zoho"):
        names = {"yahoo": "Yahoo", "apple": "Apple (iCloud)", "zoho": "Zoho"}
        return AuthenticationFailed(
            f"{names[provider]} rejected the login. Check the address and use an app password "
            "(your normal password is not accepted by mail programs).",
            detail=text,
        )
    return AuthenticationFailed(detail=text)


def map_error(exc: BaseException, settings: MailboxSettings) -> MailChannelError:
    """Translate a low-level exception into a MailChannelError with a plain-words message."""
    if isinstance(exc, MailChannelError):
        return exc
    detail = f"{type(exc).__name__}: {exc}"
    if throttle_reason(str(exc)):
        # Before the login mapping: a throttled login is no wrong password.
        return throttled(str(exc))
    if isinstance(exc, LoginError):
        return _auth_error(settings, str(exc))
    if isinstance(exc, poplib.error_proto) and any(
        word in str(exc).lower() for word in ("auth", "password", "login", "user")
    ):
        return _auth_error(settings, str(exc))
    if isinstance(exc, (ssl.SSLCertVerificationError, ssl.CertificateError)):
        return TlsError(
            "The mail server's certificate could not be verified (it may be self-signed or "
            "issued for another name). Check the server name, or turn off certificate checks "
            "only if you trust this server.",
            detail=detail,
        )
    if isinstance(exc, ssl.SSLError):
        return TlsError(detail=detail)
    if isinstance(exc, socket.gaierror):
        return HostUnreachable(
            f"The server name '{settings.host}' could not be found. Check it for typos.",
            detail=detail,
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ConnectionTimedOut(detail=detail)
    if isinstance(exc, ConnectionRefusedError):
        return HostUnreachable(
            f"Nothing answers on {settings.host} port {settings.port}. Check the port and the "
            "security setting.",
            detail=detail,
        )
    if isinstance(exc, (ConnectionError, EOFError, imaplib.IMAP4.abort, BrokenPipeError)):
        return ServerError(detail=detail)
    if isinstance(exc, OSError) and exc.errno in (101, 113):  # network/host unreachable
        return HostUnreachable(detail=detail)
    if isinstance(exc, (IMAPClientError, imaplib.IMAP4.error, poplib.error_proto, OSError)):
        return ServerError(detail=detail)
    return ServerError(detail=detail)


@contextmanager
def _mapped(settings: MailboxSettings) -> Iterator[None]:
    try:
        yield
    except MailChannelError:
        raise
    except Exception as exc:
        raise map_error(exc, settings) from exc


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# ---- what both sessions share ----------------------------------------------------------------
class _Session:
    """``with`` support and a close that never raises, for ImapSession and Pop3Session.

    A subclass sets ``client`` in ``connect()`` and says how a client ends: ``_goodbye`` (the
    protocol's polite logout) and ``_drop`` (just closing the socket, when that fails).
    """

    settings: MailboxSettings
    client: Any

    def connect(self) -> Self:
        raise NotImplementedError

    @staticmethod
    def _goodbye(client) -> None:
        raise NotImplementedError

    @staticmethod
    def _drop(client) -> None:
        raise NotImplementedError

    @contextmanager
    def _dropped_on_error(self, client) -> Iterator[None]:
        """Drop ``client`` and re-raise when the login steps in the block fail."""
        try:
            yield
        except Exception:
            _quiet(lambda: self._drop(client))
            raise

    def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                self._goodbye(client)
            except Exception:
                _quiet(lambda: self._drop(client))

    def __enter__(self) -> Self:
        if self.client is None:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _xoauth2(login: str, token: str):
    """SASL XOAUTH2 answers: the token first, then an empty reply to the server's JSON error
    challenge, which ends a refused exchange with NO."""
    sent = []

    def answer(_challenge):
        if sent:
            return ""
        sent.append(True)
        return f"user={login}\1auth=Bearer {token}\1\1"

    return answer


# ---- IMAP ------------------------------------------------------------------------------------
class ImapSession(_Session):
    """A logged-in IMAP connection (imapclient). Use as a context manager."""

    protocol = "imap"

    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None
        self._selected: tuple[str, bool] | None = None
        self.capabilities: tuple[str, ...] = ()
        self._condstore_enabled = False

    # connection
    def connect(self) -> ImapSession:
        settings = self.settings
        with _mapped(settings):
            client = imapclient.IMAPClient(
                settings.host,
                port=settings.port,
                ssl=settings.security == "ssl",
                # Loading the trust store takes ~50 ms: only when TLS starts right away.
                ssl_context=settings.ssl_context() if settings.security == "ssl" else None,
                timeout=settings.timeout,
            )
            with self._dropped_on_error(client):
                if settings.security == "starttls":
                    client.starttls(settings.ssl_context())
                if settings.oauth2_token:
                    try:
                        # Not imapclient's oauth2_login(): it answers the server's error
                        # challenge with the token again, and the server then waits forever.
                        client._command_and_check(
                            "authenticate",
                            "XOAUTH2",
                            _xoauth2(settings.login, settings.oauth2_token),
                        )
                    except (IMAPClientError, imaplib.IMAP4.error) as exc:
                        if throttle_reason(str(exc)):
                            raise throttled(str(exc)) from exc
                        # Not the provider's password advice: the token itself was refused.
                        raise AuthenticationFailed(
                            "The mail server refused the sign-in token. Connect the mailbox "
                            "with your provider again.",
                            detail=str(exc),
                        ) from exc
                else:
                    client.login(settings.login, settings.password)
                self.capabilities = tuple(_text(c).upper() for c in client.capabilities())
                if self.has_condstore:
                    # ENABLE must happen before any SELECT (RFC 7162).
                    try:
                        client.enable("CONDSTORE")
                        self._condstore_enabled = True
                    except Exception:
                        self._condstore_enabled = False
            self.client = client
        return self

    @staticmethod
    def _goodbye(client: imapclient.IMAPClient) -> None:
        client.logout()

    @staticmethod
    def _drop(client: imapclient.IMAPClient) -> None:
        client.shutdown()

    @property
    def has_condstore(self) -> bool:
        return "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities

    def _select(self, name: str, readonly: bool = True) -> dict:
        if self._selected == (name, readonly):
            return {}
        info = self.client.select_folder(name, readonly=readonly)
        self._selected = (name, readonly)
        return info

    # folders
    def list_folders(self) -> list[tuple[tuple[str, ...], str]]:
        with _mapped(self.settings):
            return [
                (tuple(_text(f) for f in flags), name)
                for flags, _delim, name in self.client.list_folders()
            ]

    def list_sync_folders(self) -> list[FolderRef]:
        """INBOX and the Sent folder (SPECIAL-USE \\Sent first, then well-known names)."""
        with _mapped(self.settings):
            sent = self.client.find_special_folder(SENT)
        refs = [FolderRef("INBOX", "inbox")]
        if sent is not None:
            refs.append(FolderRef(sent, "sent"))
        return refs

    def folder_status(self, name: str) -> FolderStatus:
        with _mapped(self.settings):
            items = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
            if self.has_condstore:
                items.append("HIGHESTMODSEQ")
            status = self.client.folder_status(name, items)
            modseq = status.get(b"HIGHESTMODSEQ")
            return FolderStatus(
                uidvalidity=int(status[b"UIDVALIDITY"]),
                uidnext=int(status[b"UIDNEXT"]),
                highestmodseq=int(modseq) if modseq is not None else None,
                exists=int(status[b"MESSAGES"]),
            )

    # messages
    def search_uids(
        self, name: str, since: date | None = None, min_uid: int = 1, max_uid: int | None = None
    ) -> list[int]:
        """UIDs of the folder from ``min_uid`` (to ``max_uid``), received since ``since``."""
        if max_uid is not None and max_uid < max(min_uid, 1):
            return []
        with _mapped(self.settings):
            self._select(name)
            criteria: list = []
            if max_uid is not None:
                criteria += ["UID", f"{max(min_uid, 1)}:{max_uid}"]
            elif min_uid > 1:
                criteria += ["UID", f"{min_uid}:*"]
            if since is not None:
                criteria += ["SINCE", since]
            uids = self.client.search(criteria or ["ALL"])
            # "N:*" always matches the last message even when its UID is below N.
            top = max_uid if max_uid is not None else float("inf")
            return sorted(int(u) for u in uids if min_uid <= int(u) <= top)

    def fetch_messages(
        self,
        name: str,
        uids: Sequence[int],
        max_size: int | None = None,
        batch_size: int = FETCH_BATCH,
    ) -> list[FetchedMessage]:
        """Fetch messages with BODY.PEEK[] (never sets \\Seen); oversize ones without body."""
        out: list[FetchedMessage] = []
        with _mapped(self.settings), self._imaplib_debug_off():
            self._select(name)
            uids = sorted({int(u) for u in uids})
            for start in range(0, len(uids), batch_size):
                chunk = uids[start : start + batch_size]
                meta = self.client.fetch(chunk, ["FLAGS", "RFC822.SIZE"])
                small = [
                    uid
                    for uid in chunk
                    if uid in meta and (max_size is None or meta[uid][b"RFC822.SIZE"] <= max_size)
                ]
                bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
                for uid in chunk:
                    if uid not in meta:
                        continue  # expunged meanwhile
                    raw = bodies.get(uid, {}).get(b"BODY[]")
                    out.append(
                        FetchedMessage(
                            uid=uid,
                            flags=_flags(meta[uid].get(b"FLAGS", ())),
                            size=int(meta[uid].get(b"RFC822.SIZE", 0)),
                            raw=bytes(raw) if raw is not None else None,
                        )
                    )
        return out

    @contextmanager
    def _imaplib_debug_off(self) -> Iterator[None]:
        """Quiet imaplib while fetching (see QUIET_IMAPLIB)."""
        imap = self.client._imap
        level = imap.debug
        if not QUIET_IMAPLIB or not level or _IMAPLIB_LOGGER.isEnabledFor(logging.DEBUG):
            yield
            return
        imap.debug = 0
        try:
            yield
        finally:
            imap.debug = level

    def fetch_flags(
        self, name: str, uids: Sequence[int] | None = None, changedsince: int | None = None
    ) -> dict[int, tuple[str, ...]]:
        with _mapped(self.settings), self._imaplib_debug_off():
            self._select(name)
            if uids is None:
                target = [int(u) for u in self.client.search(["ALL"])]
            else:
                target = sorted({int(u) for u in uids})
            if not target:
                return {}
            modifiers = None
            if changedsince is not None and self._condstore_enabled:
                modifiers = [f"CHANGEDSINCE {int(changedsince)}"]
            data = self.client.fetch(target, ["FLAGS"], modifiers=modifiers)
            return {int(uid): _flags(item.get(b"FLAGS", ())) for uid, item in data.items()}

    def set_seen(self, name: str, uids: Iterable[int], seen: bool) -> None:
        uids = sorted({int(u) for u in uids})
        if not uids:
            return
        with _mapped(self.settings):
            self._select(name, readonly=False)
            if seen:
                self.client.add_flags(uids, [imapclient.SEEN], silent=True)
            else:
                self.client.remove_flags(uids, [imapclient.SEEN], silent=True)

    def append(
        self, name: str, raw: bytes, seen: bool = True, when: datetime | None = None
    ) -> int | None:
        """Append a message; return its UID when the server reports it (UIDPLUS)."""
        with _mapped(self.settings):
            flags = [imapclient.SEEN] if seen else []
            response = self.client.append(name, raw, flags=flags, msg_time=when)
            text = _text(response)
            # "[APPENDUID <uidvalidity> <uid>] Append completed."
            if "APPENDUID" in text.upper():
                try:
                    return int(text.upper().split("APPENDUID", 1)[1].split("]")[0].split()[1])
                except (IndexError, ValueError):
                    return None
            return None


def _flags(values: Iterable) -> tuple[str, ...]:
    return tuple(sorted(_text(f) for f in values if _text(f) != "\\Recent"))


def _quiet(func) -> None:
    with contextlib.suppress(Exception):
        func()


# ---- POP3 ------------------------------------------------------------------------------------
class Pop3Session(_Session):
    """A logged-in POP3 connection. Read-only: never deletes."""

    protocol = "pop3"

    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        self.client: poplib.POP3 | None = None

    def connect(self) -> Pop3Session:
        settings = self.settings
        with _mapped(settings):
            if settings.security == "ssl":
                client = poplib.POP3_SSL(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout,
                    context=settings.ssl_context(),
                )
            else:
                client = poplib.POP3(settings.host, settings.port, timeout=settings.timeout)
            with self._dropped_on_error(client):
                if settings.security == "starttls":
                    client.stls(context=settings.ssl_context())
                client.user(settings.login)
                client.pass_(settings.password)
            self.client = client
        return self

    @staticmethod
    def _goodbye(client: poplib.POP3) -> None:
        # QUIT only: without DELE commands nothing is removed from the server.
        client.quit()

    @staticmethod
    def _drop(client: poplib.POP3) -> None:
        client.close()

    def stat(self) -> tuple[int, int]:
        with _mapped(self.settings):
            return self.client.stat()

    def list_uidl(self) -> dict[str, int]:
        with _mapped(self.settings):
            _resp, lines, _octets = self.client.uidl()
            out = {}
            for line in lines:
                num, _, uidl = _text(line).partition(" ")
                out[uidl.strip()] = int(num)
            return out

    def list_sizes(self) -> dict[int, int]:
        with _mapped(self.settings):
            _resp, lines, _octets = self.client.list()
            return {int(a): int(b) for a, b in (_text(x).split()[:2] for x in lines)}

    def retrieve(self, msgnum: int) -> bytes:
        with _mapped(self.settings):
            _resp, lines, _octets = self.client.retr(msgnum)
            return b"\r\n".join(lines) + b"\r\n"

    def top(self, msgnum: int, lines: int = 0) -> bytes:
        with _mapped(self.settings):
            _resp, data, _octets = self.client.top(msgnum, lines)
            return b"\r\n".join(data) + b"\r\n"


# ---- entry points ----------------------------------------------------------------------------
def open_session(settings: MailboxSettings) -> ImapSession | Pop3Session:
    """Connect and log in; returns a session usable as a context manager."""
    if settings.protocol == "imap":
        return ImapSession(settings).connect()
    if settings.protocol == "pop3":
        return Pop3Session(settings).connect()
    raise ValueError(f"unknown protocol {settings.protocol!r}")


def test_connection(settings: MailboxSettings) -> dict:
    """Log in and describe the mailbox; raises MailChannelError subclasses on failure."""
    with open_session(settings) as session:
        if isinstance(session, ImapSession):
            folders = [name for _flags, name in session.list_folders()]
            sync = session.list_sync_folders()
            sent = next((f.name for f in sync if f.role == "sent"), None)
            inbox = session.folder_status("INBOX")
            return {
                "protocol": "imap",
                "capabilities": list(session.capabilities),
                "folders": folders,
                "sent_folder": sent,
                "message_count": inbox.exists,
                "condstore": session.has_condstore,
            }
        count, size = session.stat()
        return {
            "protocol": "pop3",
            "capabilities": [],
            "folders": ["INBOX"],
            "sent_folder": None,
            "message_count": count,
            "size": size,
        }


test_connection.__test__ = False  # not a pytest test when imported into a test module
