#!/usr/bin/env python3
"""Raw IMAP fetch + parse throughput against a loopback Dovecot.

    python3 bench/bench_protocol.py [N]   (default 10000)

Prints messages/s for fetch only, parse only and the full sync driver (with a no-op store),
by wall clock and by this process's CPU time (steadier on a loaded machine), plus peak RSS.
Fetch, parse and the driver are measured with both fast paths on (the product default), then
with each one off (``mailbox_client.QUIET_IMAPLIB``, ``mime.FAST_PATH``): the figures that
justify them.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

# The test-support package lives at the repository root and is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_mail_channel_core import mailbox_client, mime
from crm_mail_channel_core.mailbox_client import MailboxSettings, open_session
from crm_mail_channel_core.mime import parse_message
from crm_mail_channel_core.sync import SyncOptions, SyncStore, run_imap_sync
from crm_mail_channel_testing.dovecot import ensure_dovecot
from crm_mail_channel_testing.samples import sample_corpus


class NullStore(SyncStore):
    def folder_state(self, role, name):
        return None

    def uidvalidity_changed(self, folder, new_uidvalidity):
        pass

    def known_uids(self, folder):
        return set()

    def apply_flags(self, folder, flags, new_state):
        pass

    def store_batch(self, folder, messages, failures, new_state):
        pass


CONFIGS = {
    "default": (True, True),
    "QUIET_IMAPLIB off": (False, True),
    "FAST_PATH off": (True, False),
}


def _switches(quiet_imaplib: bool, fast_mime: bool) -> None:
    mailbox_client.QUIET_IMAPLIB = quiet_imaplib
    mime.FAST_PATH = fast_mime


def _rate(n: int, wall: float, cpu: float) -> str:
    return f"{n / wall:8.0f} msgs/s  (cpu {n / cpu:6.0f} msgs/s)"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    server = ensure_dovecot()
    login, password = server.new_user("bench")
    corpus = sample_corpus(n, ["ann@client.org", "bob@client.org"], ["x@other.net"], seed=42)
    started = time.perf_counter()
    server.append_messages(login, password, "INBOX", corpus, chunk=1000)
    print(
        f"appended {n} messages ({sum(map(len, corpus)) / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    settings = MailboxSettings("imap", server.host, server.imap_port, "none", login, password)
    for label, switches in CONFIGS.items():
        _switches(*switches)
        label = label.strip().ljust(17)
        with open_session(settings) as session:
            started, cpu = time.perf_counter(), time.process_time()
            uids = session.search_uids("INBOX")
            fetched = session.fetch_messages("INBOX", uids, max_size=25 * 1024 * 1024)
            fetch = _rate(n, time.perf_counter() - started, time.process_time() - cpu)
            started, cpu = time.perf_counter(), time.process_time()
            for item in fetched:
                parse_message(item.raw)
            parse = _rate(n, time.perf_counter() - started, time.process_time() - cpu)
        del fetched
        with open_session(settings) as session:
            started, cpu = time.perf_counter(), time.process_time()
            report = run_imap_sync(session, NullStore(), SyncOptions(batch_size=200))
            driver = _rate(
                report.imported, time.perf_counter() - started, time.process_time() - cpu
            )
        print(f"{label}: fetch only  : {fetch}")
        print(f"{label}: parse only  : {parse}")
        print(f"{label}: sync driver : {driver}, {report.imported} imported")
    _switches(True, True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS   : {rss_mb:8.0f} MB")


if __name__ == "__main__":
    main()
