"""Benchmark: email sharing record rules on 200,000 synced emails over 50 users.

Builds (once) a database with realistic sharing, then times, as a regular user and as
superuser, the first page of a contact's Emails list, a company's list (all its contacts)
and the company's count. Prints both times and their ratio. No timed asserts.

    python3 bench/bench_sharing.py --db cmc_bench_sharing [--template cmc_probe] [--rebuild]
        [--addons-path /path/to/odoo/addons,/path/to/repo]

The database is created from the template with crm_mail_channel installed; bulk data is
inserted with SQL for setup speed, then every stored sharing flag is set as the ORM would.
"""

import argparse
import random
import statistics
import subprocess
import sys
import time

N_USERS, N_EMAILS, N_COMPANIES, CONTACTS_PER_COMPANY = 50, 200_000, 200, 10


def sh(*args):
    subprocess.run(args, check=True)


def build(env, rng):
    from odoo.fields import Command
    from odoo.tools import SQL

    cr = env.cr
    groups_all = env.ref("sales_team.group_sale_salesman_all_leads")
    groups_own = env.ref("sales_team.group_sale_salesman")
    users = (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            [
                {
                    "name": f"Bench User {i}",
                    "login": f"bench{i}",
                    "email": f"bench{i}@ourco.test",
                    "groups_id": [
                        Command.set(
                            [
                                env.ref("base.group_user").id,
                                (groups_all if i % 5 else groups_own).id,
                            ]
                        )
                    ],
                }
                for i in range(N_USERS)
            ]
        )
    )
    # 5 teams of 10 with a leader; each leader reports to bench0.
    for t in range(5):
        members = users[t * 10 : (t + 1) * 10]
        env["crm.team"].create(
            {
                "name": f"Bench team {t}",
                "user_id": members[0].id,
                "crm_team_member_ids": [Command.create({"user_id": u.id}) for u in members[1:]],
            }
        )
        if t:
            members[0].email_manager_id = users[0]
    modes = ["public"] * 25 + ["custom"] * 10 + ["private"] * 15
    rng.shuffle(modes)
    for user, mode in zip(users, modes, strict=False):
        vals = {"email_sharing_mode": mode}
        if rng.random() < 0.2:
            vals["email_audience_user_ids"] = [Command.set(rng.sample(users.ids, 3))]
        user.write(vals)
    mailboxes = env["crm.mailbox"].create(
        [{"user_id": u.id, "login": u.email, "host": "localhost"} for u in users]
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
    leads = env["crm.lead"].create(
        [
            {
                "name": f"Deal {i}",
                "type": "opportunity",
                "user_id": rng.choice(users.ids),
                "partner_id": rng.choice(contacts.ids),
            }
            for i in range(400)
        ]
    )
    for user in users.filtered(lambda u: u.email_sharing_mode == "custom"):
        user.email_shared_partner_ids = [Command.set(rng.sample(contacts.ids, 100))]
    env.flush_all()

    print(f"inserting {N_EMAILS} emails ...", flush=True)
    contact_ids, lead_ids, mailbox_ids = contacts.ids, leads.ids, mailboxes.ids
    rows, rels, pres, _content = [], [], [], []
    for n in range(N_EMAILS):
        partner = rng.choice(contact_ids)
        lead = rng.choice(lead_ids) if rng.random() < 0.3 else None
        rows.append((n, partner, lead, rng.random() < 0.05, rng.randrange(0, 3 * 365 * 86400)))
    cr.execute(
        SQL(
            """
        INSERT INTO crm_email (message_id, fingerprint, date, email_from, email_to, lead_id,
                               sent_from_crm, thread_key, create_uid, write_uid, create_date,
                               write_date)
        SELECT '<bench-' || t.n || '@bench>', 'bench', now() - make_interval(secs => t.age),
               'c@company.test', 'bench@ourco.test', t.lead, t.sent, '<bench-' || t.n || '@bench>',
               1, 1, now(), now()
          FROM unnest(%s::int[], %s::int[], %s::bool[], %s::int[]) AS t(n, lead, sent, age)
        RETURNING id
    """,
            [r[0] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
        )
    )
    email_ids = [r[0] for r in cr.fetchall()]
    for email_id, row in zip(email_ids, rows, strict=False):
        rels.append((email_id, row[1]))
        if rng.random() < 0.2:
            rels.append((email_id, rng.choice(contact_ids)))
        owners = rng.sample(mailbox_ids, 2 if rng.random() < 0.1 else 1)
        for mailbox in owners:
            pres.append((email_id, mailbox))
    cr.execute(
        SQL(
            """
        INSERT INTO crm_email_res_partner_rel (email_id, partner_id)
        SELECT * FROM unnest(%s::int[], %s::int[]) ON CONFLICT DO NOTHING
    """,
            [r[0] for r in rels],
            [r[1] for r in rels],
        )
    )
    cr.execute(
        SQL(
            """
        INSERT INTO crm_email_presence (email_id, mailbox_id, user_id, share_override,
                                        is_excluded, contact_shared, is_shared, uid, is_seen,
                                        create_uid, write_uid, create_date, write_date)
        SELECT t.e, t.m, mb.user_id, 'default', random() < 0.1, false, false, 0, true,
               1, 1, now(), now()
          FROM unnest(%s::int[], %s::int[]) AS t(e, m) JOIN crm_mailbox mb ON mb.id = t.m
    """,
            [p[0] for p in pres],
            [p[1] for p in pres],
        )
    )
    # Stored flags exactly as the ORM computes them.
    cr.execute(
        SQL("""
        UPDATE crm_email_presence p SET contact_shared = true
         WHERE EXISTS (SELECT 1 FROM crm_email_res_partner_rel r
                         JOIN res_users_email_shared_partner_rel s ON s.partner_id = r.partner_id
                        WHERE r.email_id = p.email_id AND s.user_id = p.user_id)
    """)
    )
    cr.execute(
        SQL("""
        UPDATE crm_email_presence p SET is_shared = CASE u.email_sharing_mode
                WHEN 'public' THEN NOT p.is_excluded WHEN 'custom' THEN p.contact_shared
                ELSE false END
          FROM res_users u WHERE u.id = p.user_id
    """)
    )
    # crm.email.reader_keys as _compute_reader_keys stores it (owners, -sharing owners, 0).
    cr.execute(
        SQL("""
        UPDATE crm_email e SET reader_keys = ARRAY(
            SELECT DISTINCT key FROM (
                SELECT p.user_id AS key FROM crm_email_presence p WHERE p.email_id = e.id
                UNION ALL
                SELECT -p.user_id FROM crm_email_presence p
                 WHERE p.email_id = e.id AND p.is_shared
                UNION ALL
                SELECT 0 WHERE e.sent_from_crm
            ) t ORDER BY key)
    """)
    )
    fill_rule_keys(cr)
    cr.execute(
        SQL("""
        INSERT INTO crm_email_content (email_id, part, subject, create_uid, write_uid,
                                       create_date, write_date)
        SELECT id, 'subject', 'Subject ' || id, 1, 1, now(), now() FROM crm_email
         WHERE message_id LIKE '<bench-%%'
    """)
    )
    cr.execute(
        SQL("""
        INSERT INTO crm_email_content (email_id, part, body_html, preview, create_uid,
                                       write_uid, create_date, write_date)
        SELECT id, 'body', '<p>Body</p>', 'Body', 1, 1, now(), now() FROM crm_email
         WHERE message_id LIKE '<bench-%%'
    """)
    )
    env.invalidate_all()


def fill_rule_keys(cr):
    """crm.email's contact and deal keys as the ORM computes them."""
    from odoo.tools import SQL

    # contact_company_keys: per contact 0 (internal user's partner, or no company) or its
    # company; NULL when the email has no contact (the ORM stores an empty array as NULL).
    cr.execute(
        SQL("""
        UPDATE crm_email e SET contact_company_keys = NULLIF(ARRAY(
            SELECT DISTINCT CASE WHEN p.partner_share AND p.company_id IS NOT NULL
                                 THEN p.company_id ELSE 0 END
              FROM crm_email_res_partner_rel r JOIN res_partner p ON p.id = r.partner_id
             WHERE r.email_id = e.id ORDER BY 1), '{}')
    """)
    )
    # lead_company_id / lead_user_id: related to the deal's company and salesperson.
    cr.execute(
        SQL("""
        UPDATE crm_email e SET lead_company_id = l.company_id, lead_user_id = l.user_id
          FROM crm_lead l WHERE l.id = e.lead_id
    """)
    )


def vacuum_analyze(db, host, user):
    """Statistics and visibility maps as a live database has them.

    Bulk-loaded tables have no visibility map until vacuumed, so every index-only scan reads
    the heap; on these machines autovacuum is off, so the benchmark vacuums after building.
    """
    sh("psql", "-h", host, "-U", user, "-q", "-c", "VACUUM ANALYZE", db)


def timed(fn, runs=15):
    fn()  # warm the rule cache and the plan cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def log_sql_once(label, who, run):
    """Run once with odoo.sql_db at DEBUG and print the statements."""
    import logging

    statements = []

    class Collect(logging.Handler):
        def emit(self, record):
            statements.append(record.getMessage())

    logger, handler = logging.getLogger("odoo.sql_db"), Collect()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        run()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    print(f"--- SQL of {label} as {who}: {len(statements)} statements")
    for statement in statements:
        print(statement, flush=True)


def measure(env, log_sql=False):
    cr = env.cr
    cr.execute("""SELECT r.partner_id, count(*) FROM crm_email_res_partner_rel r
                  GROUP BY 1 ORDER BY 2 DESC LIMIT 1""")
    contact_id, _count = cr.fetchone()
    contact = env["res.partner"].browse(contact_id)
    company = contact.commercial_partner_id
    cr.execute("""SELECT u.id FROM res_users u WHERE u.login LIKE 'bench%%'
                  AND u.email_sharing_mode = 'public' ORDER BY u.id LIMIT 1 OFFSET 3""")
    viewer = env["res.users"].browse(cr.fetchone()[0])
    fields_ = ["date", "email_from", "subject"]
    cases = [
        ("contact list, first page", contact._crm_email_domain(), "page"),
        ("company list, first page", company._crm_email_domain(), "page"),
        ("company count", company._crm_email_domain(), "count"),
    ]
    print(
        f"viewer {viewer.login} ({viewer.email_sharing_mode}), contact {contact.name}, "
        f"company {company.name}"
    )
    print(f"{'query':28} {'user ms':>9} {'super ms':>9} {'ratio':>6} {'rows user/super':>16}")
    for label, domain, kind in cases:
        results = {}
        for who, model in (
            ("user", env["crm.email"].with_user(viewer)),
            # sudo: the baseline the rules are measured against, no rules at all.
            ("super", env["crm.email"].sudo()),
        ):

            def run(model=model, domain=domain, kind=kind, who=who, results=results):
                model.env.invalidate_all()
                if kind == "count":
                    results[who + "_n"] = model.search_count(domain)
                else:
                    records = model.search_fetch(domain, ["date", "email_from"], limit=80)
                    records.read(fields_)
                    results[who + "_n"] = len(records)

            results[who] = timed(run)
            if log_sql:
                log_sql_once(label, who, run)
        ratio = results["user"] / results["super"] if results["super"] else float("nan")
        print(
            f"{label:28} {results['user']:9.1f} {results['super']:9.1f} {ratio:6.2f} "
            f"{results['user_n']:>7}/{results['super_n']:<7}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="cmc_bench_sharing")
    parser.add_argument("--template", default="cmc_probe")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path", default=None)
    parser.add_argument(
        "--vacuum",
        action="store_true",
        help="VACUUM ANALYZE before measuring (done anyway after a build)",
    )
    parser.add_argument(
        "--log-sql",
        action="store_true",
        help="print the SQL of one run of each query, as user and superuser",
    )
    args = parser.parse_args()

    import odoo
    from odoo.tools import config

    exists = subprocess.run(
        ["psql", "-h", args.db_host, "-U", args.db_user, "-lqt"],
        capture_output=True,
        text=True,
    ).stdout
    fresh = args.rebuild or f" {args.db} " not in exists
    odoo_args = [
        "-d",
        args.db,
        f"--db_host={args.db_host}",
        f"--db_user={args.db_user}",
        "--log-level=warn",
    ]
    if args.addons_path:
        odoo_args.append(f"--addons-path={args.addons_path}")
    if fresh:
        sh("dropdb", "-h", args.db_host, "--if-exists", args.db)
        sh("createdb", "-h", args.db_host, "-T", args.template, args.db)
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
    if args.vacuum:
        vacuum_analyze(args.db, args.db_host, args.db_user)
    registry = odoo.modules.registry.Registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        cr.execute("SELECT count(*) FROM crm_email")
        if cr.fetchone()[0] < N_EMAILS:
            started = time.perf_counter()
            build(env, random.Random(42))
            cr.commit()  # a benchmark database, not a test
            print(f"setup {time.perf_counter() - started:.0f}s", flush=True)
            vacuum_analyze(args.db, args.db_host, args.db_user)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        measure(env, log_sql=args.log_sql)
        cr.rollback()


if __name__ == "__main__":
    main()
