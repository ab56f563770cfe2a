"""Benchmark: SalesInbox with 50,000 emails visible to the user. Prints figures, no asserts.

- stored columns (Deals, Contacts, Colleagues): the first load in a fresh environment, then
  the median of repeated loads, server time of ``crm.email.get_sales_inbox`` (the live part
  of Colleagues already cached);
- Not in CRM: the 200 newest INBOX messages read live from the test Dovecot, then the
  cached reload (no server round trip).

    CMC_SERVICES_FILE=.run/services.json PYTHONPATH=. python3 bench/bench_sales_inbox.py \\
        [--db cmc_bench_inbox] [--rebuild] [--addons-path <odoo>/addons,<this repository>]

The database is created with crm_mail_channel installed; bulk data is inserted with SQL
(as bench/bench_sharing.py does), every stored key the record rules read set as the ORM
would.
"""

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

N_EMAILS = 50_000
N_OTHERS = 5_000  # other users' private mail, never visible to the viewer
N_COMPANIES, CONTACTS_PER_COMPANY, N_DEALS = 100, 10, 400
N_LIVE = 1_000  # messages in the viewer's INBOX on Dovecot (the newest 200 are read)


def sh(*args):
    subprocess.run(args, check=True)


def build(env, rng):
    from odoo.fields import Command
    from odoo.tools import SQL

    cr = env.cr
    all_leads = env.ref("sales_team.group_sale_salesman_all_leads")
    users = (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            [
                {
                    "name": f"Inbox User {i}",
                    "login": f"inbox{i}",
                    "password": f"inbox{i}",
                    "email": f"inbox{i}@ourco.test",
                    "groups_id": [Command.set([env.ref("base.group_user").id, all_leads.id])],
                }
                for i in range(3)
            ]
        )
    )
    env.ref("base.main_company").write({"email": "info@ourco.test"})
    viewer = users[0]
    mailboxes = env["crm.mailbox"].create(
        [{"user_id": u.id, "login": u.email, "host": "localhost"} for u in users]
    )
    folders = env["crm.mailbox.folder"].create(
        [{"mailbox_id": m.id, "name": "INBOX", "role": "inbox"} for m in mailboxes]
    )
    companies = env["res.partner"].create(
        [{"name": f"Company {c}", "is_company": True} for c in range(N_COMPANIES)]
    )
    contacts = env["res.partner"].create(
        [
            {"name": f"Contact {c}-{k}", "email": f"c{k}@company{c}.test", "parent_id": company.id}
            for c, company in enumerate(companies)
            for k in range(CONTACTS_PER_COMPANY)
        ]
    )
    won = env["crm.stage"].search([("is_won", "=", True)], limit=1)
    leads = env["crm.lead"].create(
        [
            {
                "name": f"Deal {i}",
                "type": "opportunity",
                "user_id": rng.choice(users.ids),
                "partner_id": rng.choice(contacts.ids),
                "expected_revenue": rng.randrange(1000, 90000),
                **({"stage_id": won.id} if i % 4 == 0 else {}),
            }
            for i in range(N_DEALS)
        ]
    )
    env.flush_all()
    print(f"inserting {N_EMAILS + N_OTHERS} emails ...", flush=True)
    rows = []
    for n in range(N_EMAILS + N_OTHERS):
        owner = 0 if n < N_EMAILS else rng.randrange(1, len(users))
        colleague = rng.random() < 0.05
        lead = rng.choice(leads.ids) if not colleague and rng.random() < 0.3 else None
        rows.append(
            (
                n,
                owner,
                None if colleague else rng.choice(contacts.ids),
                lead,
                colleague,
                rng.randrange(0, 2 * 365 * 86400),
            )
        )
    cr.execute(
        SQL(
            """
        INSERT INTO crm_email (message_id, fingerprint, date, email_from, email_to, lead_id,
                               is_colleague_mail, sent_from_crm, thread_key, create_uid,
                               write_uid, create_date, write_date)
        SELECT '<inbox-' || t.n || '@bench>', 'bench', now() - make_interval(secs => t.age),
               CASE WHEN t.colleague THEN 'inbox1@ourco.test' ELSE 'c@company.test' END,
               'inbox0@ourco.test', t.lead, t.colleague, false, '<inbox-' || t.n || '@bench>',
               1, 1, now(), now()
          FROM unnest(%s::int[], %s::int[], %s::bool[], %s::int[]) AS t(n, lead, colleague, age)
        RETURNING id
    """,
            [r[0] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
            [r[5] for r in rows],
        )
    )
    email_ids = [r[0] for r in cr.fetchall()]
    rels = [(e, r[2]) for e, r in zip(email_ids, rows, strict=True) if r[2]]
    cr.execute(
        SQL(
            """INSERT INTO crm_email_res_partner_rel (email_id, partner_id)
               SELECT * FROM unnest(%s::int[], %s::int[]) ON CONFLICT DO NOTHING""",
            [r[0] for r in rels],
            [r[1] for r in rels],
        )
    )
    pres = [(e, mailboxes[r[1]].id, folders[r[1]].id) for e, r in zip(email_ids, rows, strict=True)]
    cr.execute(
        SQL(
            """
        INSERT INTO crm_email_presence (email_id, mailbox_id, folder_id, folder_role, user_id,
                                        share_override, is_excluded, contact_shared, is_shared,
                                        uid, is_seen, create_uid, write_uid, create_date,
                                        write_date)
        SELECT t.e, t.m, t.f, 'inbox', mb.user_id, 'default', false, false, false, 0,
               random() < 0.7, 1, 1, now(), now()
          FROM unnest(%s::int[], %s::int[], %s::int[]) AS t(e, m, f)
          JOIN crm_mailbox mb ON mb.id = t.m
    """,
            [p[0] for p in pres],
            [p[1] for p in pres],
            [p[2] for p in pres],
        )
    )
    # Private mail: reader_keys = the owner only.
    cr.execute(
        SQL("""UPDATE crm_email e SET reader_keys = ARRAY[p.user_id]
                 FROM crm_email_presence p WHERE p.email_id = e.id""")
    )
    from bench_sharing import fill_rule_keys

    fill_rule_keys(cr)
    cr.execute(
        SQL(
            """INSERT INTO crm_email_content (email_id, part, subject, create_uid, write_uid,
                                              create_date, write_date)
               SELECT id, 'subject', 'Subject ' || id, 1, 1, now(), now() FROM crm_email
                WHERE message_id LIKE '<inbox-%%'"""
        )
    )
    cr.execute(
        SQL(
            """INSERT INTO crm_email_content (email_id, part, preview, create_uid, write_uid,
                                              create_date, write_date)
               SELECT id, 'body', 'Preview of email ' || id, 1, 1, now(), now() FROM crm_email
                WHERE message_id LIKE '<inbox-%%'"""
        )
    )
    env.invalidate_all()
    return viewer


def live_mailbox(env, viewer):
    """The viewer's IMAP mailbox on the test Dovecot with N_LIVE messages (most not in CRM)."""
    from crm_mail_channel_testing.dovecot import ensure_dovecot
    from crm_mail_channel_testing.samples import sample_corpus

    dovecot = ensure_dovecot()
    login, password = dovecot.new_user("bench")
    known = [f"c{k}@company{c}.test" for c in range(5) for k in range(3)]
    unknown = [f"prospect{i}@unknown{i}.test" for i in range(60)]
    raws = sample_corpus(N_LIVE, known, unknown, seed=7, me=login)
    dovecot.append_messages(login, password, "INBOX", raws)
    env["crm.mailbox"].search([("user_id", "=", viewer.id)]).write(
        {
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "none",
            "login": login,
            "password": password,
            "state": "connected",
        }
    )
    env.flush_all()


def timed(fn, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def measure(env, viewer):
    from odoo.addons.crm_mail_channel.models import crm_email_sales_inbox_live

    Email = env["crm.email"].with_user(viewer)
    stored = ["deals", "contacts", "colleagues"]
    visible = Email.search_count([])
    print(f"viewer {viewer.login}: {visible} emails visible")

    def load():
        env.invalidate_all()
        return Email.get_sales_inbox(columns=stored)

    # Colleagues also shows the mailbox's own mail among colleagues (never stored): read it
    # once first, so that these figures are the stored columns' (the live read is below).
    Email._sales_inbox_live()

    first, inbox = timed(load, 1)
    samples, _ = timed(load, 10)
    print(f"stored columns, first load      {first[0]:8.1f} ms")
    print(f"stored columns, median of 10    {statistics.median(samples):8.1f} ms")
    for column in inbox:
        print(f"    {column['label']:12} count {column['count']:6}  cards {len(column['cards'])}")

    crm_email_sales_inbox_live.LIVE_CACHE.clear()

    def live(refresh):
        env.invalidate_all()
        return Email.get_sales_inbox(columns=["not_in_crm"], refresh=refresh)

    cold, inbox = timed(lambda: live(True), 1)
    warm, _ = timed(lambda: live(False), 10)
    column = inbox[0]
    print(f"Not in CRM live, 200 newest     {cold[0]:8.1f} ms  (error: {column['error']})")
    print(f"Not in CRM cached reload, median {statistics.median(warm):7.1f} ms")
    print(f"    count {column['count']}  cards {len(column['cards'])}")
    full, _ = timed(lambda: (env.invalidate_all(), Email.get_sales_inbox())[1], 5)
    print(f"whole SalesInbox (cached live), median {statistics.median(full):6.1f} ms")


def default_addons_path(odoo):
    """Odoo's own addons folder (crm, mail) next to the ``odoo`` package, then this repository."""
    package = Path(odoo.__file__).parent
    for candidate in (package.parent / "addons", package / "addons"):
        if (candidate / "crm").is_dir():
            return f"{candidate},{Path(__file__).resolve().parent.parent}"
    raise SystemExit("Odoo's own addons (crm, mail) were not found; pass --addons-path")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="cmc_bench_inbox")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path", default=None)
    args = parser.parse_args()
    sys.path.insert(0, __file__.rsplit("/", 1)[0])

    import odoo
    from odoo.tools import config

    exists = subprocess.run(
        ["psql", "-h", args.db_host, "-U", args.db_user, "-lqt"], capture_output=True, text=True
    ).stdout
    fresh = args.rebuild or f" {args.db} " not in exists
    odoo_args = [
        "-d",
        args.db,
        f"--db_host={args.db_host}",
        f"--db_user={args.db_user}",
        "--log-level=warn",
    ]
    odoo_args.append(f"--addons-path={args.addons_path or default_addons_path(odoo)}")
    if fresh:
        sh("dropdb", "-h", args.db_host, "--if-exists", args.db)
        sh("createdb", "-h", args.db_host, args.db)
        sh(
            sys.executable,
            "-m",
            "odoo",
            *odoo_args,
            "-i",
            "crm_mail_channel",
            "--stop-after-init",
            "--without-demo=all",
        )
    config.parse_config(odoo_args)
    registry = odoo.modules.registry.Registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        viewer = env["res.users"].search([("login", "=", "inbox0")])
        if not viewer:
            started = time.perf_counter()
            viewer = build(env, random.Random(12))
            cr.commit()  # a benchmark database, not a test
            print(f"setup {time.perf_counter() - started:.0f}s", flush=True)
            sh(
                "psql",
                "-h",
                args.db_host,
                "-U",
                args.db_user,
                "-q",
                "-c",
                "VACUUM ANALYZE",
                args.db,
            )
        live_mailbox(env, viewer)
        cr.commit()  # the mailbox's new server and password
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        measure(env, env["res.users"].search([("login", "=", "inbox0")]))
        cr.rollback()


if __name__ == "__main__":
    main()
