"""Storage-independent sync driver: IMAP (per folder, UID cursor) and POP3 (UIDL).

The driver talks to a store through one of two protocols, ``SyncStore`` (IMAP) and
``Pop3Store`` (POP3); every member a driver calls is named there, and messages travel as
the named items below. The Odoo side implements both in ``crm_mail_channel/sync_store/``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol, runtime_checkable

from .errors import MessageParseError
from .mailbox_client import FetchedMessage, ImapSession, Pop3Session
from .mime import ParsedMessage, parse_message

__all__ = [
    "Failure",
    "FolderReport",
    "FolderState",
    "ImapMessage",
    "Pop3Message",
    "Pop3Store",
    "SyncOptions",
    "SyncReport",
    "SyncStore",
    "import_uids",
    "run_imap_sync",
    "run_pop3_sync",
]


@dataclass
class FolderState:
    """The sync cursors of one folder, as the store keeps them.

    ``last_uid`` is the new-mail cursor: every UID above it is new. A first sync run newest
    first also has a backfill cursor: the UIDs below ``backfill_below`` received since
    ``backfill_since`` are still to import (0: no backfill, or it is done). The counters are
    what the user sees ("12,400 of 48,000").
    """

    name: str
    role: str  # 'inbox' | 'sent'
    uidvalidity: int | None
    last_uid: int = 0
    highest_modseq: int | None = None
    backfill_below: int = 0
    backfill_since: date | None = None
    backfill_total: int = 0
    backfill_done: int = 0


@dataclass
class SyncOptions:
    since: date | None = None  # window start for a first sync
    batch_size: int = 200
    max_message_size: int = 25 * 1024 * 1024
    max_seconds: float | None = None  # stop politely after this, leaving a backlog
    flag_fallback_window: int = 2000  # recent UIDs whose flags are re-read without CONDSTORE
    max_attachment_size: int | None = None  # larger attachments are dropped, not the message
    sync_flags: bool = True
    # Fetch the next batch in a background thread while the current one is parsed and
    # stored (socket reads release the GIL). The store is still only called from the
    # caller's thread.
    prefetch: bool = True
    # A first sync imports the window newest first (a backfill cursor going down while new
    # mail keeps arriving above last_uid); False imports it oldest first.
    newest_first: bool = True
    # False holds the backfill (paused by the user); new mail is still imported.
    backfill: bool = True


# ---- what the driver hands to a store ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImapMessage:
    """A fetched and parsed IMAP message; its raw bytes are already dropped."""

    uid: int
    flags: tuple[str, ...]
    parsed: ParsedMessage


@dataclass(frozen=True, slots=True)
class Pop3Message:
    """A retrieved and parsed POP3 message."""

    uidl: str
    size: int
    parsed: ParsedMessage


@dataclass(frozen=True, slots=True)
class Failure:
    """A message that cannot be imported: its IMAP UID or POP3 UIDL, and why in plain words.

    The store quarantines it; the cursor still moves over it.
    """

    key: int | str
    reason: str


# ---- the store protocols ----------------------------------------------------------------------
@runtime_checkable
class SyncStore(Protocol):
    """Everything ``run_imap_sync`` and ``import_uids`` call on a store.

    Folders are known by role ('inbox', 'sent'); ``name`` is the server's current name,
    which may change (a new Sent folder). A ``new_state`` is saved with the batch it
    belongs to, so a crash never leaves a cursor ahead of the stored mail.
    """

    def folder_state(self, role: str, name: str) -> FolderState | None:
        """The saved cursor of the folder with this role, or None before its first sync."""

    def uidvalidity_changed(self, folder: FolderState, new_uidvalidity: int) -> None:
        """The server renumbered the folder: forget its UIDs, keep the emails."""

    def known_uids(self, folder: FolderState) -> set[int]:
        """UIDs of the folder the store holds; their flags are re-read without CONDSTORE."""

    def apply_flags(
        self, folder: FolderState, flags: dict[int, tuple[str, ...]], new_state: FolderState
    ) -> None:
        """Server flags of already-stored messages by UID, and the cursor after reading them."""

    def store_batch(
        self,
        folder: FolderState,
        messages: list[ImapMessage],
        failures: list[Failure],
        new_state: FolderState | None,
    ) -> None:
        """Store one batch; ``new_state`` None keeps the cursor (messages fetched again)."""


@runtime_checkable
class Pop3Store(Protocol):
    """Everything ``run_pop3_sync`` calls on a store. POP3 has only an inbox, keyed by UIDL."""

    def seen_uidls(self) -> set[str]:
        """UIDLs already handled (imported, skipped or quarantined): never fetched again."""

    def skip_uidls(self, uidls: list[str]) -> None:
        """Remember messages older than the first sync window without importing them."""

    def store_batch_pop3(self, messages: list[Pop3Message], failures: list[Failure]) -> None:
        """Store one batch of POP3 messages."""


# ---- reports ----------------------------------------------------------------------------------
@dataclass
class FolderReport:
    role: str
    exists: int  # messages in the folder on the server
    uidvalidity: int | None = None
    imported: int = 0
    quarantined: int = 0
    flag_updates: int = 0
    backlog: int = 0  # left for the next run (time budget spent)
    last_uid: int = 0
    backfill_remaining: int = 0  # first sync messages still to import below the backfill cursor


@dataclass
class SyncReport:
    imported: int = 0
    quarantined: int = 0
    flag_updates: int = 0
    backlog: int = 0  # includes the backfill unless it is held (``SyncOptions.backfill``)
    backfill_remaining: int = 0
    folders: dict[str, FolderReport] = field(default_factory=dict)
    finished: bool = True

    def add(self, folder: FolderReport, imported: int, quarantined: int) -> None:
        folder.imported += imported
        folder.quarantined += quarantined
        self.imported += imported
        self.quarantined += quarantined


class _Clock:
    def __init__(self, max_seconds: float | None) -> None:
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


# ---- parsing ----------------------------------------------------------------------------------
def _too_large(key: int | str, size: int, options: SyncOptions) -> Failure:
    return Failure(key, f"message too large ({size} bytes, limit {options.max_message_size} bytes)")


def _parse(key: int | str, raw: bytes, options: SyncOptions) -> ParsedMessage | Failure:
    """The parsed message, or the failure that quarantines it (never raises)."""
    try:
        return parse_message(raw, max_attachment_size=options.max_attachment_size)
    except MessageParseError as exc:
        return Failure(key, f"unreadable message: {exc.detail or exc.user_message}")
    except Exception as exc:
        return Failure(key, f"unreadable message: {type(exc).__name__}: {exc}")


def _store_fetched(
    store: SyncStore,
    folder: FolderState,
    fetched: list[FetchedMessage],
    options: SyncOptions,
    new_state: FolderState | None,
) -> tuple[int, int]:
    """Parse a fetched batch and hand it to the store; returns (imported, quarantined).

    Empties ``fetched`` once parsed: the raw bytes are freed before the store works.
    """
    messages: list[ImapMessage] = []
    failures: list[Failure] = []
    for item in fetched:
        if item.raw is None:
            failures.append(_too_large(item.uid, item.size, options))
            continue
        parsed = _parse(item.uid, item.raw, options)
        if isinstance(parsed, Failure):
            failures.append(parsed)
        else:
            messages.append(ImapMessage(item.uid, item.flags, parsed))
    fetched.clear()
    store.store_batch(folder, messages, failures, new_state)
    return len(messages), len(failures)


def import_uids(
    session: ImapSession,
    store: SyncStore,
    folder: FolderState,
    uids: Sequence[int],
    options: SyncOptions,
) -> set[int]:
    """Fetch these UIDs of ``folder`` again and store them; the cursor stays where it is.

    For a rescan (an address became a contact) or a quarantine retry. Returns the UIDs the
    server no longer has.
    """
    if not uids:
        return set()
    fetched = session.fetch_messages(folder.name, sorted(uids), options.max_message_size)
    returned = {item.uid for item in fetched}
    _store_fetched(store, folder, fetched, options, None)
    return set(uids) - returned


# ---- IMAP -------------------------------------------------------------------------------------
class _Prefetcher:
    """Fetches UID chunks at most one ahead in a worker thread; yields (chunk, fetched).

    The session is used by the worker only while iterating; ``close()`` (always called)
    waits for an in-flight FETCH to finish so the connection is idle and consistent again.
    A fetch error is re-raised in the consumer at the position of the failed chunk, so every
    batch fetched before it is still handled. At most two batches are held in memory.
    """

    _DONE = object()

    def __init__(
        self, session: ImapSession, folder: str, chunks: Sequence[list[int]], max_size: int | None
    ) -> None:
        self._session = session
        self._folder = folder
        self._chunks = chunks
        self._max_size = max_size
        self._queue: queue.Queue = queue.Queue()
        self._credits = threading.Semaphore(1)  # chunks the consumer is ready to receive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="imap-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._chunks:
                while not self._credits.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    fetched = self._session.fetch_messages(self._folder, chunk, self._max_size)
                except BaseException as exc:  # handed to the consumer thread
                    self._queue.put((chunk, exc))
                    return
                self._queue.put((chunk, fetched))
        finally:
            self._queue.put(self._DONE)

    def __iter__(self) -> Iterator[tuple[list[int], list[FetchedMessage]]]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            chunk, fetched = item
            if isinstance(fetched, BaseException):
                raise fetched
            self._credits.release()  # fetch the next chunk while this one is handled
            yield chunk, fetched

    def close(self) -> None:
        self._stop.set()
        self._credits.release()
        self._thread.join()


def _fetch_chunks(
    session: ImapSession, folder: str, chunks: list[list[int]], options: SyncOptions
) -> tuple[Iterator[tuple[list[int], list[FetchedMessage]]], Callable[[], None]]:
    if options.prefetch and len(chunks) > 1:
        prefetcher = _Prefetcher(session, folder, chunks, options.max_message_size)
        return iter(prefetcher), prefetcher.close

    def serial() -> Iterator[tuple[list[int], list[FetchedMessage]]]:
        for chunk in chunks:
            yield chunk, session.fetch_messages(folder, chunk, options.max_message_size)

    return serial(), lambda: None


def _sync_flags(
    session: ImapSession,
    store: SyncStore,
    state: FolderState,
    status_modseq: int | None,
    options: SyncOptions,
) -> tuple[FolderState, int]:
    """Bring flags of already-imported messages up to date; returns (new state, count)."""
    if state.last_uid <= 0:
        return replace(state, highest_modseq=status_modseq), 0
    if session.has_condstore and state.highest_modseq is not None and status_modseq is not None:
        if status_modseq <= state.highest_modseq:
            return state, 0
        changed = session.fetch_flags(state.name, None, changedsince=state.highest_modseq)
    else:
        uids = sorted(store.known_uids(state))
        if not uids:
            uids = list(
                range(max(1, state.last_uid - options.flag_fallback_window + 1), state.last_uid + 1)
            )
        uids = uids[-options.flag_fallback_window :]
        changed = session.fetch_flags(state.name, uids) if uids else {}
    # New messages get their flags with the import itself.
    changed = {uid: flags for uid, flags in changed.items() if uid <= state.last_uid}
    new_state = replace(state, highest_modseq=status_modseq)
    store.apply_flags(state, changed, new_state)
    return new_state, len(changed)


def _start_state(store: SyncStore, role: str, name: str, uidvalidity: int) -> FolderState:
    """The cursor to sync from: the saved one, or a fresh one when the UIDs changed meaning."""
    state = store.folder_state(role, name)
    if state is None:
        return FolderState(name, role, uidvalidity)
    if state.uidvalidity is None:
        state = replace(state, uidvalidity=uidvalidity)
    elif state.uidvalidity != uidvalidity:
        store.uidvalidity_changed(state, uidvalidity)
        return FolderState(name, role, uidvalidity)
    if state.name != name:  # folder renamed on the server (e.g. a new Sent folder)
        state = replace(state, name=name)
    return state


def _import_chunks(
    session: ImapSession,
    store: SyncStore,
    state: FolderState,
    chunks: list[list[int]],
    next_state: Callable[[FolderState, list[int], bool], FolderState],
    options: SyncOptions,
    clock: _Clock,
    on_batch: Callable[[FolderState, int, int, int], None],
) -> tuple[FolderState, int]:
    """Fetch and store ``chunks`` in their order until the time budget is spent.

    ``next_state(state, chunk, last)`` is the cursor saved with a chunk; ``on_batch`` gets the
    new state, the UIDs handled and what was imported and quarantined. Returns the state and
    the number of UIDs handled.
    """
    done = 0
    total = sum(len(chunk) for chunk in chunks)
    if chunks and clock.expired():
        return state, 0
    batches, close = _fetch_chunks(session, state.name, chunks, options)
    try:
        for chunk, fetched in batches:
            # UIDs missing from the answer were expunged meanwhile: the cursor may pass them.
            new_state = next_state(state, chunk, done + len(chunk) == total)
            imported, quarantined = _store_fetched(store, state, fetched, options, new_state)
            state = new_state
            done += len(chunk)
            on_batch(state, done, imported, quarantined)
            if done < total and clock.expired():
                break
    finally:
        close()
    return state, done


def _sync_new_mail(
    session: ImapSession,
    store: SyncStore,
    state: FolderState,
    uidnext: int,
    options: SyncOptions,
    clock: _Clock,
    report: SyncReport,
    folder_report: FolderReport,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[FolderState, bool]:
    """Import the mail above the new-mail cursor, oldest first.

    A first sync run newest first imports nothing here: it starts the backfill below the
    newest message of the window. Returns the state and whether a backfill started (its
    cursor not saved yet).
    """
    first = state.last_uid <= 0 and not state.backfill_below
    if not first and uidnext <= state.last_uid + 1:
        return state, False
    uids = session.search_uids(
        state.name, since=options.since if first else None, min_uid=state.last_uid + 1
    )
    if first and options.newest_first and uids:
        started = replace(
            state,
            last_uid=uids[-1],
            backfill_below=uids[-1] + 1,
            backfill_since=options.since,
            backfill_total=len(uids),
            backfill_done=0,
        )
        return started, True
    chunks = [uids[i : i + options.batch_size] for i in range(0, len(uids), options.batch_size)]

    def on_batch(new_state, done, imported, quarantined):
        report.add(folder_report, imported, quarantined)
        if progress:
            progress(state.name, done, len(uids))

    state, done = _import_chunks(
        session,
        store,
        state,
        chunks,
        lambda current, chunk, _last: replace(current, last_uid=max(chunk)),
        options,
        clock,
        on_batch,
    )
    if done < len(uids):
        folder_report.backlog = len(uids) - done
        report.backlog += folder_report.backlog
        report.finished = False
    return state, False


def _backfill(
    session: ImapSession,
    store: SyncStore,
    state: FolderState,
    options: SyncOptions,
    clock: _Clock,
    report: SyncReport,
    folder_report: FolderReport,
    progress: Callable[[str, int, int], None] | None,
) -> FolderState:
    """Import the first sync window below the backfill cursor, newest first.

    Each batch saves the backfill cursor (the lowest UID imported) with its mail, so an
    interrupted backfill resumes where it stopped; the last one sets it to 0 (done).
    """
    uids = session.search_uids(
        state.name, since=state.backfill_since, max_uid=state.backfill_below - 1
    )
    # Mail deleted on the server meanwhile no longer counts.
    state = replace(state, backfill_total=state.backfill_done + len(uids))
    if not uids:
        done_state = replace(state, backfill_below=0)
        store.store_batch(state, [], [], done_state)
        return done_state
    newest = uids[::-1]
    chunks = [
        sorted(newest[i : i + options.batch_size])
        for i in range(0, len(newest), options.batch_size)
    ]

    def next_state(current, chunk, last):
        return replace(
            current,
            backfill_below=0 if last else min(chunk),
            backfill_done=current.backfill_done + len(chunk),
        )

    def on_batch(new_state, _done, imported, quarantined):
        report.add(folder_report, imported, quarantined)
        if progress:
            progress(state.name, new_state.backfill_done, new_state.backfill_total)

    state, _done = _import_chunks(
        session, store, state, chunks, next_state, options, clock, on_batch
    )
    return state


def run_imap_sync(
    session: ImapSession,
    store: SyncStore,
    options: SyncOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncReport:
    """Sync INBOX and Sent into ``store``. Raises ServerError on a dropped connection after
    persisting every completed batch; the next run resumes from the stored cursors.

    New mail of every folder comes first, then the backfills of first syncs (newest first),
    as far as the time budget goes.
    """
    report = SyncReport()
    clock = _Clock(options.max_seconds)
    backfills: list[tuple[FolderState, FolderReport, bool]] = []
    for ref in session.list_sync_folders():
        status = session.folder_status(ref.name)
        state = _start_state(store, ref.role, ref.name, status.uidvalidity)
        folder_report = FolderReport(ref.role, status.exists, status.uidvalidity)
        report.folders[ref.name] = folder_report

        if options.sync_flags:
            state, count = _sync_flags(session, store, state, status.highestmodseq, options)
            folder_report.flag_updates = count
            report.flag_updates += count
        elif state.last_uid <= 0:
            state = replace(state, highest_modseq=status.highestmodseq)

        state, started = _sync_new_mail(
            session, store, state, status.uidnext, options, clock, report, folder_report, progress
        )
        folder_report.last_uid = state.last_uid
        if state.backfill_below:
            backfills.append((state, folder_report, started))
        if not report.finished:
            break
    for state, folder_report, started in backfills:
        if options.backfill and report.finished and not clock.expired():
            state = _backfill(
                session, store, state, options, clock, report, folder_report, progress
            )
        elif started:
            store.store_batch(state, [], [], state)  # the backfill waits: keep its start
        remaining = state.backfill_total - state.backfill_done if state.backfill_below else 0
        folder_report.backfill_remaining = remaining
        report.backfill_remaining += remaining
        if remaining and options.backfill:
            folder_report.backlog += remaining
            report.backlog += remaining
            report.finished = False
    return report


# ---- POP3 -------------------------------------------------------------------------------------
def _before_window(session: Pop3Session, num: int, uidl: str, options: SyncOptions) -> bool:
    """Whether the message is older than the first sync window (read by its headers only)."""
    head = _parse(uidl, session.top(num, 0), options)
    if isinstance(head, Failure) or head.date is None:
        return False
    return head.date.date() < options.since


def run_pop3_sync(
    session: Pop3Session,
    store: Pop3Store,
    options: SyncOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncReport:
    """Import new POP3 messages by UIDL. Never deletes; a UIDL already seen is never fetched."""
    report = SyncReport()
    clock = _Clock(options.max_seconds)
    uidls = session.list_uidl()
    seen = store.seen_uidls()
    pending = sorted(((num, uidl) for uidl, num in uidls.items() if uidl and uidl not in seen))
    sizes = session.list_sizes() if pending else {}
    window = options.since is not None and not seen  # first sync: skip mail before the window
    folder_report = report.folders["INBOX"] = FolderReport("inbox", len(uidls))
    for start in range(0, len(pending), options.batch_size):
        if clock.expired():
            report.backlog = folder_report.backlog = len(pending) - start
            report.finished = False
            break
        messages: list[Pop3Message] = []
        failures: list[Failure] = []
        skipped: list[str] = []
        for num, uidl in pending[start : start + options.batch_size]:
            size = sizes.get(num, 0)
            if size > options.max_message_size:
                failures.append(_too_large(uidl, size, options))
                continue
            if window and _before_window(session, num, uidl, options):
                skipped.append(uidl)
                continue
            raw = session.retrieve(num)
            parsed = _parse(uidl, raw, options)
            if isinstance(parsed, Failure):
                failures.append(parsed)
            else:
                messages.append(Pop3Message(uidl, len(raw), parsed))
        store.store_batch_pop3(messages, failures)
        if skipped:
            store.skip_uidls(skipped)
        report.add(folder_report, len(messages), len(failures))
        if progress:
            progress("INBOX", min(start + options.batch_size, len(pending)), len(pending))
    return report
