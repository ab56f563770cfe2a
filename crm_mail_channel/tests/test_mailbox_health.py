"""Mailbox Health: how new mail reaches CRM (push status) and throttling, per mailbox."""

from lxml import etree
from odoo import fields
from odoo.tests import tagged

from crm_mail_channel_testing.imap_faults import ThrottlingImapServer

from .common import MailboxCommon
from .test_push import TestBackend

HEALTH_FIELDS = ("push_status", "throttle_status", "connection_usage")


@tagged("post_install", "-at_install")
class TestMailboxHealth(MailboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ThrottlingImapServer().start()
        cls.addClassCleanup(cls.server.stop)

    def health_rows(self, mailboxes):
        """The health list's fields as an administrator's list shows them."""
        view = self.env.ref("crm_mail_channel.crm_mailbox_view_list_health")
        shown = {node.get("name") for node in etree.fromstring(view.arch).iter("field")}
        self.assertTrue(set(HEALTH_FIELDS) <= shown)
        admin = self.env.ref("base.user_admin")
        self.env.invalidate_all()
        rows = mailboxes.with_user(admin).read(list(HEALTH_FIELDS))
        return {row["id"]: row for row in rows}

    def test_watched_pop3_and_throttled_mailboxes(self):
        watched, _l, _p = self.make_mailbox(self.user_a)
        pop3, _l2, _p2 = self.make_mailbox(self.user_a, protocol="pop3")
        throttled, _l3, _p3 = self.make_mailbox(self.user_b, port=self.server.port)
        throttled._sync()  # "Too many simultaneous connections": backs off
        backend = TestBackend(self.env)
        self.assertIn(watched.id, backend.refresh())
        backend.report({watched.id: ("watching", None)})
        rows = self.health_rows(watched | pop3 | throttled)

        self.assertEqual(rows[watched.id]["push_status"], f"Watched (IDLE) by {backend.holder}")
        self.assertFalse(rows[watched.id]["throttle_status"])
        self.assertEqual(rows[watched.id]["connection_usage"], "0 of 3")

        self.assertEqual(
            rows[pop3.id]["push_status"], "Polling: POP3 has no push (checked every few minutes)"
        )
        self.assertFalse(rows[pop3.id]["throttle_status"])

        until = fields.Datetime.context_timestamp(
            throttled.with_user(self.env.ref("base.user_admin")), throttled.throttled_until
        )
        status = rows[throttled.id]["throttle_status"]
        self.assertTrue(status.startswith(f"Throttled by the server until {until:%H:%M}: "), status)
        self.assertIn("Too many simultaneous connections", status)
        self.assertEqual(throttled.state, "connected")
        # Its lease went to no push service in this test: polled for now.
        self.assertEqual(
            rows[throttled.id]["push_status"],
            "Polling: no push service is running (checked every few minutes)",
        )

    def test_push_states_in_words(self):
        mailbox, _l, _p = self.make_mailbox(self.user_a)
        backend = TestBackend(self.env)
        backend.refresh()
        cases = {
            ("waiting", None): "Waiting for a free connection",
            ("polling", "server has no IDLE"): "Polling: server has no IDLE",
            ("throttled", "[THROTTLED] slow down"): (
                "Not watched: throttled by the server ([THROTTLED] slow down)"
            ),
        }
        for report, expected in cases.items():
            backend.report({mailbox.id: report})
            self.assertEqual(self.health_rows(mailbox)[mailbox.id]["push_status"], expected)
        mailbox.write({"state": "needs_reconnect"})
        self.assertEqual(
            self.health_rows(mailbox)[mailbox.id]["push_status"], "Not watched: needs reconnecting"
        )
