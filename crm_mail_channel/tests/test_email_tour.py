"""Browser tours in Chromium: email list and conversation, a company's and a contact's Emails
page, the guided empty states, and opening mail as its owner or as a manager."""

from datetime import datetime, timedelta, timezone

from odoo.tests import HttpCase, tagged

from .common import no_browser_warnings
from .deal_common import DealCommon, make_mail, new_msgid


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestEmailTour(HttpCase, DealCommon):
    """Alice (owner, public sharing) and Bob, her email manager."""

    def tour(self, url, name, login):
        with no_browser_warnings(self):
            self.start_tour(url, name, login=login)

    def setUp(self):
        super().setUp()
        self.user_a.sudo().write({"email_sharing_mode": "public"})
        self.user_b.sudo().write(
            {"groups_id": [(4, self.env.ref("sales_team.group_sale_salesman_all_leads").id)]}
        )
        self.user_a.sudo().email_manager_id = self.user_b
        self.mailbox, self.login, self.password = self.make_mailbox(self.user_a)
        now = datetime.now(timezone.utc)
        question_id = new_msgid()
        self.append(
            self.login,
            self.password,
            "INBOX",
            [
                make_mail(
                    "Joe Customer <joe@acme.example>",
                    self.login,
                    subject="Quote request",
                    html="<p>Could you send a quote for <b>ten</b> licences?</p>",
                    message_id=question_id,
                    date=now - timedelta(hours=3),
                    attachments=[("specs.pdf", "application/pdf", b"%PDF-1.4 specs")],
                ),
                make_mail(
                    "Ann Customer <ann@acme.example>",
                    self.login,
                    subject="Training dates",
                    html="<p>See you in March.</p>",
                    date=now - timedelta(hours=5),
                ),
            ],
        )
        self.append(
            self.login,
            self.password,
            "Sent",
            [
                make_mail(
                    "Alice Seller <alice@ourco.example>",
                    "Joe Customer <joe@acme.example>",
                    subject="Re: Quote request",
                    html="<p>Here is our quote.</p>",
                    date=now - timedelta(hours=2),
                    headers={"In-Reply-To": question_id, "References": question_id},
                )
            ],
            flags=[b"\\Seen"],
        )
        self.mailbox.with_user(self.user_a).action_sync_now()
        Email = self.env["crm.email"].with_user(self.user_a)
        self.question = Email.search([("subject", "=", "Quote request")])
        self.answer = Email.search([("subject", "=", "Re: Quote request")])
        self.assertEqual(len(self.question), 1)
        self.assertEqual(len(self.answer), 1)
        self.assertFalse(self.question.is_read)

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

    def test_email_list_and_conversation(self):
        self.tour(
            "/odoo/action-crm_mail_channel.crm_email_action",
            "crm_mail_channel_email_tour",
            self.user_a.login,
        )
        self.question.invalidate_recordset()
        self.assertTrue(self.question.with_user(self.user_a).is_read)
        self.assertEqual(self.server_seen(), {"Quote request": True, "Training dates": False})

    def test_opening_marks_only_the_viewers_own_copy(self):
        url = f"/odoo/action-crm_mail_channel.crm_email_action/{self.question.id}"
        # The manager reads Alice's shared mail: nothing of hers changes.
        self.assertTrue(self.question.with_user(self.user_b).has_access("read"))
        self.tour(
            f"/odoo/contacts/{self.company.id}",
            "crm_mail_channel_shared_list_tour",
            self.user_b.login,
        )
        self.tour(url, "crm_mail_channel_email_open_tour", self.user_b.login)
        self.question.invalidate_recordset()
        self.assertFalse(self.question.with_user(self.user_a).is_read)
        presence = self.question.sudo().presence_ids
        self.assertEqual(presence.mapped("is_seen"), [False])
        self.assertEqual(presence.mapped("seen_pending"), [False])
        self.assertEqual(self.server_seen(), {"Quote request": False, "Training dates": False})
        # Alice opens it: her copy is read, on the server too.
        self.tour(url, "crm_mail_channel_email_open_tour_owner", self.user_a.login)
        self.question.invalidate_recordset()
        self.assertTrue(self.question.with_user(self.user_a).is_read)
        self.assertEqual(self.server_seen(), {"Quote request": True, "Training dates": False})

    def test_reply_shows_in_the_conversation(self):
        (self.question | self.answer).sudo().write(
            {"lead_id": self.deal_1.id, "link_reason": "manual"}
        )
        url = f"/odoo/action-crm_mail_channel.crm_email_action/{self.question.id}"
        self.tour(url, "crm_mail_channel_email_reply_tour", self.user_a.login)
        reply = self.env["crm.email"].search(
            [("sent_from_crm", "=", True), ("lead_id", "=", self.deal_1.id)]
        )
        self.assertEqual(len(reply), 1)
        self.assertEqual(reply.thread_key, self.question.thread_key)
        self.assertIn(reply, self.question.with_user(self.user_a).thread_email_ids)

    def test_company_and_contact_emails(self):
        self.tour(
            f"/odoo/contacts/{self.company.id}",
            "crm_mail_channel_partner_emails_tour",
            self.user_a.login,
        )
        nina = self.env["res.partner"].create(
            {"name": "Nina Nomail", "email": "nina@acme.example", "parent_id": self.company.id}
        )
        self.tour(
            f"/odoo/contacts/{nina.id}", "crm_mail_channel_empty_contact_tour", self.user_a.login
        )

    def test_user_without_mailbox_is_guided(self):
        self.tour(
            "/odoo/action-crm_mail_channel.crm_email_action",
            "crm_mail_channel_no_mailbox_list_tour",
            self.user_b.login,
        )
        self.tour(
            f"/odoo/crm/{self.deal_bob.id}",
            "crm_mail_channel_no_mailbox_deal_tour",
            self.user_b.login,
        )
