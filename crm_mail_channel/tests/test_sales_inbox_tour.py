"""SalesInbox in Chromium (every column and card action), and its columns over JSON-RPC."""

from datetime import datetime, timedelta, timezone

from odoo.tests import HttpCase, JsonRpcException, tagged

from .common import no_browser_warnings
from .deal_common import make_mail, new_msgid
from .test_sales_inbox import SalesInboxCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSalesInboxTour(HttpCase, SalesInboxCommon):
    """Alice works her day from SalesInbox: her mailbox on Dovecot, Joe's mail on a deal,
    Ann's without one, two senders not in CRM, a colleague's mail."""

    def setUp(self):
        super().setUp()
        self.mailbox, self.login, self.password = self.make_mailbox(self.user_a)
        now = datetime.now(timezone.utc)
        self.question_id = new_msgid()
        self.append(
            self.login,
            self.password,
            "INBOX",
            [
                make_mail(
                    "Joe Customer <joe@acme.example>",
                    self.login,
                    subject="Quote request",
                    html="<p>Could you send a quote for ten licences?</p>",
                    message_id=self.question_id,
                    date=now - timedelta(hours=1),
                ),
                make_mail(
                    "Ann Customer <ann@acme.example>",
                    self.login,
                    subject="Training dates",
                    body="See you in March.",
                    date=now - timedelta(hours=2),
                ),
                make_mail(
                    "Nora New <nora@newco.example>",
                    self.login,
                    subject="Interested in a demo",
                    body="Could we see your product next week?",
                    date=now - timedelta(hours=3),
                ),
                make_mail(
                    "Paul Prospect <paul@prospect.example>",
                    self.login,
                    subject="Pricing please",
                    body="What does it cost for 20 people?",
                    date=now - timedelta(hours=4),
                ),
            ],
        )
        self.mailbox.with_user(self.user_a).action_sync_now()
        Email = self.env["crm.email"].with_user(self.user_a)
        self.question = Email.search([("message_id", "=", self.question_id)])
        self.training = Email.search([("subject", "=", "Training dates")])
        self.assertEqual(len(self.question), 1)
        self.assertEqual(len(self.training), 1)
        self.question.sudo().write({"lead_id": self.deal_1.id, "link_reason": "manual"})
        self.deal_1.write({"expected_revenue": 12000})
        self.lunch = self.colleague_mail(self.user_a, subject="Lunch on Friday?")

    def server_seen(self):
        client = self.imap(self.login, self.password)
        try:
            client.select_folder("INBOX", readonly=True)
            data = client.fetch(client.search(["ALL"]), ["FLAGS", "ENVELOPE"])
            return {
                msg[b"ENVELOPE"].subject.decode(): b"\\Seen" in msg[b"FLAGS"]
                for msg in data.values()
            }
        finally:
            client.logout()

    def test_sales_inbox_tour(self):
        with no_browser_warnings(self):
            self.start_tour(
                "/odoo/action-crm_mail_channel.action_sales_inbox",
                "crm_mail_channel_sales_inbox_tour",
                login=self.user_a.login,
            )
        # Read state went to the server; previews never marked anything read.
        self.assertEqual(
            self.server_seen(),
            {
                "Quote request": True,
                "Training dates": False,
                "Interested in a demo": False,
                "Pricing please": False,
            },
        )
        # The reply is threaded and on the deal.
        reply = self.env["crm.email"].search(
            [("sent_from_crm", "=", True), ("lead_id", "=", self.deal_1.id)]
        )
        self.assertEqual(len(reply), 1)
        self.assertEqual(reply.in_reply_to, self.question_id)
        self.assertEqual(reply.thread_key, self.question.thread_key)
        # Relinked, contacts and lead created with their past mail.
        self.assertEqual(self.training.lead_id, self.deal_ann)
        nora = self.env["res.partner"].search([("email_normalized", "=", "nora@newco.example")])
        self.assertEqual(len(nora), 1)
        Email = self.env["crm.email"].with_user(self.user_a)
        self.assertEqual(
            Email.search([("partner_ids", "in", nora.ids)]).mapped("subject"),
            ["Interested in a demo"],
        )
        lead = self.env["crm.lead"].search([("partner_id.email", "=", "paul@prospect.example")])
        self.assertEqual(lead.name, "Pricing please")
        self.assertEqual(Email.search([("partner_ids", "in", lead.partner_id.ids)]).lead_id, lead)
        # The columns as Alice left them.
        Column = self.env["crm.sales.inbox.column"].with_user(self.user_a)
        self.assertEqual(
            Column.search([("hidden", "=", False)]).mapped("name"),
            ["Contacts", "Deals", "Not in CRM", "Colleagues", "Awaiting my reply"],
        )

    def test_attack_columns_over_jsonrpc(self):
        alices = (
            self.env["crm.sales.inbox.column"]
            .with_user(self.user_a)
            .create({"name": "Alice's", "domain": "[('subject', 'ilike', 'quote')]"})
        )
        self.authenticate(self.user_b.login, self.user_b.login)

        def call(method, args, kwargs=None):
            return self.make_jsonrpc_request(
                f"/web/dataset/call_kw/crm.sales.inbox.column/{method}",
                {
                    "model": "crm.sales.inbox.column",
                    "method": method,
                    "args": args,
                    "kwargs": kwargs or {},
                },
            )

        for method, args in (
            ("write", [[alices.id], {"name": "Mine now", "domain": "[]"}]),
            ("unlink", [[alices.id]]),
            ("read", [[alices.id], ["name", "domain"]]),
            ("create", [[{"name": "Planted", "domain": "[]", "user_id": self.user_a.id}]]),
        ):
            with self.assertRaises(JsonRpcException, msg=method) as caught:
                call(method, args)
            self.assertIn("AccessError", str(caught.exception), method)
        self.assertEqual(call("search_read", [[], ["name"]]), [])
        own = call("create", [[{"name": "Bob's", "domain": "[]"}]])
        with self.assertRaises(JsonRpcException):
            call("write", [own, {"user_id": self.user_a.id}])
        # Bob's SalesInbox over RPC never loads Alice's column.
        inbox = self.make_jsonrpc_request(
            "/web/dataset/call_kw/crm.email/get_sales_inbox",
            {
                "model": "crm.email",
                "method": "get_sales_inbox",
                "args": [],
                "kwargs": {"columns": [alices.id]},
            },
        )
        self.assertEqual(inbox, [])
        self.assertEqual(alices.sudo().name, "Alice's")
        self.assertEqual(alices.sudo().user_id, self.user_a)
