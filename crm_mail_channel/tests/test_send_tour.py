"""Browser tours in Chromium as a sales user: send from a contact as one's mailbox address
(to the SMTP sink, and into the Dovecot Sent folder), Reply quoting the email, and pulling a
company's people's threads into its deal."""

import contextlib
import email
import email.policy
import json
import logging
import uuid

from odoo.tests import HttpCase, tagged

from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from .common import really_send, send_queued_mail
from .deal_common import DealCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendTour(HttpCase, DealCommon):
    def setUp(self):
        super().setUp()
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
        # Exact bytes in Sent: untracked mail (Email Insights are tested apart).
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.insights_enabled", "False"
        )
        # Alice's mailbox logs in with her address: the From of what she sends from CRM.
        self.address = f"alice.{uuid.uuid4().hex[:8]}@ourco.example"
        self.dovecot.add_users([(self.address, "secret")])
        self.mailbox, _login, _password = self.make_mailbox(
            self.user_a, login=self.address, password="secret"
        )
        self._wait_for_login(self.address, "secret")

    def tour(self, url, name, details):
        code = (
            f"sessionStorage.setItem('cmc_send_tour', {json.dumps(json.dumps(details))});"
            f"odoo.startTour({json.dumps(name)}, "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false})"
        )
        # Tours fail on any browser console warning, not only on errors.
        with contextlib.ExitStack() as stack:
            stack.enter_context(really_send())
            stack.enter_context(
                self.assertNoLogs(logging.getLogger(type(self).__module__), "WARNING")
            )
            self.start_tour(url, name, login=self.user_a.login, code=code)

    def sent_folder(self):
        client = self.imap(self.address, "secret")
        try:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in uids]
        finally:
            client.logout()

    def test_send_from_a_contact_as_the_mailbox_address(self):
        details = {
            "contact": self.joe.name,
            "address": self.address,
            "subject": "Hello from the tour",
            "body": "Our offer, sent as myself",
        }
        self.tour(f"/odoo/contacts/{self.joe.id}", "crm_mail_channel_send_tour", details)
        sent = (
            self.env["crm.email"]
            .sudo()
            .search([("sent_from_crm", "=", True), ("partner_ids", "in", self.joe.ids)])
        )
        self.assertEqual(len(sent), 1)
        self.assertIn(self.address, sent.email_from)
        self.assertEqual(sent.subject, "Hello from the tour")
        queued, received = send_queued_mail(self.env, self.sink, sent.message_id)
        self.assertTrue(queued)
        self.assertEqual(len(received), 1)
        parsed = email.message_from_bytes(received[0]["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, self.address)
        # The same bytes are in the mailbox's Sent folder.
        stored = [raw for raw in self.sent_folder() if sent.message_id.encode() in raw]
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0].rstrip(b"\r\n"), received[0]["raw"].rstrip(b"\r\n"))

    def test_reply_quotes_the_email(self):
        question = self.make_email(
            self.joe,
            lead=self.deal_1,
            reason="manual",
            subject="Quote for ten licences",
            mailbox=self.mailbox,
        )
        details = {
            "reply_subject": "Quote for ten licences",
            "reply_text": "Body",
            "address": self.address,
        }
        url = f"/odoo/action-crm_mail_channel.crm_email_action/{question.id}"
        self.tour(url, "crm_mail_channel_reply_tour", details)

    def test_pull_threads_of_a_company(self):
        joes = self.make_email(self.joe, subject="Joe asks about pricing")
        anns = self.make_email(self.ann, subject="Ann asks about training")
        deal = self.env["crm.lead"].create(
            {
                "name": "Acme: framework agreement",
                "partner_id": self.company.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
            }
        )
        details = {
            "deal": deal.name,
            "joe_subject": "Joe asks about pricing",
            "ann_subject": "Ann asks about training",
        }
        self.tour(f"/odoo/crm/{deal.id}", "crm_mail_channel_pull_tour", details)
        self.assertEqual((joes | anns).lead_id, deal)
        self.assertEqual(set((joes | anns).mapped("link_reason")), {"manual"})
