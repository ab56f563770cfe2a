"""The push service, an Odoo command started beside the server processes:

    python3 -m odoo --addons-path=... crm_mail_push -d DB [--db_host ...]
        [--push-refresh 10] [--push-lease 30] [--push-reidle 1200]

It watches every connected IMAP mailbox with IDLE (crm_mail_channel_core.push) and, when a
server signals new mail, wakes the sync cron of the Odoo server(s) on the same database.
Several may run over one database (on one or more hosts): they share the mailboxes through
lease rows (crm.mailbox.lease). Its database connections: Odoo's pool, used by one thread at
a time (one connection to the database, one to ``postgres`` for waking the cron).

aioimaplib is imported here, when the command runs, not when the addon loads: the Odoo
servers themselves never need it.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry
from odoo.tools import config

from crm_mail_channel_core import push_lease

_logger = logging.getLogger(__name__)


class OdooPushBackend:
    """crm_mail_channel_core.push.PushBackend over an Odoo registry: each call is one
    transaction in superuser mode (the service runs them one at a time, in one thread)."""

    def __init__(self, registry, holder, lease_seconds):
        self.registry = registry
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.refreshes = 0

    def _call(self, method, *args):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return getattr(env["crm.mailbox"], method)(*args)

    def refresh(self):
        self.refreshes += 1
        leased = self._call("_crm_push_refresh", self.holder, self.lease_seconds)
        self.retrigger()
        return leased

    def retrigger(self):
        self._call("_crm_push_retrigger")

    def settings(self, mailbox_id):
        return self._call("_crm_push_settings", mailbox_id)

    def notify(self, mailbox_ids):
        self._call("_crm_push_notify", list(mailbox_ids))

    def report(self, statuses):
        self._call("_crm_push_report", self.holder, dict(statuses))

    def release(self):
        self._call("_crm_push_release", self.holder)


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


class CrmMailPush(Command):
    """Watch CRM mailboxes with IMAP IDLE: new mail synced within seconds (crm_mail_channel)"""

    name = "crm_mail_push"

    def run(self, args):
        from crm_mail_channel_core import push  # aioimaplib: only in this command

        opts, odoo_args = make_parser().parse_known_args(args)
        holder = push_lease.make_holder()
        # Every connection of this process carries the holder's name: the other services
        # count the live ones in pg_stat_activity (crm_mail_channel_core.push_lease).
        os.environ["ODOO_PGAPPNAME"] = push_lease.application_name(holder)
        config.parse_config(odoo_args, setup_logging=True)
        dbname = (config["db_name"] or "").split(",")[0].strip()
        if not dbname:
            sys.exit("crm_mail_push: give the database with -d DB")
        registry = Registry(dbname)
        if "crm.mailbox.lease" not in registry:
            sys.exit(f"crm_mail_push: crm_mail_channel is not installed in {dbname}")
        backend = OdooPushBackend(registry, holder, opts.push_lease)
        cfg = push.PushConfig(
            refresh_seconds=opts.push_refresh,
            lease_seconds=opts.push_lease,
            reidle_seconds=opts.push_reidle,
        )
        _logger.info("crm_mail_push %s watching database %s", holder, dbname)
        asyncio.run(self._serve(push.PushService(backend, cfg)))

    async def _serve(self, service):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)
