#!/usr/bin/env python3
"""Two Odoo server processes syncing one database with their cron threads, against one.

Usage:
    python3 bench/bench_two_workers.py --database DB [--mailboxes 300] [--messages 20]
        -- --addons-path=<odoo>/addons,<this repository> --db_host=127.0.0.1 --db_user=root

The database must have crm_mail_channel installed; the script writes to it: use a
throw-away database. It fills two sets of ``--mailboxes`` Dovecot mailboxes with
``--messages`` messages each (every message from a known contact, its own Message-ID), then
syncs the first set with ONE Odoo server process (two cron threads) and the second set with
TWO server processes (two cron threads each), the sync jobs (two lanes) started at once.
It prints, without asserting anything: wall time and messages per second of each run, the
ratio, and for each run the emails stored, duplicates (one Message-ID stored twice) and
messages missing.

With ``--queue-job`` (the database needs crm_mail_channel_queue_job, which pulls OCA's
queue_job): one run, TWO Odoo processes started with ``--load=base,web,queue_job`` and the
channels line of the README (``ODOO_QUEUE_JOB_CHANNELS``); the cron enqueues one job per
mailbox, the mailboxes spread over the gmail, microsoft and other presets (all on the local
Dovecot), and queue_job's runner runs the jobs. It prints duplicates, missing, throughput, and
the most jobs seen started at once per channel (queue_job table polled every 0.1 s) beside
each channel's capacity. One runner is master (an advisory lock): it runs the jobs through its
own process's HTTP threads, while both processes run the crons.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg2  # noqa: E402
from odoo import SUPERUSER_ID, api  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402
from odoo.tools import config  # noqa: E402

from crm_mail_channel_testing.dovecot import ensure_dovecot  # noqa: E402
from crm_mail_channel_testing.samples import make_message  # noqa: E402

CONTACT = "ann.workers@acme-bench.example"
LANES = ("crm_mail_channel.ir_cron_sync_mailboxes", "crm_mail_channel.ir_cron_sync_mailboxes_lane2")
# The line crm_mail_channel_queue_job's README recommends.
QUEUE_JOB_CHANNELS = (
    "root:8,root.crm_mail:6,root.crm_mail.gmail:2,root.crm_mail.microsoft:2,"
    "root.crm_mail.zoho:2,root.crm_mail.yahoo:2,root.crm_mail.icloud:2,root.crm_mail.other:4"
)
QUEUE_JOB_PRESETS = ("gmail", "microsoft", "other_imap")
ACTIVE_JOB_STATES = ["pending", "enqueued", "started", "wait_dependencies"]


def process_cpu(pid):
    """CPU seconds of a process and its children so far (0 once it is gone)."""
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        return times.user + times.system + times.children_user + times.children_system
    except psutil.Error:
        return 0.0


def machine_busy(times):
    """CPU seconds the whole machine spent on anything but idling."""
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Bench:
    def __init__(self, args, odoo_args):
        self.args = args
        self.odoo_args = odoo_args
        self.db = args.database
        self.dovecot = ensure_dovecot()
        self.procs = []
        self.pg = psycopg2.connect(
            dbname=self.db,
            host=config["db_host"] or None,
            port=config["db_port"] or None,
            user=config["db_user"] or None,
        )
        self.pg.autocommit = True

    def sql(self, query, params=()):
        with self.pg.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None

    def setup(self):
        """Two sets of paused mailboxes, filled; returns their ids and message ids."""
        n, k = self.args.mailboxes, self.args.messages
        tag = uuid.uuid4().hex[:6]
        sets = []
        registry = Registry(self.db)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            if not env["res.partner"].search([("email", "=", CONTACT)]):
                env["res.partner"].create({"name": "Ann Workers", "email": CONTACT})
            group = env.ref("sales_team.group_sale_salesman")
            owners = env["res.users"].create(
                [
                    {
                        "name": f"Workers seller {tag} {i}",
                        "login": f"workers-{tag}-{i}",
                        "email": f"w{i}-{tag}@ourco-bench.example",
                        "groups_id": [(6, 0, [group.id])],
                    }
                    for i in range(max(1, n // 10))
                ]
            )
            for run in ("one", "two"):
                users = [(f"w{tag}{run}{i:03d}", "secret") for i in range(n)]
                self.dovecot.add_users(users)
                message_ids = []
                when = datetime.now() - timedelta(days=1)
                for login, password in users:
                    raws = []
                    for j in range(k):
                        message_id = f"<w-{uuid.uuid4().hex}@bench.example>"
                        message_ids.append(message_id)
                        raws.append(
                            make_message(
                                CONTACT,
                                f"{login}@ourco-bench.example",
                                f"Order {j}",
                                f"Message {j} for {login}",
                                when,
                                message_id=message_id,
                            )
                        )
                    self.dovecot.append_messages(login, password, "INBOX", raws)
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
                            "state": "paused",
                            "preset": QUEUE_JOB_PRESETS[i % len(QUEUE_JOB_PRESETS)]
                            if self.args.queue_job
                            else False,
                        }
                        for i, (login, password) in enumerate(users)
                    ]
                )
                sets.append((mailboxes.ids, message_ids))
            self.cron_ids = [env.ref(xmlid).id for xmlid in LANES]
            # Mailboxes of earlier runs are not part of this one.
            ours = [mailbox_id for ids, _msgs in sets for mailbox_id in ids]
            cr.execute("UPDATE crm_mailbox SET state = 'paused' WHERE NOT (id = ANY(%s))", [ours])
            if self.args.queue_job:
                # Jobs left by earlier runs are not part of this one.
                cr.execute(
                    "UPDATE queue_job SET state = 'cancelled' WHERE state = ANY(%s) "
                    "AND identity_key LIKE 'crm_mailbox_sync:%%'",
                    [ACTIVE_JOB_STATES],
                )
            cr.commit()
        return sets

    def odoo_cmd(self, *extra):
        addons = [a for a in self.odoo_args if a.startswith("--addons-path")]
        rest = [a for a in self.odoo_args if not a.startswith("--addons-path")]
        return [sys.executable, "-m", "odoo", *addons, *extra, "-d", self.db, *rest]

    def start_servers(self, count):
        procs = []
        env = dict(os.environ)
        extra = []
        if self.args.queue_job:
            env["ODOO_QUEUE_JOB_CHANNELS"] = QUEUE_JOB_CHANNELS
            extra = ["--load=base,web,queue_job"]
        for i in range(count):
            log = open(f"/tmp/bench_two_workers_{count}_{i}.log", "w")  # noqa: SIM115
            cmd = self.odoo_cmd(
                f"--http-port={self.args.http_port + i}",
                "--workers=0",
                "--max-cron-threads=2",
                "--log-level=warn",
                *extra,
            )
            procs.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd="/tmp", env=env)
            )
        self.procs += procs
        return procs

    def wait_http(self, count):
        """Until every server answers HTTP: its cron threads listen by then."""
        for i in range(count):
            url = f"http://127.0.0.1:{self.args.http_port + i}/web/health"
            for _ in range(240):
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except OSError:
                    time.sleep(0.5)
        time.sleep(2)

    def stop(self, procs):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()

    def run_one(self, processes, mailbox_ids, message_ids):
        # Other mailboxes stay paused; the crons wait in the future until all servers run.
        self.sql(
            "UPDATE ir_cron SET nextcall = now() AT TIME ZONE 'UTC' + interval '1 day' "
            "WHERE id = ANY(%s)",
            (self.cron_ids,),
        )
        self.sql("UPDATE crm_mailbox SET state = 'connected' WHERE id = ANY(%s)", (mailbox_ids,))
        procs = self.start_servers(processes)
        time.sleep(20)  # registries loaded (warm start for both runs)
        self.wait_http(processes)
        machine_before = psutil.cpu_times()
        odoo_before = sum(process_cpu(proc.pid) for proc in procs)
        started = time.monotonic()
        self.sql(
            "UPDATE ir_cron SET nextcall = now() AT TIME ZONE 'UTC' WHERE id = ANY(%s)",
            (self.cron_ids,),
        )
        # The cron threads listen on the ``postgres`` database (Odoo's ir.cron._notifydb).
        wake = psycopg2.connect(
            dbname="postgres",
            host=config["db_host"] or None,
            port=config["db_port"] or None,
            user=config["db_user"] or None,
        )
        wake.autocommit = True
        with wake.cursor() as cr:
            cr.execute("SELECT pg_notify('cron_trigger', %s)", (self.db,))
        wake.close()
        expected = len(message_ids)
        stored = 0
        peaks = {}
        polled = 0
        while time.monotonic() - started < self.args.limit:
            if self.args.queue_job:
                keys = [f"crm_mailbox_sync:{mailbox_id}" for mailbox_id in mailbox_ids]
                for channel, running in self.sql(
                    "SELECT channel, count(*) FROM queue_job WHERE state = 'started' "
                    "AND identity_key = ANY(%s) GROUP BY channel",
                    (keys,),
                ):
                    peaks[channel] = max(peaks.get(channel, 0), running)
                polled += 1
            if polled % 5 == 0 or not self.args.queue_job:
                stored = self.sql(
                    "SELECT count(DISTINCT message_id) FROM crm_email WHERE message_id = ANY(%s)",
                    (message_ids,),
                )[0][0]
                if stored >= expected:
                    break
            time.sleep(0.1 if self.args.queue_job else 0.5)
        elapsed = time.monotonic() - started
        odoo_cpu = sum(process_cpu(proc.pid) for proc in procs) - odoo_before
        machine_after = psutil.cpu_times()
        busy = machine_busy(machine_after) - machine_busy(machine_before)
        self.stop(procs)
        self.sql("UPDATE crm_mailbox SET state = 'paused' WHERE id = ANY(%s)", (mailbox_ids,))
        rows = self.sql(
            "SELECT count(*), count(DISTINCT message_id) FROM crm_email WHERE message_id = ANY(%s)",
            (message_ids,),
        )[0]
        presences = self.sql(
            "SELECT count(*), count(DISTINCT (p.email_id, p.folder_id)) "
            "FROM crm_email_presence p JOIN crm_email e ON e.id = p.email_id "
            "WHERE e.message_id = ANY(%s)",
            (message_ids,),
        )[0]
        jobs = {}
        if self.args.queue_job:
            keys = [f"crm_mailbox_sync:{mailbox_id}" for mailbox_id in mailbox_ids]
            jobs = dict(
                self.sql(
                    "SELECT state, count(*) FROM queue_job WHERE identity_key = ANY(%s) "
                    "GROUP BY state",
                    (keys,),
                )
            )
            jobs["span"] = self.sql(
                "SELECT extract(epoch FROM max(date_done) - min(date_started)), "
                "extract(epoch FROM max(date_created) - min(date_created)) "
                "FROM queue_job WHERE identity_key = ANY(%s)",
                (keys,),
            )[0]
            self.sql(
                "UPDATE queue_job SET state = 'cancelled' WHERE state = ANY(%s) "
                "AND identity_key = ANY(%s)",
                (ACTIVE_JOB_STATES, keys),
            )
        return {
            "machine_busy": busy / (elapsed * (os.cpu_count() or 1)) if elapsed else 0,
            "odoo_cores": odoo_cpu / elapsed if elapsed else 0,
            "peaks": peaks,
            "jobs": jobs,
            "seconds": elapsed,
            "rate": rows[1] / elapsed if elapsed else 0,
            "emails": rows[0],
            "duplicates": rows[0] - rows[1] + presences[0] - presences[1],
            "missing": expected - rows[1],
        }

    def run(self):
        print(
            f"conditions: {os.cpu_count()} CPU cores shared with other jobs, load "
            f"{os.getloadavg()[0]:.1f}; Dovecot, PostgreSQL, the Odoo servers on one host; "
            f"{self.args.mailboxes} mailboxes x {self.args.messages} messages per run"
        )
        (one_ids, one_msgs), (two_ids, two_msgs) = self.setup()
        if self.args.queue_job:
            self.run_queue_job(two_ids, two_msgs)
            return
        results = {}
        for processes, ids, msgs in ((1, one_ids, one_msgs), (2, two_ids, two_msgs)):
            result = self.run_one(processes, ids, msgs)
            results[processes] = result
            print(
                f"{processes} Odoo process(es), 2 cron threads each, 2 sync lanes: "
                f"{len(msgs)} messages in {result['seconds']:.1f} s = {result['rate']:.0f} msg/s;"
                f" emails {result['emails']}, duplicates {result['duplicates']}, "
                f"missing {result['missing']}"
            )
            print(
                f"  CPU: the machine {result['machine_busy']:.0%} busy "
                f"({os.cpu_count()} cores); the Odoo process(es) used "
                f"{result['odoo_cores']:.2f} cores, the rest went to PostgreSQL, Dovecot and "
                "this script"
            )
        if results[1]["rate"]:
            print(f"throughput two processes / one: {results[2]['rate'] / results[1]['rate']:.2f}x")

    def run_queue_job(self, ids, msgs):
        result = self.run_one(2, ids, msgs)
        print(
            f"queue_job, 2 Odoo processes, channels {QUEUE_JOB_CHANNELS}: {len(msgs)} messages "
            f"in {result['seconds']:.1f} s = {result['rate']:.0f} msg/s; emails "
            f"{result['emails']}, duplicates {result['duplicates']}, missing {result['missing']}"
        )
        run_span, enqueue_span = result["jobs"].pop("span")
        print(
            f"jobs by state: {result['jobs']}; enqueued by the cron in {enqueue_span or 0:.1f} s;"
            f" first job started to last done {run_span or 0:.1f} s = "
            f"{len(msgs) / run_span if run_span else 0:.0f} msg/s"
        )
        capacities = dict(item.split(":") for item in QUEUE_JOB_CHANNELS.split(","))
        for channel, peak in sorted(result["peaks"].items()):
            print(
                f"most jobs started at once on {channel}: {peak} "
                f"(capacity {capacities.get(channel, '?')})"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--mailboxes", type=int, default=300)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--http-port", type=int, default=18180)
    parser.add_argument("--limit", type=float, default=900, help="seconds per run at most")
    parser.add_argument(
        "--queue-job", action="store_true", help="sync with OCA queue_job (see above)"
    )
    argv = sys.argv[1:]
    odoo_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    config.parse_config([*odoo_args, "-d", args.database])
    bench = Bench(args, odoo_args)
    try:
        bench.run()
    finally:
        bench.stop(bench.procs)


if __name__ == "__main__":
    main()
