"""IMAP sync driver: per folder, new mail above the UID cursor first, then the first sync's
backfill newest first below the second cursor (see ``FolderState``)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from .mailbox_client import FetchedMessage, ImapSession
from .sync_contract import (
    Clock,
    FolderReport,
    FolderState,
    SyncOptions,
    SyncReport,
    SyncStore,
    store_fetched,
)


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
    clock: Clock,
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
            imported, quarantined = store_fetched(store, state, fetched, options, new_state)
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
    clock: Clock,
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
    clock: Clock,
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
    clock = Clock(options.max_seconds)
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
