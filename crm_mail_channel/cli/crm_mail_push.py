"""The push service, an Odoo command started beside the server processes:

    python3 -m odoo --addons-path=... crm_mail_push -d DB [--db_host ...]
        [--push-refresh 10] [--push-lease 30] [--push-reidle 1200]

It watches every connected IMAP mailbox with IDLE (crm_mail_channel_core.push) and, when a
server signals new mail, wakes the sync cron of the Odoo server(s) on the same database.
Several may run over one database (on one or more hosts): they share the mailboxes through
lease rows (crm.mailbox.lease).

This command only reads Odoo's configuration: it then replaces its process with
``python3 -m crm_mail_channel_core.push_main``, which holds no Odoo registry (most of an Odoo
process's memory). That process talks to the database in plain SQL over one connection
(plus one to ``postgres`` to wake the cron threads) and asks ``crm_mail_push_settings``, a
short-lived Odoo process, for the mailboxes' connection settings.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from odoo.cli import Command
from odoo.tools import config

from crm_mail_channel_core import push_lease


def make_parser():
    parser = argparse.ArgumentParser(
        prog=f"{Path(sys.argv[0]).name} crm_mail_push",
        description="Watch mailboxes with IMAP IDLE; other options are Odoo's (-d, --db_host, "
        "--addons-path, --log-level...).",
    )
    parser.add_argument("--push-refresh", type=float, default=10.0, help="seconds (10)")
    parser.add_argument("--push-lease", type=float, default=30.0, help="seconds (30)")
    parser.add_argument("--push-reidle", type=float, default=20 * 60.0, help="seconds (1200)")
    return parser


def libpq_environment(holder):
    """libpq's variables for Odoo's database options (the password never in a command line)."""
    env = {
        "PGHOST": config["db_host"] or "",
        "PGPORT": str(config["db_port"] or ""),
        "PGUSER": config["db_user"] or "",
        "PGPASSWORD": config["db_password"] or "",
        "PGSSLMODE": config["db_sslmode"] or "",
        # Every connection of the service carries the holder's name: the other services
        # count the live ones in pg_stat_activity (crm_mail_channel_core.push_lease).
        "PGAPPNAME": push_lease.application_name(holder),
    }
    return {key: value for key, value in env.items() if value}


def push_environment(opts, odoo_args, dbname, holder):
    """The environment of crm_mail_channel_core.push_main."""
    settings_command = [
        sys.executable,
        "-m",
        "odoo",
        f"--addons-path={config['addons_path']}",
        "crm_mail_push_settings",
        *odoo_args,
        "--log-level=warn",
    ]
    env = dict(os.environ)
    env.update(libpq_environment(holder))
    env["CRM_MAIL_PUSH"] = json.dumps(
        {
            "dbname": dbname,
            "holder": holder,
            "refresh_seconds": opts.push_refresh,
            "lease_seconds": opts.push_lease,
            "reidle_seconds": opts.push_reidle,
            "settings_command": settings_command,
            "log_level": config["log_level"],
            "logfile": config["logfile"] or None,
        }
    )
    return env


class CrmMailPush(Command):
    """Watch CRM mailboxes with IMAP IDLE: new mail synced within seconds (crm_mail_channel)"""

    name = "crm_mail_push"

    def run(self, args):
        opts, odoo_args = make_parser().parse_known_args(args)
        config.parse_config(odoo_args, setup_logging=False)
        dbname = (config["db_name"] or "").split(",")[0].strip()
        if not dbname:
            sys.exit("crm_mail_push: give the database with -d DB")
        env = push_environment(opts, odoo_args, dbname, push_lease.make_holder())
        sys.stdout.flush()
        sys.stderr.flush()
        # The same process (pid) goes on without Odoo loaded.
        os.execve(sys.executable, [sys.executable, "-m", "crm_mail_channel_core.push_main"], env)
