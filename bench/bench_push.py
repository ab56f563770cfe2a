#!/usr/bin/env python3
"""Benchmark push (IMAP IDLE) against 5-minute polling: real Dovecot, real Odoo processes.

Usage:
    python3 bench/bench_push.py --database DB [--mailboxes 300] [--appends 100] [--seconds 60]
        -- --addons-path=<odoo>/addons,<this repository> --db_host=127.0.0.1 --db_user=root

The database must have crm_mail_channel installed; the script writes to it (bench users,
mailboxes, a contact, imported emails): use a throw-away database.

What runs: one Odoo server process (threaded, one cron thread: the sync cron), and the push
service(s) (``python3 -m odoo crm_mail_push``), each its own process. The script appends one
message to ``--appends`` random mailboxes spread over ``--seconds`` and prints, without
asserting anything:
- p50/p95 seconds from the end of the APPEND to the email's row being visible in the
  database (committed by the cron worker), with push;
- the same for 5-minute polling, SIMULATED from the cron schedule (not measured: it would
  take hours): arrival uniform over the 5-minute interval, plus the wait for the mailbox's
  turn in the polling round, with the per-mailbox sync time measured here in the first sync;
- the push service's resident memory with no mailbox and with all mailboxes idle, and the
  database connections it holds;
- the time a second service takes to take over the mailboxes of a first one killed with
  SIGKILL, and whether mail appended just after the kill arrives.
"""

import argparse
import atexit
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg2  # noqa: E402
from odoo import SUPERUSER_ID, api  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402
from odoo.tools import config  # noqa: E402

from crm_mail_channel_testing.dovecot import DovecotServer  # noqa: E402
from crm_mail_channel_testing.samples import make_message  # noqa: E402

CONTACT = "joe.push@acme-bench.example"


class BenchDovecot(DovecotServer):
    """A private Dovecot that tells IDLE clients about new mail within a second.

    The test Dovecot runs every mail user under one system uid; Linux allows 128 inotify
    instances per uid (fs.inotify.max_user_instances), so beyond 128 IDLE sessions Dovecot
    falls back to checking each mailbox every ``mailbox_idle_check_interval`` (30 s by
    default): a limit of this test setup, not of push. Checking every second adds up to 1 s.
    """

    def _write_config(self):
        super()._write_config()
        with open(self.config_path, "a") as conf:
            conf.write("mailbox_idle_check_interval = 1 secs\n")


POLL_MINUTES = 5


def quantile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


class Bench:
    def __init__(self, args, odoo_args):
        self.args = args
        self.odoo_args = odoo_args
        self.db = args.database
        self.dovecot = BenchDovecot().start()
        atexit.register(self.dovecot.cleanup)
        self.procs = []
        self.logs = Path(args.log_dir)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pg = psycopg2.connect(
            dbname=self.db,
            host=config["db_host"] or None,
            port=config["db_port"] or None,
            user=config["db_user"] or None,
            password=config["db_password"] or None,
        )
        self.pg.autocommit = True

    def sql(self, query, params=()):
        with self.pg.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None

    # ---- setup -----------------------------------------------------------------------------
    def setup(self):
        n = self.args.mailboxes
        tag = uuid.uuid4().hex[:6]
        users = [(f"push{tag}{i:03d}", "secret") for i in range(n)]
        self.dovecot.add_users(users)
        registry = Registry(self.db)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            if not env["res.partner"].search([("email", "=", CONTACT)]):
                env["res.partner"].create({"name": "Joe Push", "email": CONTACT})
            owners = env["res.users"].create(
                [
                    {
                        "name": f"Bench seller {tag} {i}",
                        "login": f"bench-{tag}-{i}",
                        "email": f"seller{i}-{tag}@ourco-bench.example",
                        "groups_id": [(6, 0, [env.ref("sales_team.group_sale_salesman").id])],
                    }
                    for i in range(max(1, n // 10))
                ]
            )
            mailboxes = env["crm.mailbox"].create(
                [
                    {
                        "user_id": owners[i % len(owners)].id,
                        "protocol": "imap",
                        "host": self.dovecot.host,
                        "port": self.dovecot.imap_port,
                        "security": "none",
                        "login": login,
                        "password": password,
                        "state": "connected",
                    }
                    for i, (login, password) in enumerate(users)
                ]
            )
            self.mailboxes = dict(zip(mailboxes.ids, [u[0] for u in users], strict=True))
            # Mailboxes of an earlier run (on another Dovecot) are not part of this one.
            cr.execute(
                "UPDATE crm_mailbox SET state = 'paused' WHERE NOT (id = ANY(%s))", [mailboxes.ids]
            )
            cr.commit()
            # The first sync of every (empty) mailbox, as the cron would do it.
            started = time.monotonic()
            for mailbox in mailboxes:
                mailbox._try_lock()
                mailbox._sync(max_seconds=60)
                cr.commit()
            self.sync_seconds = (time.monotonic() - started) / len(mailboxes)
            # Not watched until the push service's baseline memory is measured.
            cr.execute(
                "UPDATE crm_mailbox SET state = 'paused' WHERE id = ANY(%s)", [mailboxes.ids]
            )
            cr.commit()
        print(f"setup: {n} mailboxes; first sync of an empty mailbox {self.sync_seconds:.3f} s")

    # ---- processes -------------------------------------------------------------------------
    def odoo_cmd(self, *extra):
        addons = [a for a in self.odoo_args if a.startswith("--addons-path")]
        rest = [a for a in self.odoo_args if not a.startswith("--addons-path")]
        return [sys.executable, "-m", "odoo", *addons, *extra, "-d", self.db, *rest]

    def spawn(self, name, cmd):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd="/tmp")
        self.procs.append(proc)
        return proc

    def start_server(self):
        port = self.args.http_port
        self.server = self.spawn(
            "server",
            self.odoo_cmd(
                f"--http-port={port}", "--workers=0", "--max-cron-threads=1", "--log-level=warn"
            ),
        )

    def start_push(self, name):
        return self.spawn(name, self.odoo_cmd("crm_mail_push", "--log-level=warn"))

    def wait(self, condition, limit, what):
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if condition():
                return time.monotonic() - started
            time.sleep(0.2)
        print(f"  (gave up waiting for {what} after {limit} s)")
        return None

    def holder_of(self, proc):
        rows = self.sql(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"crm\\_mail\\_push:%-{proc.pid}-%",),
        )
        return rows[0][0].split(":", 1)[1] if rows else None

    def watching(self, holder=None):
        query = "SELECT count(*) FROM crm_mailbox_lease WHERE push_status = 'watching'"
        params = ()
        if holder:
            query += " AND holder = %s"
            params = (holder,)
        return self.sql(query, params)[0][0]

    def pending(self):
        return self.sql(
            "SELECT count(*) FROM crm_mailbox_lease l JOIN crm_mailbox m ON m.id = l.mailbox_id "
            "WHERE l.pushed_at > COALESCE(m.push_synced_at, '-infinity'::timestamp)"
        )[0][0]

    def connections(self, holder):
        return self.sql(
            "SELECT datname, count(*) FROM pg_stat_activity WHERE application_name = %s "
            "GROUP BY datname ORDER BY datname",
            (("crm_mail_push:" + holder)[:63],),
        )

    # ---- appends and visibility ------------------------------------------------------------
    def append(self, mailbox_id, appended):
        login = self.mailboxes[mailbox_id]
        message_id = f"<push-{uuid.uuid4().hex}@bench.example>"
        raw = make_message(
            CONTACT,
            f"{login}@ourco-bench.example",
            "Reply",
            "Looks good",
            datetime.now(),
            message_id=message_id,
        )
        self.dovecot.append_messages(login, "secret", "INBOX", [raw])
        appended[message_id] = time.monotonic()

    def watch_visibility(self, appended, seen, stop):
        while not stop.is_set():
            waiting = [m for m in list(appended) if m not in seen]
            if waiting:
                rows = self.sql(
                    "SELECT message_id FROM crm_email WHERE message_id = ANY(%s)", (waiting,)
                )
                now = time.monotonic()
                for (message_id,) in rows:
                    seen.setdefault(message_id, now)
            time.sleep(0.05)

    def run_appends(self, mailbox_ids, seconds):
        appended, seen, stop = {}, {}, threading.Event()
        watcher = threading.Thread(target=self.watch_visibility, args=(appended, seen, stop))
        watcher.start()
        gap = seconds / max(len(mailbox_ids), 1)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            for i, mailbox_id in enumerate(mailbox_ids):
                time.sleep(max(0, started + i * gap - time.monotonic()))
                pool.submit(self.append, mailbox_id, appended)
        self.wait(lambda: len(seen) >= len(appended), 180, "all emails visible")
        stop.set()
        watcher.join()
        return [seen[m] - appended[m] for m in appended if m in seen], len(appended) - len(seen)

    # ---- the run ---------------------------------------------------------------------------
    def simulate_polling(self, samples=100_000):
        """Latency with the 5-minute cron and no push: wait for the next run, then for the
        mailbox's turn among all mailboxes synced in that run."""
        rng = random.Random(14)
        interval = POLL_MINUTES * 60
        n = self.args.mailboxes
        latencies = [
            rng.uniform(0, interval) + (rng.randrange(n) + 1) * self.sync_seconds
            for _ in range(samples)
        ]
        return quantile(latencies, 0.5), quantile(latencies, 0.95)

    def run(self):
        args = self.args
        print(
            f"conditions: {os.cpu_count()} CPU cores shared with other jobs, load "
            f"{os.getloadavg()[0]:.1f}; Dovecot, PostgreSQL, Odoo and the bench on one host; "
            "Dovecot checks idle mailboxes every second (BenchDovecot)"
        )
        self.setup()
        self.start_server()
        push_a = self.start_push("push_a")
        self.wait(lambda: self.holder_of(push_a), 120, "push service A")
        holder_a = self.holder_of(push_a)
        time.sleep(5)
        rss_empty = psutil.Process(push_a.pid).memory_info().rss / 2**20
        ids = sorted(self.mailboxes)
        self.sql("UPDATE crm_mailbox SET state = 'connected' WHERE id = ANY(%s)", (ids,))
        picked = self.wait(lambda: self.watching(holder_a) >= len(ids), 180, "all in IDLE")
        time.sleep(10)
        rss_full = psutil.Process(push_a.pid).memory_info().rss / 2**20
        conns = self.connections(holder_a)
        print(
            f"push service A: {len(ids)} mailboxes added, all in IDLE after "
            f"{picked and round(picked, 1)} s (refresh every 10 s)"
        )
        print(
            f"push service RSS: {rss_empty:.0f} MB with no mailbox (no Odoo registry: "
            "crm_mail_channel_core.push_main), "
            f"{rss_full:.0f} MB with {len(ids)} idle mailboxes "
            f"(+{(rss_full - rss_empty) * 1024 / len(ids):.0f} KB per mailbox); target <= 100 MB"
        )
        print(f"push service DB connections: {conns} (target: a small constant)")

        # Each new watch asks for one catch-up sync (mail that came while not watched): let
        # the cron finish those first, to measure the steady state.
        caught_up = self.wait(lambda: not self.pending(), 300, "the catch-up syncs")
        print(
            f"catch-up syncs of the {len(ids)} new watches done after "
            f"{caught_up and round(caught_up, 1)} s more"
        )
        chosen = random.Random(1).sample(ids, min(args.appends, len(ids)))
        latencies, missing = self.run_appends(chosen, args.seconds)
        p50, p95 = quantile(latencies, 0.5), quantile(latencies, 0.95)
        print(
            f"push: {len(latencies)} emails, APPEND -> visible p50 {p50:.2f} s, "
            f"p95 {p95:.2f} s, max {max(latencies):.2f} s, missing {missing} (target p95 <= 5 s)"
        )
        poll50, poll95 = self.simulate_polling()
        print(
            f"5-minute polling (simulated from the cron schedule, {self.sync_seconds:.3f} s per "
            f"mailbox sync): p50 {poll50:.0f} s, p95 {poll95:.0f} s"
        )

        push_b = self.start_push("push_b")
        self.wait(lambda: self.holder_of(push_b), 120, "push service B")
        holder_b = self.holder_of(push_b)
        half = len(ids) // 2
        shared = self.wait(
            lambda: self.watching(holder_b) >= half - 1 and self.watching(holder_a) >= half - 1,
            180,
            "an even share",
        )
        print(
            f"two services: shared after {shared and round(shared, 1)} s: "
            f"A {self.watching(holder_a)}, B {self.watching(holder_b)}"
        )
        a_ids = [
            r[0]
            for r in self.sql(
                "SELECT mailbox_id FROM crm_mailbox_lease WHERE holder = %s", (holder_a,)
            )
        ]
        os.kill(push_a.pid, signal.SIGKILL)
        killed = time.monotonic()
        lost_check = random.Random(2).sample(a_ids, min(5, len(a_ids)))
        late = {}
        appender = threading.Thread(
            target=lambda: late.update(result=self.run_appends(lost_check, 1))
        )
        appender.start()
        took = self.wait(lambda: self.watching(holder_b) >= len(ids), 180, "takeover")
        took_total = time.monotonic() - killed if took is not None else None
        appender.join()
        late_latencies, late_missing = late["result"]
        print(
            f"kill -9 of A: B watches all {len(ids)} mailboxes "
            f"{took_total and round(took_total, 1)} s after the kill (lease 30 s, refresh 10 s;"
            f" target <= 60 s); {len(late_latencies)} of {len(lost_check)} emails appended "
            f"to A's mailboxes just after the kill arrived (max "
            f"{max(late_latencies or [0]):.1f} s), missing {late_missing}"
        )
        print(f"push service B DB connections: {self.connections(holder_b)}")

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--mailboxes", type=int, default=300)
    parser.add_argument("--appends", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--http-port", type=int, default=18178)
    parser.add_argument("--log-dir", default="/tmp/bench_push_logs")
    argv = sys.argv[1:]
    odoo_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    config.parse_config([*odoo_args, "-d", args.database])
    bench = Bench(args, odoo_args)
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
