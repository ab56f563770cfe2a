"""The push service as it runs, without an Odoo registry: its plain-SQL backend on the real
Odoo tables (on the test transaction), and the settings command as a real Odoo process."""

import asyncio
import contextlib
import json
import os
import sys

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import config

from crm_mail_channel_core import push_lease, push_settings
from crm_mail_channel_core.push_sql import SqlPushBackend

from ..cli.crm_mail_push import make_parser, push_environment
from .common import MailboxCommon, make_mail
from .test_push import run_inline_service, until


class InProcessSettings:
    """What ``crm_mail_push_settings`` answers, computed on the test transaction and passed
    through the same encoding as its output line."""

    def __init__(self, env):
        self.env = env
        self.batches = []

    def __call__(self, mailbox_ids):
        self.batches.append(sorted(mailbox_ids))
        Mailbox = self.env["crm.mailbox"].sudo()  # sudo: as the command, superuser
        answer = {i: Mailbox._crm_push_settings(i) for i in mailbox_ids}
        return push_settings.decode_answer(push_settings.encode_answer(answer))


class SqlBackendOnTestCursor(SqlPushBackend):
    """The service's SQL backend, its statements run on the test's cursor."""

    def __init__(self, env):
        self.env = env
        self.source = InProcessSettings(env)
        self.cron_notifications = 0
        super().__init__(
            None,
            env.cr.dbname,
            push_lease.make_holder(),
            45,
            push_settings.SettingsCache(self.source),
        )

    @contextlib.contextmanager
    def _cursor(self):
        self.env.flush_all()
        yield self.env.cr
        self.env.invalidate_all()

    def _notify_crons(self):
        self.cron_notifications += 1

    def release(self):
        with self._cursor() as cr:
            push_lease.release_leases(cr, self.holder)


@tagged("post_install", "-at_install")
class TestPushServiceSql(MailboxCommon):
    def setUp(self):
        super().setUp()
        self.Mailbox = self.env["crm.mailbox"]
        self.crons = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes") | self.env.ref(
            "crm_mail_channel.ir_cron_sync_mailboxes_lane2"
        )

    def triggers(self):
        return self.env["ir.cron.trigger"].search([("cron_id", "in", self.crons.ids)])

    def test_sql_side_watches_what_the_model_says(self):
        imap, _l, _p = self.make_mailbox(self.user_a)
        pop3, _l2, _p2 = self.make_mailbox(self.user_a, protocol="pop3")
        paused, _l3, _p3 = self.make_mailbox(self.user_b)
        paused.state = "paused"
        backend = SqlBackendOnTestCursor(self.env)
        leased = backend.refresh()
        self.assertEqual(leased, self.Mailbox.sudo()._crm_push_candidates())
        self.assertIn(imap.id, leased)
        self.assertNotIn(pop3.id, leased)
        self.assertNotIn(paused.id, leased)
        self.assertEqual(backend.settings(imap.id).login, imap.login)
        self.assertEqual(backend.source.batches, [sorted(leased)])  # one batch for all

    def test_signal_wakes_both_sync_lanes_and_the_cron_stores_the_mail(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.Mailbox._cron_sync_mailboxes()
        self.triggers().unlink()
        backend = SqlBackendOnTestCursor(self.env)

        async def scenario(service):
            await until(
                lambda: getattr(service.watchers.get(mailbox.id), "status", "") == "watching",
                "the mailbox in IDLE",
            )
            raw = make_mail("joe@acme.example", login, subject="Pushed without Odoo")
            await asyncio.to_thread(self.append, login, pw, "INBOX", [raw])
            await until(lambda: service.notified.count(mailbox.id) == 2, "the sync asked for")

        run_inline_service(backend, scenario)
        self.assertEqual(self.triggers().cron_id, self.crons)
        self.assertTrue(backend.cron_notifications)
        self.assertIn(mailbox.id, self.Mailbox._crm_pushed_ids())
        self.Mailbox._cron_sync_mailboxes()
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Pushed without Odoo")
        self.assertNotIn(mailbox.id, self.Mailbox._crm_pushed_ids())

    def test_settings_command_answers_as_a_separate_odoo_process(self):
        odoo_args = ["-d", self.env.cr.dbname]
        for option in ("db_host", "db_port", "db_user"):
            if config[option]:
                odoo_args.append(f"--{option}={config[option]}")
        env = push_environment(
            make_parser().parse_args([]), odoo_args, self.env.cr.dbname, "test-holder"
        )
        conf = json.loads(env["CRM_MAIL_PUSH"])
        self.assertEqual(env["PGAPPNAME"], push_lease.application_name("test-holder"))
        self.assertEqual(conf["settings_command"][:3], [sys.executable, "-m", "odoo"])
        child_env = dict(os.environ, ODOO_PGAPPNAME="crm_mail_push_settings")
        source = push_settings.SubprocessSettingsSource(conf["settings_command"], env=child_env)
        # The test's mailboxes are not committed: a real process sees none of them.
        unknown = self.Mailbox.sudo().search([], order="id desc", limit=1).id + 1000
        self.assertEqual(source([unknown]), {unknown: None})

    def test_an_intruder_gets_no_settings_from_the_model(self):
        mailbox, _l, _p = self.make_mailbox(self.user_a)
        with self.assertRaises(UserError):  # superuser only: never an RPC entry point
            self.Mailbox.with_user(self.user_b)._crm_push_settings(mailbox.id)
