"""Storage-independent sync: IMAP (per folder, two UID cursors) and POP3 (UIDL).

The contract between drivers and stores is ``sync_contract``; the drivers are ``sync_imap``
and ``sync_pop3``. This module gathers their public names, the ones the addon uses.
"""

from .sync_contract import (
    Failure,
    FolderReport,
    FolderState,
    ImapMessage,
    Pop3Message,
    Pop3Store,
    SyncOptions,
    SyncReport,
    SyncStore,
    import_uids,
)
from .sync_imap import run_imap_sync
from .sync_pop3 import run_pop3_sync

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
