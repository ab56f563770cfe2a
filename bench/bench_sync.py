#!/usr/bin/env python3
"""Benchmark the CRM mailbox sync against a real Dovecot and compare with fetchmail.server.

Usage:
    python3 bench/bench_sync.py --database DB [--messages 10000] [--fetchmail 300]
        [-- extra Odoo options, e.g. --db_host=127.0.0.1 --addons-path=...]

The database must have crm_mail_channel installed. The script writes to it (a bench user's
mailbox, contacts, imported emails; fetchmail creates leads): use a throw-away copy.

Prints: initial sync msgs/s, no-change incremental sync wall time, peak RSS of the sync (reset
when it starts, so generating the messages does not count) at 1,000 and at the full count,
SQL queries per imported message, and fetchmail.server msgs/s with the ratio.
"""

import argparse
import random
import resource
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

# The test-support package lives at the repository root and is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import odoo
from odoo.tools import config

from crm_mail_channel_core import mailbox_client, mime
from crm_mail_channel_testing.dovecot import ensure_dovecot

WORDS = [
    "offer",
    "quote",
    "order",
    "delivery",
    "invoice",
    "meeting",
    "project",
    "renewal",
    "contract",
    "price",
    "support",
    "product",
    "sample",
    "discount",
    "schedule",
    "call",
    "proposal",
    "budget",
]


def reset_peak_rss():
    """Start measuring the peak here, so generating the test messages does not count.

    Linux: writing 5 to /proc/self/clear_refs resets the high-water mark (VmHWM).
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def rss_mb(key="VmHWM"):
    """Peak (VmHWM, since reset_peak_rss) or current (VmRSS) resident set size in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_messages(count, customers, owner, rng):
    """Realistic mix: mostly small text/HTML, some with attachments, a few large."""
    raws = []
    start = datetime.now(timezone.utc) - timedelta(days=30)
    for i in range(count):
        known = i % 2 == 0
        peer = customers[i % len(customers)] if known else f"stranger{i}@elsewhere.example"
        sent = i % 5 == 0
        msg = EmailMessage()
        msg["From"] = owner if sent else peer
        msg["To"] = peer if sent else owner
        msg["Subject"] = " ".join(rng.choice(WORDS) for _ in range(5)).capitalize()
        msg["Date"] = format_datetime(start + timedelta(minutes=i))
        msg["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:10], domain="bench.example")
        paragraphs = rng.choice((1, 2, 4, 8, 30))
        text = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(paragraphs)
        )
        msg.set_content(text)
        msg.add_alternative("".join(f"<p>{p}</p>" for p in text.split("\n\n")), subtype="html")
        if i % 10 == 0:
            size = rng.choice((2_000, 20_000, 200_000))
            msg.add_attachment(
                rng.randbytes(size), maintype="application", subtype="pdf", filename=f"doc{i}.pdf"
            )
        raws.append(msg.as_bytes())
    return raws


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", "-d", required=True)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument(
        "--fetchmail",
        type=int,
        default=300,
        help="messages imported through fetchmail.server for the comparison",
    )
    parser.add_argument(
        "--quiet-imaplib",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mailbox_client.QUIET_IMAPLIB (off: the reference path, to measure what it saves)",
    )
    parser.add_argument(
        "--fast-mime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mime.FAST_PATH (off: the stdlib parser only, to measure what it saves)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the 25 costliest functions of the initial sync",
    )
    args, odoo_args = parser.parse_known_args()
    mailbox_client.QUIET_IMAPLIB = args.quiet_imaplib
    mime.FAST_PATH = args.fast_mime
    odoo_args = [a for a in odoo_args if a != "--"]
    config.parse_config(["-d", args.database, *odoo_args])
    odoo.service.server.load_server_wide_modules()
    registry = odoo.modules.registry.Registry(args.database)

    rng = random.Random(42)
    dovecot = ensure_dovecot()
    login, password = dovecot.new_user("bench")
    customers = [f"customer{i}@client{i % 50}.example" for i in range(500)]
    print(f"Generating {args.messages} messages ...", flush=True)
    raws = make_messages(args.messages, customers, login, rng)
    inbox = [r for i, r in enumerate(raws) if i % 5]
    sent = [r for i, r in enumerate(raws) if not i % 5]
    dovecot.append_messages(login, password, "INBOX", inbox, chunk=500)
    dovecot.append_messages(login, password, "Sent", sent, chunk=500)

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        from odoo.addons.crm_mail_channel.sync_store import MailboxStore

        env["res.partner"].create(
            [{"name": f"Customer {i}", "email": addr} for i, addr in enumerate(customers)]
        )
        user = env["res.users"].create(
            {
                "name": "Bench Seller",
                "login": f"bench-{uuid.uuid4().hex[:6]}",
                "groups_id": [(6, 0, [env.ref("sales_team.group_sale_salesman").id])],
            }
        )
        mailbox = env["crm.mailbox"].create(
            {
                "user_id": user.id,
                "host": "127.0.0.1",
                "port": dovecot.imap_port,
                "security": "none",
                "login": login,
                "password": password,
                "state": "connected",
                "sync_window_days": 365,
            }
        )
        cr.commit()

        # Peak RSS after the batch that passes 1,000 messages, and at the end.
        marks = {}
        handled = [0]
        original = MailboxStore.store_batch

        def measured(self, folder, messages, failures, new_state):
            result = original(self, folder, messages, failures, new_state)
            handled[0] += len(messages) + len(failures)
            if handled[0] >= 1000 and 1000 not in marks:
                marks[1000] = rss_mb()
            return result

        MailboxStore.store_batch = measured
        queries_before = cr.sql_log_count
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        rss_start = rss_mb("VmRSS")
        reset_peak_rss()
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            report = mailbox._sync()
            if not report or not report.backlog or mailbox.state == "error":
                break
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        queries = cr.sql_log_count - queries_before
        marks["end"] = rss_mb()
        MailboxStore.store_batch = original
        cr.commit()
        imported = env["crm.email.presence"].search_count([("mailbox_id", "=", mailbox.id)])
        print(f"state={mailbox.state} error={mailbox.last_error or '-'}")
        print(
            f"Initial sync: {handled[0]} messages handled ({imported} customer emails "
            f"imported) in {elapsed:.1f} s = {handled[0] / elapsed:.0f} msgs/s (by this "
            f"process's CPU time, steadier on a loaded machine: {handled[0] / cpu:.0f} msgs/s)"
        )
        print(
            f"SQL queries: {queries} = {queries / max(handled[0], 1):.2f} per message "
            f"handled, {queries / max(imported, 1):.2f} per imported message"
        )

        started = time.perf_counter()
        mailbox._sync()
        no_change = time.perf_counter() - started
        cr.commit()
        print(f"No-change incremental sync: {no_change:.3f} s")
        rss_1k = marks.get(1000, float("nan"))
        print(
            f"Peak RSS: {rss_1k:.0f} MB at 1,000 messages, {marks['end']:.0f} MB at "
            f"{handled[0]} (growth {marks['end'] - rss_1k:.0f} MB; {rss_start:.0f} MB "
            f"before the sync, generated messages included)"
        )
        ours = handled[0] / elapsed

    if args.fetchmail:
        fm_login, fm_password = dovecot.new_user("benchfm")
        dovecot.append_messages(fm_login, fm_password, "INBOX", inbox[: args.fetchmail])
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            server = env["fetchmail.server"].create(
                {
                    "name": "bench",
                    "server_type": "imap",
                    "server": "127.0.0.1",
                    "port": dovecot.imap_port,
                    "is_ssl": False,
                    "user": fm_login,
                    "password": fm_password,
                    "state": "done",
                    "object_id": env.ref("crm.model_crm_lead").id,
                }
            )
            cr.commit()
            started = time.perf_counter()
            server.fetch_mail()
            fm_elapsed = time.perf_counter() - started
            fm_rate = args.fetchmail / fm_elapsed
            print(
                f"fetchmail.server: {args.fetchmail} messages in {fm_elapsed:.1f} s = "
                f"{fm_rate:.0f} msgs/s; crm_mail_channel is {ours / fm_rate:.1f}x faster"
            )
            server.unlink()
            cr.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
