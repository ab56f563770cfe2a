"""Browser tour in Chromium: a new sales user's first hour, from login to a sent, threaded
reply (the empty Emails list, My Mailbox the first time, Sync now, the conversation, Reply as
oneself). Tours fail on browser console errors (Odoo's runner) and warnings (checked here)."""

import email
import email.policy
import json
import uuid

from odoo.tests import HttpCase, new_test_user, tagged

from .common import ensure_dovecot, make_mail, no_browser_warnings, really_send, send_queued_mail
from .deal_common import DealCommon
from .domain_common import ensure_smtp_sink

SALES = "sales_team.group_sale_salesman,base.group_user"


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestFirstHourTour(HttpCase):
    _wait_for_login = DealCommon._wait_for_login

    def setUp(self):
        super().setUp()
        self.dovecot = ensure_dovecot()
        self.sink = ensure_smtp_sink()
        self.env["ir.mail_server"].search([]).write({"active": False})
        self.env["ir.mail_server"].create(
            {
                "name": "Loopback sink",
                "smtp_host": self.sink.host,
                "smtp_port": self.sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
        # The mailbox logs in with its address: the From of what the user sends from CRM.
        self.address = f"newseller.{uuid.uuid4().hex[:8]}@ourco.example"
        self.password = "secret"
        self.dovecot.add_users([(self.address, self.password)])
        self._wait_for_login(self.address, self.password)
        self.user = new_test_user(
            self.env,
            login=f"cmc_first_hour_{uuid.uuid4().hex[:6]}",
            groups=SALES,
            name="New Seller",
        )
        self.contact = self.env["res.partner"].create(
            {"name": "Carla Customer", "email": "carla@customer.example"}
        )

    def sent_folder(self):
        client = self.dovecot.imap_client(self.address, self.password)
        try:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in uids]
        finally:
            client.logout()

    def test_first_hour(self):
        self.assertFalse(
            self.env["crm.mailbox"].search([("user_id", "=", self.user.id)]),
            "the user starts without a mailbox",
        )
        self.dovecot.append_messages(
            self.address,
            self.password,
            "INBOX",
            [
                make_mail(
                    "Carla Customer <carla@customer.example>",
                    self.address,
                    subject="Prices for next year",
                    html="<p>Could you send your prices for next year?</p>",
                )
            ],
        )
        details = {
            "host": "127.0.0.1",
            "port": self.dovecot.imap_port,
            "login": self.address,
            "password": self.password,
            "contact": self.contact.name,
            "subject": "Prices for next year",
            "text": "Could you send your prices",
            "answer": "Here are our prices for next year.",
        }
        code = (
            f"sessionStorage.setItem('cmc_first_hour_tour', {json.dumps(json.dumps(details))});"
            "odoo.startTour('crm_mail_channel_first_hour_tour', "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false})"
        )
        with really_send(), no_browser_warnings(self):
            self.start_tour(
                "/odoo", "crm_mail_channel_first_hour_tour", login=self.user.login, code=code
            )

        mailbox = self.env["crm.mailbox"].search([("user_id", "=", self.user.id)])
        self.assertEqual(
            (len(mailbox), mailbox.login, mailbox.state), (1, self.address, "connected")
        )
        # The reply shows in the thread, for the user.
        Email = self.env["crm.email"].with_user(self.user)
        question = Email.search([("subject", "=", "Prices for next year")])
        self.assertEqual(len(question), 1)
        thread = Email.search([("thread_key", "=", question.thread_key)], order="date, id")
        self.assertEqual(len(thread), 2, thread.mapped("subject"))
        reply = thread - question
        self.assertTrue(reply.sent_from_crm)
        self.assertIn(self.address, reply.email_from)
        self.assertIn(self.contact, reply.partner_ids)
        queued, received = send_queued_mail(self.env, self.sink, reply.message_id)
        self.assertTrue(queued)
        self.assertEqual(len(received), 1, "the SMTP sink received the reply")
        parsed = email.message_from_bytes(received[0]["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, self.address)
        self.assertIn("carla@customer.example", received[0]["rcpt_tos"])
        # The same reply is in the Sent folder of the Dovecot account.
        stored = [raw for raw in self.sent_folder() if reply.message_id.encode() in raw]
        self.assertEqual(len(stored), 1, "the reply is in the Sent folder")
