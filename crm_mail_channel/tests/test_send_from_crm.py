"""Sending from CRM through Odoo's composer, to a real SMTP sink, with a copy appended to a
real Dovecot Sent folder."""

import email
import email.policy
import time
from unittest.mock import patch

from odoo.modules import module as odoo_module
from odoo.tests import Form, tagged

from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from .deal_common import DealCommon, make_mail, new_msgid, with_headers


def really_send():
    """Odoo skips SMTP in test mode (ir.mail_server.connect/send_email check
    ``modules.module.current_test``); lift that guard so mail reaches the loopback sink."""
    return patch.object(odoo_module, "current_test", None)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendFromCrm(DealCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = ensure_smtp_sink()
        cls.env["ir.mail_server"].search([]).write({"active": False})
        cls.smtp_server = cls.env["ir.mail_server"].create(
            {
                "name": "Loopback sink",
                "smtp_host": cls.sink.host,
                "smtp_port": cls.sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )

    def setUp(self):
        super().setUp()
        self.mailbox, self.login, self.password = self.make_mailbox(self.user_a)

    # ------------------------------------------------------------------ helpers
    def compose_and_send(self, action, body="<p>Here is our offer.</p>", subject=None, user=None):
        user = user or self.user_a
        self.assertEqual(action["res_model"], "mail.compose.message")
        composer_form = Form(
            self.env["mail.compose.message"].with_user(user).with_context(**action["context"])
        )
        if subject:
            composer_form.subject = subject
        composer_form.body = body
        composer = composer_form.save()
        self.assertEqual(composer.composition_mode, "comment")
        self.assertEqual(composer.author_id, user.partner_id)
        with really_send():
            composer.action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", composer.model), ("res_id", "=", int(composer.res_ids.strip("[]")))],
            order="id desc",
            limit=1,
        )
        return message

    def sink_message(self, message_id, timeout=5.0):
        deadline = time.monotonic() + timeout
        needle = message_id.encode()
        while time.monotonic() < deadline:
            found = [m for m in self.sink.messages if needle in m["raw"]]
            if found:
                return found
            time.sleep(0.05)
        self.fail(f"{message_id} never reached the SMTP sink")

    def sent_folder(self):
        client = self.imap(self.login, self.password)
        try:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            return [(uid, data[uid][b"BODY[]"], data[uid][b"FLAGS"]) for uid in uids]
        finally:
            client.logout()

    def emails_with(self, message_id):
        return self.env["crm.email"].sudo().search([("message_id", "=", message_id)])

    # ------------------------------------------------------------------ tests
    def test_send_from_deal_is_recorded_sent_and_stored_in_sent(self):
        deal = self.deal_1.with_user(self.user_a)
        action = deal.action_crm_send_email()
        self.assertEqual(action["context"]["default_partner_ids"], [self.joe.id])
        message = self.compose_and_send(action, subject="Our offer")
        # Recorded as an email of the deal, with the Message-ID that went out.
        crm_email = self.emails_with(message.message_id)
        self.assertEqual(len(crm_email), 1)
        self.assertTrue(crm_email.sent_from_crm)
        self.assertEqual(crm_email.lead_id, self.deal_1)
        self.assertEqual(crm_email.link_reason, "sent_from_deal")
        self.assertEqual(crm_email.partner_ids, self.joe)
        self.assertEqual(crm_email.with_user(self.user_a).subject, "Our offer")
        # Really sent to the loopback SMTP server, from Alice, to Joe.
        [received] = self.sink_message(message.message_id)
        self.assertIn("joe@acme.example", [r.lower() for r in received["rcpt_tos"]])
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["Message-Id"].strip(), message.message_id)
        self.assertIn("alice@ourco.example", parsed["From"])
        # The exact bytes are in Alice's Sent folder, marked read.
        [(uid, stored, flags)] = self.sent_folder()
        self.assertIn(b"\\Seen", flags)
        self.assertEqual(stored.rstrip(b"\r\n"), received["raw"].rstrip(b"\r\n"))
        presence = crm_email.presence_ids.filtered(lambda p: p.mailbox_id == self.mailbox)
        self.assertEqual(presence.folder_id.role, "sent")
        self.assertEqual(presence.uid, uid)
        self.assertTrue(presence.is_seen)
        # The deal shows it; Alice reads it.
        self.assertIn(crm_email, deal.crm_email_ids)
        self.assertEqual(deal.crm_email_count, len(deal.crm_email_ids))
        # The next sync reads the same message from Sent: still one email, one presence.
        self.mailbox.sudo()._sync()
        self.assertEqual(self.mailbox.state, "connected", self.mailbox.last_error)
        self.assertEqual(len(self.emails_with(message.message_id)), 1)
        self.assertEqual(
            len(crm_email.presence_ids.filtered(lambda p: p.mailbox_id == self.mailbox)), 1
        )
        # Joe's answer comes back to the deal.
        answer_id = new_msgid()
        answer = with_headers(
            make_mail(
                "Joe Customer <joe@acme.example>",
                "alice@ourco.example",
                subject="Re: Our offer",
                message_id=answer_id,
            ),
            {"In-Reply-To": message.message_id, "References": message.message_id},
        )
        self.append(self.login, self.password, "INBOX", [answer])
        self.mailbox.sudo()._sync()
        reply = self.emails_with(answer_id)
        self.assertEqual((reply.lead_id, reply.link_reason), (self.deal_1, "thread"))

    def test_reply_is_threaded(self):
        original = self.make_email(
            self.joe,
            lead=self.deal_2,
            reason="manual",
            subject="Question",
            mailbox=self.mailbox,
            references=False,
        )
        action = original.with_user(self.user_a).action_reply()
        self.assertEqual(action["context"]["default_model"], "crm.lead")
        self.assertEqual(action["context"]["default_res_ids"], [self.deal_2.id])
        self.assertEqual(action["context"]["default_partner_ids"], [self.joe.id])
        self.assertEqual(action["context"]["default_subject"], "Re: Question")
        message = self.compose_and_send(action, body="<p>Answer</p>")
        sent = self.emails_with(message.message_id)
        self.assertEqual(sent.in_reply_to, original.message_id)
        self.assertEqual(sent.references, original.message_id)
        self.assertEqual(sent.lead_id, self.deal_2)
        self.assertEqual(sent.thread_key, original.thread_key)
        [received] = self.sink_message(message.message_id)
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["In-Reply-To"].strip(), original.message_id)
        self.assertIn(original.message_id, parsed["References"])

    def test_send_from_contact_and_company(self):
        joe = self.joe.with_user(self.user_a)
        message = self.compose_and_send(joe.action_crm_send_email(), subject="Hello Joe")
        sent = self.emails_with(message.message_id)
        self.assertTrue(sent.sent_from_crm)
        self.assertEqual(sent.partner_ids, self.joe)
        self.assertFalse(sent.lead_id, "two open deals: no guess")
        self.assertIn(
            sent, self.env["crm.email"].with_user(self.user_a).search(joe._crm_email_domain())
        )
        company = self.company.with_user(self.user_a)
        message = self.compose_and_send(company.action_crm_send_email(), subject="Hi Acme")
        self.assertEqual(self.emails_with(message.message_id).partner_ids, self.company)
        self.sink_message(message.message_id)

    def test_note_is_not_an_email(self):
        message = self.deal_1.with_user(self.user_a).message_post(
            body="internal",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        self.assertFalse(self.emails_with(message.message_id))

    def test_append_failure_then_retry(self):
        good_port = self.mailbox.port
        self.mailbox.sudo().write({"port": 1})  # nothing listens there: the append fails
        message = self.compose_and_send(
            self.deal_1.with_user(self.user_a).action_crm_send_email(),
            subject="Offer 2",
        )
        # The mail went out anyway.
        [received] = self.sink_message(message.message_id)
        mail = self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])
        self.assertTrue(not mail or set(mail.mapped("state")) == {"sent"})
        pending = (
            self.env["crm.mailbox.pending.append"]
            .sudo()
            .search([("message_id", "=", message.message_id)])
        )
        self.assertEqual(pending.state, "failed")
        self.assertTrue(pending.last_error)
        mailbox = self.mailbox.with_user(self.user_a)
        self.assertEqual(mailbox.sent_copy_failed_count, 1)
        self.assertTrue(mailbox.sent_copy_error)
        self.assertEqual(self.sent_folder(), [])
        # The server is back (a changed port asks for the password again): the scheduled
        # retry stores the same bytes.
        self.mailbox.sudo().write({"port": good_port, "password": self.password})
        self.env["crm.mailbox.pending.append"]._cron_retry()
        self.assertEqual(pending.state, "done")
        [(_uid, stored, flags)] = self.sent_folder()
        self.assertIn(b"\\Seen", flags)
        self.assertEqual(stored.rstrip(b"\r\n"), received["raw"].rstrip(b"\r\n"))
        mailbox.invalidate_recordset(["sent_copy_failed_count", "sent_copy_error"])
        self.assertEqual(mailbox.sent_copy_failed_count, 0)
        self.mailbox.sudo()._sync()
        self.assertEqual(len(self.emails_with(message.message_id)), 1)

    def test_provider_stores_its_own_copy(self):
        """Setting off (e.g. Gmail through its own SMTP): the provider's copy is not doubled."""
        self.mailbox.sudo().store_sent_on_server = False
        message = self.compose_and_send(
            self.deal_1.with_user(self.user_a).action_crm_send_email(),
            subject="Offer 3",
        )
        [received] = self.sink_message(message.message_id)
        self.assertEqual(self.sent_folder(), [], "CRM did not append")
        self.assertFalse(
            self.env["crm.mailbox.pending.append"]
            .sudo()
            .search([("message_id", "=", message.message_id)])
        )
        # The provider's own copy shows up in Sent; the sync finds the CRM email by Message-ID.
        self.append(self.login, self.password, "Sent", [received["raw"]], flags=["\\Seen"])
        self.mailbox.sudo()._sync()
        crm_email = self.emails_with(message.message_id)
        self.assertEqual(len(crm_email), 1)
        self.assertEqual(crm_email.lead_id, self.deal_1)
        self.assertEqual(
            crm_email.presence_ids.filtered(lambda p: p.mailbox_id == self.mailbox).folder_id.role,
            "sent",
        )
