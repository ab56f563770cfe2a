"""POP3 sync driver: new messages by UIDL, oldest first; never deletes."""

from __future__ import annotations

from collections.abc import Callable

from .mailbox_client import Pop3Session
from .sync_contract import (
    Clock,
    Failure,
    FolderReport,
    Pop3Message,
    Pop3Store,
    SyncOptions,
    SyncReport,
    parse_or_fail,
    too_large,
)


# ---- POP3 -------------------------------------------------------------------------------------
def _before_window(session: Pop3Session, num: int, uidl: str, options: SyncOptions) -> bool:
    """Whether the message is older than the first sync window (read by its headers only)."""
    head = parse_or_fail(uidl, session.top(num, 0), options)
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
    clock = Clock(options.max_seconds)
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
                failures.append(too_large(uidl, size, options))
                continue
            if window and _before_window(session, num, uidl, options):
                skipped.append(uidl)
                continue
            raw = session.retrieve(num)
            parsed = parse_or_fail(uidl, raw, options)
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
