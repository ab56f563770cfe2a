"""The sync contract: what a sync driver hands to a store, and what it asks of it.

The drivers (``sync_imap``, ``sync_pop3``) talk to a store through one of two protocols,
``SyncStore`` (IMAP) and ``Pop3Store`` (POP3); every member a driver calls is named there,
and messages travel as the named items below. The Odoo side implements both in
``crm_mail_channel/sync_store/``. ``sync`` gathers the public names of all three modules.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from .errors import MessageParseError
from .mailbox_client import FetchedMessage, ImapSession
from .mime import ParsedMessage, parse_message


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


class Clock:
    def __init__(self, max_seconds: float | None) -> None:
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


# ---- parsing ----------------------------------------------------------------------------------
def too_large(key: int | str, size: int, options: SyncOptions) -> Failure:
    return Failure(key, f"message too large ({size} bytes, limit {options.max_message_size} bytes)")


def parse_or_fail(key: int | str, raw: bytes, options: SyncOptions) -> ParsedMessage | Failure:
    """The parsed message, or the failure that quarantines it (never raises)."""
    try:
        return parse_message(raw, max_attachment_size=options.max_attachment_size)
    except MessageParseError as exc:
        return Failure(key, f"unreadable message: {exc.detail or exc.user_message}")
    except Exception as exc:
        return Failure(key, f"unreadable message: {type(exc).__name__}: {exc}")


def store_fetched(
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
            failures.append(too_large(item.uid, item.size, options))
            continue
        parsed = parse_or_fail(item.uid, item.raw, options)
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
    store_fetched(store, folder, fetched, options, None)
    return set(uids) - returned
