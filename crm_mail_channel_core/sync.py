"""Storage-independent sync driver: IMAP (per folder, UID cursor) and POP3 (UIDL)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

from .errors import MessageParseError
from .mailbox_client import FetchedMessage, ImapSession, Pop3Session
from .mime import ParsedMessage, parse_message

__all__ = [
    "FolderState",
    "Pop3Store",
    "SyncOptions",
    "SyncReport",
    "SyncStore",
    "parse_fetched",
    "run_imap_sync",
    "run_pop3_sync",
]


@dataclass
class FolderState:
    name: str
    role: str
    uidvalidity: int | None
    last_uid: int = 0
    highest_modseq: int | None = None


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


class SyncStore(Protocol):
    def folder_state(self, role: str, name: str) -> FolderState | None: ...

    def store_batch(
        self,
        folder: FolderState,
        messages: list[tuple[FetchedMessage, ParsedMessage]],
        failures: list[tuple[int, str]],
        new_state: FolderState,
    ) -> None: ...

    def uidvalidity_changed(self, folder: FolderState, new_uidvalidity: int) -> None: ...

    def apply_flags(
        self, folder: FolderState, flags: dict[int, tuple], new_state: FolderState
    ) -> None: ...

    def known_uids(self, folder: FolderState) -> set[int]: ...


class Pop3Store(Protocol):
    def seen_uidls(self) -> set[str]: ...

    def store_batch_pop3(
        self,
        messages: list[tuple[str, int, ParsedMessage]],
        failures: list[tuple[str, str]],
    ) -> None: ...


@dataclass
class SyncReport:
    imported: int = 0
    quarantined: int = 0
    flag_updates: int = 0
    backlog: int = 0
    folders: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    finished: bool = True


class _Clock:
    def __init__(self, max_seconds: float | None) -> None:
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def _parse(raw: bytes, options: SyncOptions) -> ParsedMessage:
    return parse_message(raw, max_attachment_size=options.max_attachment_size)


def parse_fetched(
    fetched: list[FetchedMessage], options: SyncOptions
) -> tuple[list[tuple[FetchedMessage, ParsedMessage]], list[tuple[int, str]]]:
    """Parse fetched messages; each one that cannot be read becomes a failure (uid, reason)."""
    messages, failures = [], []
    for item in fetched:
        if item.raw is None:
            failures.append(
                (
                    item.uid,
                    f"message too large ({item.size} bytes, limit "
                    f"{options.max_message_size} bytes)",
                )
            )
            continue
        try:
            parsed = _parse(item.raw, options)
        except MessageParseError as exc:
            failures.append((item.uid, f"unreadable message: {exc.detail or exc.user_message}"))
        except Exception as exc:
            failures.append((item.uid, f"unreadable message: {type(exc).__name__}: {exc}"))
        else:
            # The store gets the parsed message: drop the raw bytes now (peak memory).
            messages.append((replace(item, raw=None), parsed))
    return messages, failures


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
        known = getattr(store, "known_uids", None)
        uids = sorted(known(state)) if known else []
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


def run_imap_sync(
    session: ImapSession,
    store: SyncStore,
    options: SyncOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncReport:
    """Sync INBOX and Sent into ``store``. Raises ServerError on a dropped connection after
    persisting every completed batch; the next run resumes from the stored cursor."""
    report = SyncReport()
    clock = _Clock(options.max_seconds)
    for ref in session.list_sync_folders():
        status = session.folder_status(ref.name)
        state = store.folder_state(ref.role, ref.name)
        if state is None:
            state = FolderState(ref.name, ref.role, status.uidvalidity, 0, None)
        elif state.uidvalidity is None:
            state = replace(state, uidvalidity=status.uidvalidity)
        elif state.uidvalidity != status.uidvalidity:
            store.uidvalidity_changed(state, status.uidvalidity)
            state = FolderState(ref.name, ref.role, status.uidvalidity, 0, None)
        if state.name != ref.name:  # folder renamed on the server (e.g. a new Sent folder)
            state = replace(state, name=ref.name)
        folder_report = {
            "role": ref.role,
            "imported": 0,
            "quarantined": 0,
            "flag_updates": 0,
            "backlog": 0,
            "uidvalidity": status.uidvalidity,
            "exists": status.exists,
        }
        report.folders[ref.name] = folder_report

        if options.sync_flags:
            state, count = _sync_flags(session, store, state, status.highestmodseq, options)
            folder_report["flag_updates"] = count
            report.flag_updates += count
        elif state.last_uid <= 0:
            state = replace(state, highest_modseq=status.highestmodseq)

        first = state.last_uid <= 0
        if status.uidnext <= state.last_uid + 1 and not first:
            uids: list[int] = []
        else:
            uids = session.search_uids(
                ref.name, since=options.since if first else None, min_uid=state.last_uid + 1
            )
        chunks = [uids[i : i + options.batch_size] for i in range(0, len(uids), options.batch_size)]
        done = 0
        if chunks and clock.expired():
            batches, close = iter(()), lambda: None
        else:
            batches, close = _fetch_chunks(session, ref.name, chunks, options)
        try:
            for chunk, fetched in batches:
                messages, failures = parse_fetched(fetched, options)
                del fetched  # raw bytes no longer needed while the store works
                # UIDs missing from the answer were expunged meanwhile: the cursor may pass them.
                new_state = replace(state, last_uid=max(chunk))
                store.store_batch(state, messages, failures, new_state)
                state = new_state
                done += len(chunk)
                folder_report["imported"] += len(messages)
                folder_report["quarantined"] += len(failures)
                report.imported += len(messages)
                report.quarantined += len(failures)
                if progress:
                    progress(ref.name, done, len(uids))
                if done < len(uids) and clock.expired():
                    break
        finally:
            close()
        if done < len(uids):
            remaining = len(uids) - done
            folder_report["backlog"] = remaining
            report.backlog += remaining
            report.finished = False
        folder_report["last_uid"] = state.last_uid
        if not report.finished:
            break
    return report


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
    skip = getattr(store, "skip_uidls", None)
    folder_report = {
        "role": "inbox",
        "imported": 0,
        "quarantined": 0,
        "backlog": 0,
        "exists": len(uidls),
    }
    report.folders["INBOX"] = folder_report
    for start in range(0, len(pending), options.batch_size):
        if clock.expired():
            report.backlog = folder_report["backlog"] = len(pending) - start
            report.finished = False
            break
        messages, failures, skipped = [], [], []
        for num, uidl in pending[start : start + options.batch_size]:
            size = sizes.get(num, 0)
            if size > options.max_message_size:
                failures.append(
                    (
                        uidl,
                        f"message too large ({size} bytes, limit {options.max_message_size} bytes)",
                    )
                )
                continue
            if options.since is not None and not seen:
                # Window on a first sync: read headers only (TOP n 0) to check the date.
                try:
                    head = _parse(session.top(num, 0), options)
                except MessageParseError:
                    head = None
                if head is not None and head.date is not None and head.date.date() < options.since:
                    skipped.append(uidl)
                    continue
            raw = session.retrieve(num)
            try:
                messages.append((uidl, len(raw), _parse(raw, options)))
            except MessageParseError as exc:
                failures.append((uidl, f"unreadable message: {exc.detail or exc.user_message}"))
            except Exception as exc:
                failures.append((uidl, f"unreadable message: {type(exc).__name__}: {exc}"))
        store.store_batch_pop3(messages, failures)
        if skipped and skip:
            skip(skipped)
        report.imported += len(messages)
        report.quarantined += len(failures)
        folder_report["imported"] += len(messages)
        folder_report["quarantined"] += len(failures)
        if progress:
            progress("INBOX", min(start + options.batch_size, len(pending)), len(pending))
    return report
