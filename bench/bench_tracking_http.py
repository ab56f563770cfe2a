#!/usr/bin/env python3
"""Benchmark Email Insights: tracking endpoints through Odoo's HTTP server, and sending cost.

Usage:
    python3 bench/bench_tracking_http.py [--db cmc_bench_tracking] [--rebuild]
        [--port 18173] [--workers 2] [--clients 8] [--requests 2000] [--mails 100]
        [--db-host 127.0.0.1] [--db-user root] [--addons-path <odoo>/addons,<this repository>]

The database is created when missing (crm_mail_channel, plus mass_mailing when it installs)
and written to (a bench user, contacts, tracking rows, sent mail): a throw-away database.

Prints, for the endpoints served by a real Odoo HTTP server (``--workers`` prefork workers,
``--clients`` concurrent keep-alive clients in this process, GET with a browser user agent):
requests/s, p50 and p99 latency of our pixel ``/crm_mail/t/<token>/o.gif`` and our link
``/crm_mail/t/<token>/c/<code>`` (302), side by side with Odoo's own mass-mailing open pixel
``/mail/track/<id>/<token>/blank.gif`` (or link_tracker's ``/r/<code>`` when mass_mailing is
not installed). Target: at least 300 pixel hits/s, at least as fast as Odoo's pixel.

Then sends ``--mails`` mails from a deal to a contact through a loopback SMTP sink, with and
without tracking (posting + mail.mail sending, a warm-up then 4 alternating rounds) and prints
the ratio. Target: at most 1.2x.
"""

import argparse
import http.client
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

# The test-support package lives at the repository root and is not installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
N_TOKENS = 500
BODY = (
    "<p>Hello,</p><p>Here is our <a href='https://shop.example.com/offer'>offer</a>, the "
    "<a href='https://shop.example.com/terms'>terms</a> and "
    "<a href='https://shop.example.com/faq'>answers</a>.</p><p>Best regards</p>"
)


def sh(*args, check=True):
    return subprocess.run(args, check=check)


def db_exists(args):
    listing = subprocess.run(
        ["psql", "-h", args.db_host, "-U", args.db_user, "-lqt"], capture_output=True, text=True
    ).stdout
    return any(line.split("|")[0].strip() == args.db for line in listing.splitlines())


def odoo_args(args):
    values = ["-d", args.db, f"--db_host={args.db_host}", f"--db_user={args.db_user}"]
    if args.addons_path:
        values.append(f"--addons-path={args.addons_path}")
    return values


def build_db(args):
    sh("dropdb", "-h", args.db_host, "-U", args.db_user, "--if-exists", args.db)
    base = [sys.executable, "-m", "odoo", *odoo_args(args), "--log-level=warn"]
    sh(*base, "-i", "crm_mail_channel", "--stop-after-init", "--without-demo=all")
    # Odoo's own open pixel, to compare with; the bench goes on without it if it fails.
    result = sh(*base, "-i", "mass_mailing", "--stop-after-init", "--without-demo=all", check=False)
    if result.returncode:
        print("mass_mailing could not be installed: comparing with link_tracker's /r/<code>")


def setup(env):
    """Tokens, a link code and Odoo's own traces, committed for the HTTP server."""
    from odoo import fields
    from odoo.fields import Command

    from crm_mail_channel_core import identity

    now = fields.Datetime.now()
    partner = env["res.partner"].create({"name": "Bench Contact", "email": "bench@acme.example"})
    emails = env["crm.email"].create(
        [
            {
                "message_id": f"<bench-tracking-{i}-{now.timestamp()}@bench.example>",
                "fingerprint": identity.posted_fingerprint(f"bench-{i}", i),
                "subject": f"Bench {i}",
                "email_from": "seller@ourco.example",
                "email_to": partner.email,
                "partner_ids": [Command.set(partner.ids)],
                "sent_from_crm": True,
                "insights_tracked": True,
            }
            for i in range(N_TOKENS)
        ]
    )
    trackings = env["crm.email.tracking"].create(
        [
            {
                "email_id": email.id,
                "partner_id": partner.id,
                "email_address": partner.email,
                "sent_date": fields.Datetime.subtract(now, days=1),
            }
            for email in emails
        ]
    )
    link = env["link.tracker"].search_or_create(
        [{"url": "https://shop.example.com/offer", "title": "offer"}]
    )
    odoo_pixels = []
    if "mailing.trace" in env:
        base_id = 10_000_000
        mailing = env["mailing.mailing"].create(
            {
                "subject": "Bench",
                "body_html": "<p>x</p>",
                "mailing_model_id": env.ref("base.model_res_partner").id,
            }
        )
        env["mailing.trace"].create(
            [
                {
                    "trace_type": "mail",
                    "model": "res.partner",
                    "res_id": partner.id,
                    "mass_mailing_id": mailing.id,
                    "mail_mail_id_int": base_id + i,
                    "email": partner.email,
                    "trace_status": "sent",
                }
                for i in range(N_TOKENS)
            ]
        )
        token = env["mail.mail"]._generate_mail_recipient_token
        odoo_pixels = [
            f"/mail/track/{mail_id}/{token(mail_id)}/blank.gif"
            for mail_id in range(base_id, base_id + N_TOKENS)
        ]
    return trackings.mapped("token"), link.code, odoo_pixels


# ---------------------------------------------------------------------- HTTP load
def load(port, paths, n_requests, clients):
    """Send ``n_requests`` GETs over ``clients`` keep-alive connections: (req/s, p50, p99)."""
    latencies, errors, lock = [], [], threading.Lock()
    per_client = n_requests // clients

    def worker(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _i in range(per_client):
            path = rng.choice(paths)
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers={"User-Agent": CHROME})
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors.append(response.status)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return len(latencies) / elapsed, p50, p99, errors


def start_server(args):
    import odoo

    # odoo-bin, not "python -m odoo": the prefork server re-runs sys.argv[0] for its
    # gevent worker, which fails (and respawns) when that is odoo/__main__.py.
    odoo_bin = Path(odoo.__file__).resolve().parent.parent / "odoo-bin"
    command = [
        sys.executable,
        str(odoo_bin),
        *odoo_args(args),
        f"--http-port={args.port}",
        f"--workers={args.workers}",
        "--max-cron-threads=0",
        f"--db-filter=^{args.db}$",
        "--log-level=warn",
        "--limit-time-real=600",
    ]
    server = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/web/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise SystemExit("the Odoo HTTP server did not start")


def stop_server(server):
    try:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its own workers only
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def bench_http(args, tokens, code, odoo_pixels):
    ours_pixel = [f"/crm_mail/t/{token}/o.gif" for token in tokens]
    ours_click = [f"/crm_mail/t/{token}/c/{code}" for token in tokens]
    if odoo_pixels:
        theirs, theirs_label = odoo_pixels, "mass_mailing /mail/track/.../blank.gif"
    else:
        theirs, theirs_label = [f"/r/{code}"], "link_tracker /r/<code>"
    server = start_server(args)
    try:
        for paths in (ours_pixel, theirs, ours_click):  # warm up every worker
            load(args.port, paths, 20 * args.clients, args.clients)
        print(
            f"\nHTTP: Odoo {args.workers} workers, {args.clients} concurrent clients, "
            f"{args.requests} requests per endpoint"
        )
        print(f"{'endpoint':45} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} errors")
        rows = [
            ("ours: pixel /crm_mail/t/<token>/o.gif", ours_pixel),
            (f"odoo: {theirs_label}", theirs),
            ("ours: link /crm_mail/t/<token>/c/<code>", ours_click),
            ("ours: pixel (again)", ours_pixel),
            (f"odoo: {theirs_label} (again)", theirs),
        ]
        for label, paths in rows:
            rate, p50, p99, errors = load(args.port, paths, args.requests, args.clients)
            print(f"{label:45} {rate:8.0f} {p50:8.1f} {p99:8.1f} {len(errors)}", flush=True)
    finally:
        stop_server(server)


# ---------------------------------------------------------------------- sending cost
def bench_sending(registry, args):
    import odoo
    from odoo import modules

    from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

    sink = ensure_smtp_sink()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.mail_server"].search([]).write({"active": False})
        env["ir.mail_server"].create(
            {
                "name": "Bench sink",
                "smtp_host": sink.host,
                "smtp_port": sink.port,
                "smtp_encryption": "none",
            }
        )
        user = env["res.users"].create(
            {
                "name": "Bench Seller",
                "login": f"bench_seller_{time.time_ns()}",
                "email": "seller@ourco.example",
                "groups_id": [(6, 0, [env.ref("sales_team.group_sale_salesman").id])],
            }
        )
        contact = env["res.partner"].create({"name": "Joe Bench", "email": "joe@acme.example"})
        lead = env["crm.lead"].create(
            {
                "name": "Bench deal",
                "partner_id": contact.id,
                "type": "opportunity",
                "user_id": user.id,
            }
        )
        params = env["ir.config_parameter"]
        assert not modules.module.current_test  # real SMTP
        times = {"with tracking": [], "without tracking": []}
        # Round 0 warms up (link codes, caches) and is not counted; then alternate, the
        # order flipped each round so a load drift on the machine hits both sides.
        for round_no in range(args.rounds + 1):
            order = ("without tracking", "with tracking")
            for label in order if round_no % 2 else order[::-1]:
                params.set_param(
                    "crm_mail_channel.insights_enabled",
                    "True" if label == "with tracking" else "False",
                )
                env.flush_all()
                before = len(sink.messages)
                started = time.perf_counter()
                seller_lead = lead.with_user(user).with_context(mail_notify_force_send=False)
                messages = [
                    seller_lead.message_post(
                        body=BODY,
                        subject=f"Offer {i}",
                        partner_ids=contact.ids,
                        message_type="comment",
                        subtype_xmlid="mail.mt_comment",
                    )
                    for i in range(args.mails)
                ]
                mails = env["mail.mail"].search(
                    [("mail_message_id", "in", [m.id for m in messages])]
                )
                mails.send()
                env.flush_all()
                elapsed = time.perf_counter() - started
                if round_no:
                    times[label].append(elapsed)
                deadline = time.monotonic() + 10
                while len(sink.messages) - before < args.mails and time.monotonic() < deadline:
                    time.sleep(0.05)
                tracked = env["crm.email.tracking"].search_count(
                    [("mail_message_id", "in", [m.message_id for m in messages])]
                )
                print(
                    f"  round {round_no or 'warm-up'}: {label:17} {args.mails} mails "
                    f"{elapsed:6.2f} s, "
                    f"{len(sink.messages) - before} reached SMTP, {tracked} tracking rows",
                    flush=True,
                )
        cr.rollback()  # nothing of the sending bench stays
    best_with, best_without = min(times["with tracking"]), min(times["without tracking"])
    ratios = [
        w / wo for w, wo in zip(times["with tracking"], times["without tracking"], strict=True)
    ]
    print(
        f"\nSending {args.mails} mails (post + send, best of {args.rounds}): without tracking "
        f"{best_without:.2f} s, with tracking {best_with:.2f} s, ratio of the bests "
        f"{best_with / best_without:.2f}x, median of the per-round ratios "
        f"{statistics.median(ratios):.2f}x (target <= 1.2x)"
    )


def odoo_addons_dir():
    """Odoo's own addons folder (crm, mail) next to the importable ``odoo`` package."""
    import odoo

    package = Path(odoo.__file__).parent
    for candidate in (package.parent / "addons", package / "addons"):
        if (candidate / "crm").is_dir():
            return str(candidate)
    raise SystemExit("Odoo's own addons (crm, mail) were not found; pass --addons-path")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="cmc_bench_tracking")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path", default=f"{odoo_addons_dir()},{ROOT}")
    parser.add_argument("--port", type=int, default=18173)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-sending", action="store_true")
    args = parser.parse_args()

    import odoo
    from odoo.tools import config

    if args.rebuild or not db_exists(args):
        build_db(args)
    config.parse_config([*odoo_args(args), "--log-level=warn"])
    registry = odoo.modules.registry.Registry(args.db)
    if not args.skip_sending:
        bench_sending(registry, args)
    if not args.skip_http:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            tokens, code, odoo_pixels = setup(env)
            cr.commit()  # a benchmark database: the HTTP server reads these rows
        bench_http(args, tokens, code, odoo_pixels)


if __name__ == "__main__":
    main()
