#!/usr/bin/env python3
"""Benchmark: per-message cost of a BCC dropbox import against a synced import.

Usage:
    python3 bench/bench_dropbox.py --database DB [--messages 300]
        [-- extra Odoo options, e.g. --db_host=127.0.0.1 --addons-path=...]

The database must have crm_mail_channel installed. The script writes to it (a bench user,
contacts, imported emails): use a throw-away copy. Needs the test services (Dovecot, Knot).

The same kind of messages (sent by the bench user to known contacts, DKIM-signed with a key
published in the test Knot) are imported twice, by two users so that nothing is shared:
- sync: appended to a Dovecot Sent folder, then ``crm.mailbox._sync()`` (batches of 100);
- dropbox: each handed to ``mail.thread.message_process`` with the user's dropbox address in
  Delivered-To, as Odoo's incoming mail server does, one message per call (authenticated and
  queued), then the queue stored in batches as ``fetchmail.server.fetch_mail`` does at its end
  (its commit after each message and its IMAP fetch are not counted).
Prints wall time, CPU time and SQL queries per message for both, and their ratio. The dropbox
figure includes what the sync does not do: reading the headers, finding the dropbox, checking
the sender's claims and verifying the DKIM signature against DNS.
"""

import argparse
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

from crm_mail_channel_core import dkim_sign
from crm_mail_channel_testing.dovecot import ensure_dovecot
from crm_mail_channel_testing.knot import ensure_knot


def make_messages(count, sender, customers, domain, private_pem, tag):
    raws = []
    start = datetime.now(timezone.utc) - timedelta(days=3)
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = customers[i % len(customers)]
        msg["Subject"] = f"Offer {tag} {i}"
        msg["Date"] = format_datetime(start + timedelta(minutes=i))
        msg["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:10], domain=domain)
        text = "\n\n".join(f"Paragraph {p} of the offer for order {i}." * 8 for p in range(4))
        msg.set_content(text)
        msg.add_alternative("".join(f"<p>{p}</p>" for p in text.split("\n\n")), subtype="html")
        raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        raws.append(dkim_sign.sign_message(raw, "s1", domain, private_pem))
    return raws


def new_user(env, name, email):
    return env["res.users"].create(
        {
            "name": name,
            "login": f"bench-{uuid.uuid4().hex[:6]}",
            "email": email,
            "groups_id": [(6, 0, [env.ref("sales_team.group_sale_salesman").id])],
        }
    )


def measure(cr, run):
    queries = cr.sql_log_count
    started, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - started, time.process_time() - cpu, cr.sql_log_count - queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", "-d", required=True)
    parser.add_argument("--messages", type=int, default=300)
    args, odoo_args = parser.parse_known_args()
    odoo_args = [a for a in odoo_args if a != "--"]
    config.parse_config(["-d", args.database, *odoo_args])
    odoo.service.server.load_server_wide_modules()
    registry = odoo.modules.registry.Registry(args.database)

    dovecot, knot = ensure_dovecot(), ensure_knot()
    domain = f"bench{uuid.uuid4().hex[:8]}.example.test"
    private_pem, public_b64 = dkim_sign.generate_key_pair()
    knot.set_txt(dkim_sign.dkim_record_name("s1", domain), dkim_sign.dkim_txt_value(public_b64))
    customers = [f"customer{i}@client{i % 20}.example" for i in range(100)]
    count = args.messages

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        params = env["ir.config_parameter"]
        params.set_param("crm_mail_channel.dns_nameservers", knot.nameserver)
        if not env.company.alias_domain_id:
            env.company.alias_domain_id = env["mail.alias.domain"].create(
                {"name": f"crm-{uuid.uuid4().hex[:6]}.example.test"}
            )
        known = set(env["res.partner"].search([("email", "in", customers)]).mapped("email"))
        env["res.partner"].create(
            [
                {"name": f"Customer {i}", "email": a}
                for i, a in enumerate(customers)
                if a not in known
            ]
        )
        syncer = new_user(env, "Bench Sync", f"sync@{domain}")
        dropper = new_user(env, "Bench Dropbox", f"dropbox@{domain}")
        cr.commit()

        # Sync: the messages in the user's Sent folder.
        login, password = dovecot.new_user("benchdb")
        sync_raws = make_messages(count, syncer.email, customers, domain, private_pem, "sync")
        dovecot.append_messages(login, password, "Sent", sync_raws, chunk=500)
        mailbox = env["crm.mailbox"].create(
            {
                "user_id": syncer.id,
                "host": "127.0.0.1",
                "port": dovecot.imap_port,
                "security": "none",
                "login": login,
                "password": password,
                "state": "connected",
                "sync_window_days": 30,
            }
        )
        cr.commit()

        def run_sync():
            while True:
                report = mailbox._sync()
                if not report or not report.backlog or mailbox.state == "error":
                    break

        sync_wall, sync_cpu, sync_queries = measure(cr, run_sync)
        cr.commit()
        synced = env["crm.email.presence"].search_count([("mailbox_id", "=", mailbox.id)])

        # Dropbox: the same kind of messages through message_process.
        dropper.with_user(dropper)._crm_dropbox_ensure()
        box = dropper.with_user(dropper).crm_dropbox_email
        drop_raws = [
            f"Delivered-To: {box}\r\n".encode() + raw
            for raw in make_messages(count, dropper.email, customers, domain, private_pem, "box")
        ]
        cr.commit()
        Thread = env["mail.thread"]

        def run_dropbox():
            # As fetchmail.server does: each message handed over alone, then the batch stored.
            for raw in drop_raws:
                Thread.with_context(fetchmail_cron_running=True).message_process(False, raw)

        def run_dropbox_store():
            env["crm.dropbox.queue"]._crm_import_pending()

        auth_wall, auth_cpu, auth_queries = measure(cr, run_dropbox)
        store_wall, store_cpu, store_queries = measure(cr, run_dropbox_store)
        drop_wall, drop_cpu = auth_wall + store_wall, auth_cpu + store_cpu
        drop_queries = auth_queries + store_queries
        cr.commit()
        dropped = env["crm.email.presence"].search_count([("user_id", "=", dropper.id)])

    def line(name, n, wall, cpu, queries):
        n = max(n, 1)
        print(
            f"{name:32} {n:5} messages: {1000 * wall / n:6.2f} ms/message wall, "
            f"{1000 * cpu / n:6.2f} ms/message CPU, {queries / n:5.1f} SQL queries/message"
        )

    line("sync", synced, sync_wall, sync_cpu, sync_queries)
    line("dropbox", dropped, drop_wall, drop_cpu, drop_queries)
    line("- routing, authentication, queue", dropped, auth_wall, auth_cpu, auth_queries)
    line("- storing (batches)", dropped, store_wall, store_cpu, store_queries)
    per_sync = sync_wall / max(synced, 1), sync_cpu / max(synced, 1)
    per_drop = drop_wall / max(dropped, 1), drop_cpu / max(dropped, 1)
    print(
        f"dropbox / sync per message: {per_drop[0] / per_sync[0]:.2f} (wall), "
        f"{per_drop[1] / per_sync[1]:.2f} (CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
