"""Push: IMAP IDLE watchers (RFC 2177) that wake a mailbox's sync when its server signals mail.

One asyncio task per watched mailbox holds one IMAP connection in IDLE on INBOX; on an
EXISTS, EXPUNGE or FETCH notification it asks the backend to sync that mailbox (the backend
marks it and wakes the Odoo cron: the sync itself always runs in an Odoo worker, under the
mailbox's row lock). No thread and no database connection per mailbox: every backend call
runs in one worker thread, one call at a time.

- Each (re)connection also asks for one sync: mail that arrived while the mailbox was not
  watched is signalled by nothing.
- IDLE is re-issued every ``reidle_seconds`` (20 min: servers may drop an IDLE after 29 min).
- A dropped connection reconnects with exponential backoff; a throttling answer
  (``[THROTTLED]``, ``[UNAVAILABLE]``, "Too many simultaneous connections") backs off longer
  and is reported as ``throttled`` with the server's words, not as a failure.
- POP3 and IDLE-less servers are not watched: ``polling`` (the cron polls them). STARTTLS
  servers are watched: the plain connection is upgraded before the login.
- Each IDLE connection takes a slot of its account's connection budget first
  (``connection_budget``, through the backend's ``take_slot``/``release_slot``): with none
  free, the watcher reports ``waiting`` and tries again every ``slot_wait_seconds``.
- Every ``refresh_seconds`` (10 s) the backend renews this service's leases and says which mailboxes
  it watches (``{mailbox_id: version}``): new ones start, gone ones stop, a changed version
  (new settings) restarts the watcher. Settings, and OAuth tokens, are asked for at every
  (re)connection.

The Odoo side is ``crm_mail_channel/cli/crm_mail_push.py`` (the ``crm_mail_push`` command).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import aioimaplib

from .errors import (
    AuthenticationFailed,
    ConnectionTimedOut,
    MailChannelError,
    ServerError,
    Throttled,
    throttle_reason,
    throttled,
)
from .mailbox_client import MailboxSettings, map_error

__all__ = [
    "PushBackend",
    "PushConfig",
    "PushService",
    "Watcher",
    "notification_kinds",
]

_logger = logging.getLogger(__name__)

# What a watcher reports about its mailbox (stored on the lease row by the backend).
WATCHING = "watching"  # in IDLE
CONNECTING = "connecting"
BACKOFF = "backoff"  # connection failed or dropped: retrying later
THROTTLED = "throttled"  # the server asked to slow down: retrying much later
POLLING = "polling"  # no push possible (POP3, no IDLE): the cron polls it
WAITING = "waiting"  # every connection of the account's budget is in use: retrying later
STOPPED = "stopped"

PUSH_EVENTS = frozenset({b"EXISTS", b"EXPUNGE", b"FETCH"})


@dataclass
class PushConfig:
    reidle_seconds: float = 20 * 60
    # Leases: renewed every refresh; a dead service's mailboxes move after lease + refresh.
    refresh_seconds: float = 10.0
    lease_seconds: float = 30.0
    # While signals were sent in the last minute, ask every this often whether a signalled
    # mailbox still waits for its sync, and wake the cron again if so (a cron run that was
    # already going may consume the wake-up without syncing it).
    retrigger_seconds: float = 1.0
    retrigger_window: float = 60.0
    # Status changes go to the backend at most this often.
    report_seconds: float = 1.0
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    throttle_initial: float = 120.0
    throttle_max: float = 30 * 60.0
    # No free slot in the account's connection budget: look again after this (with jitter).
    slot_wait_seconds: float = 30.0
    timeout: float = 30.0
    # Notifications arriving within this delay go to the backend as one call.
    notify_delay: float = 0.05
    # TCP keepalive on IDLE sockets: a silently dead peer is noticed in about 2 minutes.
    keepalive_idle: int = 60
    keepalive_interval: int = 15
    keepalive_count: int = 4


class PushBackend(Protocol):
    """What the service asks of its database side. Blocking calls, run in one thread."""

    def refresh(self) -> Mapping[int, str]:
        """Renew this service's leases; ``{mailbox_id: version}`` of the mailboxes it watches."""

    def settings(self, mailbox_id: int) -> MailboxSettings | None:
        """Fresh connection settings (a live OAuth token), or None: not to be watched."""

    def notify(self, mailbox_ids: Sequence[int]) -> None:
        """These mailboxes have new or changed mail: sync them soon."""

    def retrigger(self) -> None:
        """Wake the sync again if a signalled mailbox still waits for its sync."""

    def report(self, statuses: Mapping[int, tuple[str, str | None]]) -> None:
        """Push status (and reason) of watched mailboxes that changed since the last call."""

    def release(self) -> None:
        """The service stops: give its mailboxes back."""

    # Optional (a backend without them sets no connection budget):
    # take_slot(mailbox_id) -> bool: take a slot of the mailbox's account budget for its IDLE
    #     connection, held until release_slot(mailbox_id) (or until the service dies).


class Unsupported(Exception):
    """This mailbox cannot be watched by push; the cron polls it. The message says why in a
    few words ("server has no IDLE"): the mailbox form shows "Polling: <why>"."""


class NoFreeConnection(Exception):
    """Every connection of the mailbox's account budget is in use: wait for one."""


def notification_kinds(lines: Sequence[bytes]) -> set[str]:
    """The kinds of untagged IDLE responses in ``lines`` (``b'4 EXISTS'`` -> 'EXISTS')."""
    kinds = set()
    for line in lines:
        parts = bytes(line).split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].upper() in PUSH_EVENTS:
            kinds.add(parts[1].upper().decode())
    return kinds


def _backoff(current: float, initial: float, maximum: float) -> float:
    """Next delay: doubled, capped, with up to 20 % jitter so mailboxes do not retry together."""
    delay = min(max(current * 2, initial), maximum)
    return delay * (0.8 + 0.2 * random.random())


class Watcher:
    """Keeps one mailbox in IDLE until cancelled."""

    def __init__(self, mailbox_id: int, service: PushService) -> None:
        self.mailbox_id = mailbox_id
        self.service = service
        self.config = service.config
        self.status = CONNECTING
        self.note: str | None = None
        self.connects = 0  # successful logins
        self.idles = 0  # IDLE commands issued
        self.wakeups = 0  # IDLE notifications passed on
        self.client_transport = None
        self._delay = 0.0
        self._throttle_delay = 0.0

    def _set(self, status: str, note: str | None = None) -> None:
        if (status, note) != (self.status, self.note):
            self.status, self.note = status, note
            self.service.status_changed(self)

    async def run(self) -> None:
        while True:
            try:
                settings = await self.service.settings(self.mailbox_id)
                if settings is None:
                    # No usable settings now (no password, sign-in refused or its provider
                    # unreachable): the sync says why on the mailbox; look again later.
                    self._set(STOPPED)
                    await asyncio.sleep(self.config.backoff_max)
                    continue
                await self._watch(settings)
            except asyncio.CancelledError:
                raise
            except Unsupported as exc:
                self._set(POLLING, str(exc))
                return
            except NoFreeConnection:
                self._set(WAITING)
                delay = self.config.slot_wait_seconds
                await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
                continue
            except Throttled as exc:
                self._throttle_delay = _backoff(
                    self._throttle_delay, self.config.throttle_initial, self.config.throttle_max
                )
                self._set(THROTTLED, exc.user_message)
                _logger.info("Mailbox %s throttled: %s", self.mailbox_id, exc.detail)
                await asyncio.sleep(self._throttle_delay)
                continue
            except Exception as exc:  # every failure of one mailbox ends in a retry
                error = exc if isinstance(exc, MailChannelError) else ServerError(detail=repr(exc))
                self._delay = _backoff(
                    self._delay, self.config.backoff_initial, self.config.backoff_max
                )
                if isinstance(error, AuthenticationFailed):
                    # Never hammer a login the server refuses (accounts get locked); the
                    # sync reports it and the mailbox then leaves the watched ones.
                    self._delay = self.config.backoff_max
                self._set(BACKOFF, error.user_message)
                _logger.info(
                    "Push of mailbox %s: %s; retrying in %.0f s",
                    self.mailbox_id,
                    error.detail or error.user_message,
                    self._delay,
                )
                await asyncio.sleep(self._delay)

    async def _watch(self, settings: MailboxSettings) -> None:
        if settings.protocol != "imap":
            raise Unsupported("POP3 has no push")
        if not await self.service.take_slot(self.mailbox_id):
            raise NoFreeConnection()
        try:
            await self._watch_connected(settings)
        finally:
            await self.service.release_slot(self.mailbox_id)

    async def _watch_connected(self, settings: MailboxSettings) -> None:
        lost = asyncio.Event()
        ctx = _ssl_context(settings) if settings.security == "ssl" else None
        client = aioimaplib.IMAP4(
            settings.host,
            settings.port,
            timeout=settings.timeout or self.config.timeout,
            conn_lost_cb=lambda _exc: lost.set(),
            ssl_context=ctx,
        )
        self._set(CONNECTING, self.note)
        try:
            await self._login(client, settings)
            self._keepalive(client)
            self.connects += 1
            self.client_transport = client.protocol.transport  # TLS or not, for tests
            self._delay = self._throttle_delay = 0.0
            self._set(WATCHING)
            # Mail that came while nobody watched (service down, connection lost, lease taken
            # over) is signalled by nothing: sync once now that the watch has started.
            self.service.wake(self.mailbox_id)
            while True:
                await self._idle_once(client, lost)
        finally:
            _close(client)

    async def _login(self, client: aioimaplib.IMAP4, settings: MailboxSettings) -> None:
        try:
            await client.wait_hello_from_server()
            if settings.security == "starttls":
                await _starttls(client, settings)
            if settings.oauth2_token:
                response = await client.xoauth2(settings.login, settings.oauth2_token)
            else:
                response = await client.login(settings.login, settings.password)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise ConnectionTimedOut(detail="login") from exc
        except (OSError, ssl.SSLError) as exc:
            raise map_error(exc, settings) from exc
        if response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines).decode("utf-8", "replace")
            if throttle_reason(text):
                raise throttled(text)
            raise AuthenticationFailed(detail=text)
        await asyncio.wait_for(client.protocol.capability(), settings.timeout)
        if not client.has_capability("IDLE"):
            raise Unsupported("server has no IDLE")
        response = await client.select("INBOX")
        if response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines).decode("utf-8", "replace")
            raise throttled(text) if throttle_reason(text) else ServerError(detail=text)

    def _keepalive(self, client: aioimaplib.IMAP4) -> None:
        transport = client.protocol.transport
        sock = transport.get_extra_info("socket") if transport else None
        if sock is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, self.config.keepalive_idle)
            sock.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, self.config.keepalive_interval
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, self.config.keepalive_count)

    async def _idle_once(self, client: aioimaplib.IMAP4, lost: asyncio.Event) -> None:
        """One IDLE command: wait for notifications until re-IDLE time, then DONE."""
        if lost.is_set():
            raise ServerError(detail="connection closed by the server")
        try:
            idle = await asyncio.wait_for(
                client.idle_start(timeout=self.config.reidle_seconds), self.config.timeout
            )
        except asyncio.TimeoutError as exc:
            raise ConnectionTimedOut(detail="no answer to IDLE") from exc
        self.idles += 1
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            while client.has_pending_idle():
                push = asyncio.ensure_future(client.protocol.idle_queue.get())
                done, _pending = await asyncio.wait(
                    {push, lost_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                if push not in done:
                    push.cancel()
                    raise ServerError(detail="connection closed by the server during IDLE")
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # time to re-issue IDLE
                if any(bytes(line).upper().startswith(b"BYE") for line in lines):
                    text = b" ".join(bytes(line) for line in lines).decode("utf-8", "replace")
                    raise throttled(text) if throttle_reason(text) else ServerError(detail=text)
                if notification_kinds(lines):
                    self.wakeups += 1
                    self.service.wake(self.mailbox_id)
            if client.has_pending_idle():
                client.idle_done()
            try:
                await asyncio.wait_for(asyncio.shield(idle), self.config.timeout)
            except asyncio.TimeoutError as exc:
                raise ConnectionTimedOut(detail="no answer to IDLE DONE") from exc
            if idle.result().result != "OK":
                raise ServerError(detail=f"IDLE ended with {idle.result()}")
        finally:
            lost_wait.cancel()
            if not idle.done():
                idle.cancel()


_SSL_CONTEXTS: dict[tuple[bool, str | None], ssl.SSLContext] = {}


async def _starttls(client: aioimaplib.IMAP4, settings: MailboxSettings) -> None:
    """Upgrade the plain connection to TLS (RFC 3501 STARTTLS) before logging in.

    aioimaplib knows the command but not the upgrade: asyncio's ``start_tls`` wraps the
    protocol's transport, and the protocol writes through the new one from then on."""
    protocol = client.protocol
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), settings.timeout)
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines).decode("utf-8", "replace")
        raise ServerError(detail=f"STARTTLS refused: {text}")
    loop = asyncio.get_running_loop()
    protocol.transport = await asyncio.wait_for(
        loop.start_tls(
            protocol.transport, protocol, _ssl_context(settings), server_hostname=settings.host
        ),
        settings.timeout,
    )


def _ssl_context(settings: MailboxSettings) -> ssl.SSLContext:
    """One SSL context per kind of check, shared by every watcher (loading the trust store
    for each of hundreds of connections would cost memory and time)."""
    key = (settings.ssl_verify, settings.ca_file)
    if key not in _SSL_CONTEXTS:
        _SSL_CONTEXTS[key] = settings.ssl_context()
    return _SSL_CONTEXTS[key]


def _close(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        if client.protocol.transport is not None:
            client.protocol.transport.close()
    with contextlib.suppress(Exception):
        client._client_task.cancel()


class PushService:
    """Runs the watchers of the mailboxes this service holds leases for."""

    def __init__(self, backend: PushBackend, config: PushConfig | None = None) -> None:
        self.backend = backend
        self.config = config or PushConfig()
        self.watchers: dict[int, Watcher] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._versions: dict[int, str] = {}
        self._pending: set[int] = set()
        self._changed: dict[int, tuple[str, str | None]] = {}
        self._wake_event: asyncio.Event | None = None
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-push-db")
        self._apart = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-push-settings")
        self.notified: list[int] = []  # every mailbox id passed to notify(), for tests
        self.on_notify: Callable[[Sequence[int]], None] | None = None
        self._last_notify = 0.0

    # ---- database side, one call at a time ----------------------------------------------------
    async def call(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self._db, func, *args)

    async def settings(self, mailbox_id: int) -> MailboxSettings | None:
        """A backend whose settings need no database connection of its own (they come from
        another process) answers in a thread of their own: notifications never wait for them."""
        if getattr(self.backend, "settings_apart", False):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._apart, self.backend.settings, mailbox_id)
        return await self.call(self.backend.settings, mailbox_id)

    # ---- connection budget (optional backend methods) ------------------------------------------
    async def take_slot(self, mailbox_id: int) -> bool:
        take = getattr(self.backend, "take_slot", None)
        return True if take is None else bool(await self.call(take, mailbox_id))

    async def release_slot(self, mailbox_id: int) -> None:
        release = getattr(self.backend, "release_slot", None)
        if release is None:
            return
        try:
            # Shielded: a watcher being cancelled still gives its slot back.
            await asyncio.shield(self.call(release, mailbox_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            _logger.exception("Push: could not give back the connection of %s", mailbox_id)

    # ---- from watchers --------------------------------------------------------------------------
    def wake(self, mailbox_id: int) -> None:
        self._pending.add(mailbox_id)
        if self._wake_event is not None:
            self._wake_event.set()

    def status_changed(self, watcher: Watcher) -> None:
        self._changed[watcher.mailbox_id] = (watcher.status, watcher.note)

    # ---- loops ------------------------------------------------------------------------------
    async def _notifier(self) -> None:
        while True:
            await self._wake_event.wait()
            await asyncio.sleep(self.config.notify_delay)
            self._wake_event.clear()
            batch, self._pending = sorted(self._pending), set()
            if not batch:
                continue
            try:
                await self.call(self.backend.notify, batch)
            except Exception:
                _logger.exception("Push: could not trigger the sync of %s; retrying", batch)
                self._pending.update(batch)
                await asyncio.sleep(1)
                self._wake_event.set()
                continue
            self.notified.extend(batch)
            self._last_notify = asyncio.get_running_loop().time()
            if self.on_notify is not None:
                self.on_notify(batch)

    async def _retriggerer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.retrigger_seconds)
            if loop.time() - self._last_notify > self.config.retrigger_window:
                continue
            try:
                await self.call(self.backend.retrigger)
            except Exception:
                _logger.exception("Push: could not wake the sync again")

    async def _reporter(self) -> None:
        while True:
            await asyncio.sleep(self.config.report_seconds)
            try:
                await self._report()
            except Exception:
                _logger.exception("Push: could not record the push status")

    async def _report(self) -> None:
        if not self._changed:
            return
        changed, self._changed = self._changed, {}
        try:
            await self.call(self.backend.report, changed)
        except Exception:
            changed.update(self._changed)
            self._changed = changed
            raise

    async def refresh_once(self) -> None:
        leased = dict(await self.call(self.backend.refresh))
        self._refreshed_at = asyncio.get_running_loop().time()
        for mailbox_id in list(self._tasks):
            if leased.get(mailbox_id) != self._versions.get(mailbox_id):
                await self._stop(mailbox_id)
        for mailbox_id, version in leased.items():
            if mailbox_id not in self._tasks:
                self._start(mailbox_id, version)
        await self._report()

    def _start(self, mailbox_id: int, version: str) -> None:
        watcher = Watcher(mailbox_id, self)
        self.watchers[mailbox_id] = watcher
        self._versions[mailbox_id] = version
        self._tasks[mailbox_id] = asyncio.ensure_future(watcher.run())
        self.status_changed(watcher)

    async def _stop(self, mailbox_id: int) -> None:
        task = self._tasks.pop(mailbox_id)
        self.watchers.pop(mailbox_id, None)
        self._versions.pop(mailbox_id, None)
        self._changed.pop(mailbox_id, None)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        # A watcher cancelled while taking its slot may not have given it back.
        await self.release_slot(mailbox_id)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set (or the task is cancelled); then release the leases."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        self._last_notify = -self.config.retrigger_window
        self._refreshed_at = loop.time()
        helpers = [
            asyncio.ensure_future(loop())
            for loop in (self._notifier, self._retriggerer, self._reporter)
        ]
        try:
            while not stop.is_set():
                try:
                    await self.refresh_once()
                except Exception:
                    _logger.exception("Push: refresh failed; watchers keep running")
                    if loop.time() - self._refreshed_at > self.config.lease_seconds:
                        # Our leases have expired: another service may watch these mailboxes
                        # now. Stop until a refresh says which are ours again.
                        for mailbox_id in list(self._tasks):
                            await self._stop(mailbox_id)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.refresh_seconds)
        finally:
            for helper in helpers:
                helper.cancel()
            for mailbox_id in list(self._tasks):
                await self._stop(mailbox_id)
            with contextlib.suppress(Exception):
                await self.call(self.backend.release)
            self._db.shutdown(wait=False)
            self._apart.shutdown(wait=False)
