"""The push service's database side in plain SQL: no Odoo registry in the process.

``SqlPushBackend`` implements ``push.PushBackend`` over one psycopg2 connection to the Odoo
database (each call one transaction) and one to ``postgres``, where Odoo's cron threads
listen for ``cron_trigger``. Leases, status rows and "this mailbox has mail" are the SQL of
``push_lease``, the same statements the addon's model methods run; waking the sync inserts
``ir_cron_trigger`` rows as ``ir.cron._trigger()`` does. Connection settings come from
``push_settings.SettingsCache`` (a short-lived Odoo process reads them).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence

import psycopg2
from psycopg2 import sql

from . import push_lease
from .mailbox_client import MailboxSettings
from .push_budget import PushSlots
from .push_settings import SettingsCache

__all__ = ["PUSH_STATES", "SYNC_CRONS", "WATCHED_STATES", "SqlPushBackend"]

_logger = logging.getLogger(__name__)

# Mailboxes watched: not "error" (a refused password would be tried again by every
# reconnection, the cron retries it every few minutes), nor paused, draft or needs_reconnect;
# watched again once a sync succeeds. A signalled mailbox is synced in the states the cron
# syncs. The addon's model methods use the same (models/crm_mailbox_push.py).
WATCHED_STATES = ("connected", "syncing")
PUSH_STATES = ("connected", "syncing", "error")
SYNC_CRONS = (
    "crm_mail_channel.ir_cron_sync_mailboxes",
    "crm_mail_channel.ir_cron_sync_mailboxes_lane2",
)


class SqlPushBackend:
    """``push.PushBackend`` over psycopg2; calls come one at a time from one thread, but
    ``settings`` (no database work here) from a thread of its own."""

    settings_apart = True

    def __init__(
        self,
        connect: Callable[[str | None], psycopg2.extensions.connection],
        dbname: str,
        holder: str,
        lease_seconds: float,
        settings: SettingsCache,
    ) -> None:
        self._connect = connect
        self.dbname = dbname
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.settings_cache = settings
        self._db = None
        self._postgres = None
        self.refreshes = 0
        self.slots = PushSlots()  # IDLE connections' slots of their account's budget

    # ---- connections --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _cursor(self):
        if self._db is None or self._db.closed:
            self._db = self._connect(self.dbname)
        try:
            with self._db, self._db.cursor() as cr:  # commits, or rolls back on an error
                yield cr
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._drop("_db")
            raise

    def _drop(self, name):
        conn = getattr(self, name)
        setattr(self, name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _notify_crons(self) -> None:
        """Wake Odoo's cron threads now (they also look every minute by themselves)."""
        function = os.environ.get("ODOO_NOTIFY_FUNCTION") or "pg_notify"
        try:
            if self._postgres is None or self._postgres.closed:
                self._postgres = self._connect("postgres")
                self._postgres.autocommit = True
            with self._postgres.cursor() as cr:
                cr.execute(
                    sql.SQL("SELECT {}('cron_trigger', %s)").format(sql.Identifier(function)),
                    (self.dbname,),
                )
        except psycopg2.Error:
            self._drop("_postgres")
            _logger.warning("Push: could not notify the cron threads; they look within a minute")

    # ---- PushBackend --------------------------------------------------------------------------
    def refresh(self) -> Mapping[int, str]:
        self.refreshes += 1
        with self._cursor() as cr:
            candidates = push_lease.candidates(cr, WATCHED_STATES)
            mine = push_lease.refresh_leases(cr, self.holder, candidates, self.lease_seconds)
            leased = {mailbox_id: candidates[mailbox_id] for mailbox_id in mine}
            leased = self.slots.without_lost(cr, leased)
        self.settings_cache.want(leased)
        self.retrigger()
        return leased

    def settings(self, mailbox_id: int) -> MailboxSettings | None:
        return self.settings_cache.get(mailbox_id)

    def notify(self, mailbox_ids: Sequence[int]) -> None:
        with self._cursor() as cr:
            push_lease.mark_pushed(cr, mailbox_ids)
            woken = push_lease.wake_crons(cr, SYNC_CRONS)
        if woken:  # committed: the cron threads see the triggers
            self._notify_crons()

    def retrigger(self) -> None:
        with self._cursor() as cr:
            woken = push_lease.pushed_ids(cr, PUSH_STATES) and push_lease.wake_crons(cr, SYNC_CRONS)
        if woken:
            self._notify_crons()

    def report(self, statuses: Mapping[int, tuple[str, str | None]]) -> None:
        with self._cursor() as cr:
            push_lease.report_status(cr, self.holder, statuses)

    def take_slot(self, mailbox_id: int) -> bool:
        with self._cursor() as cr:
            return self.slots.take(cr, mailbox_id)

    def release_slot(self, mailbox_id: int) -> None:
        if mailbox_id in self.slots.held:
            with self._cursor() as cr:
                self.slots.release(cr, mailbox_id)

    def release(self) -> None:
        try:
            with self._cursor() as cr:
                push_lease.release_leases(cr, self.holder)
        finally:
            self._drop("_db")
            self._drop("_postgres")
