"""Sending from CRM through Odoo's composer, to a real SMTP sink, with a copy appended to a
real Dovecot Sent folder."""

import email
import email.policy
import time
import uuid
from unittest.mock import patch

from odoo.tests import Form, tagged

from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from .common import really_send
from .deal_common import DealCommon, make_mail, new_msgid, with_headers


class SendCase(DealCommon):
    """A loopback SMTP sink as the only outgoing server, and Alice's mailbox."""

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
        # Sent holds the exact bytes that left only for untracked mail (a tracked copy's
        # Sent copy is its untracked version): Email Insights off here, tested in
        # test_insights_tracking.py.
        cls.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.insights_enabled", "False"
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


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendFromCrm(SendCase):
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


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestComposerAsAMailClient(SendCase):
    """From (the mailbox address, the one that leaves), Cc, Bcc, quoting, recipients."""

    def composer(self, action, user=None):
        user = user or self.user_a
        return Form(
            self.env["mail.compose.message"].with_user(user).with_context(**action["context"])
        )

    def mailbox_with_address(self, user):
        """A mailbox whose login is an email address, in the test Dovecot."""
        address = f"{user.login}.{uuid.uuid4().hex[:8]}@ourco.example"
        self.dovecot.add_users([(address, "secret")])
        self.mailbox.sudo().active = False
        mailbox, _login, _password = self.make_mailbox(user, login=address, password="secret")
        self._wait_for_login(address, "secret")
        return mailbox, address

    def test_from_is_the_mailbox_address_and_leaves_as_such(self):
        _mailbox, address = self.mailbox_with_address(self.user_a)
        joe = self.joe.with_user(self.user_a)
        form = self.composer(joe.action_crm_send_email())
        self.assertEqual(form.email_from, f'"{self.user_a.name}" <{address}>')
        self.assertFalse(form.subject, "a contact's name is no subject")
        self.assertFalse(form.crm_sender_notice, "a server without FROM filter takes it")
        message = self.compose_and_send(joe.action_crm_send_email(), subject="Hello Joe")
        [received] = self.sink_message(message.message_id)
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, address)
        self.assertEqual(parsed["Reply-To"].addresses[0].addr_spec, address)
        self.assertEqual(self.emails_with(message.message_id).email_from, message.email_from)
        self.assertIn(address, message.email_from)
        # The exact bytes are in that mailbox's Sent folder.
        client = self.imap(address, "secret")
        try:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            stored = client.fetch(uids, ["BODY.PEEK[]"])[uids[-1]][b"BODY[]"]
        finally:
            client.logout()
        self.assertEqual(stored.rstrip(b"\r\n"), received["raw"].rstrip(b"\r\n"))

    def test_from_can_be_changed_and_is_warned_about(self):
        _mailbox, address = self.mailbox_with_address(self.user_a)
        form = self.composer(self.joe.with_user(self.user_a).action_crm_send_email())
        self.assertIn(address, form.email_from)
        form.email_from = "Alice <alice@ourco.example>"
        form.subject = "From my own email"
        form.body = "<p>Hi</p>"
        self.assertEqual(form.email_from, "Alice <alice@ourco.example>")
        composer = form.save()
        self.assertEqual(composer.email_from, "Alice <alice@ourco.example>")
        # A domain not authenticated: the warning says so, and what to do.
        self.assertIn("ourco.example is not authenticated", composer.crm_domain_warning)
        self.assertIn("Settings › CRM › Email Authentication", composer.crm_domain_warning)

    def test_without_a_mailbox_address_the_user_email_is_the_from(self):
        form = self.composer(self.deal_1.with_user(self.user_a).action_crm_send_email())
        self.assertEqual(form.email_from, self.user_a.email_formatted)
        self.assertEqual(form.subject, self.deal_1.name)

    def test_composer_says_when_odoo_rewrites_the_from(self):
        _mailbox, address = self.mailbox_with_address(self.user_a)
        alias_domain = self.env["mail.alias.domain"].create(
            {"name": "notify.example", "default_from": "notifications"}
        )
        self.env.company.alias_domain_id = alias_domain
        # The only outgoing server accepts notify.example only.
        self.smtp_server.from_filter = "notify.example"
        deal = self.deal_1.with_user(self.user_a)
        form = self.composer(deal.action_crm_send_email())
        self.assertIn(address, form.email_from)
        notice = form.crm_sender_notice
        self.assertIn("Odoo will send this email as notifications@notify.example", notice)
        self.assertIn(f"not {address}", notice)
        self.assertIn("no outgoing mail server is set up for ourco.example", notice)
        self.assertIn("Settings › Technical › Outgoing Mail Servers", notice)
        # What the composer said is what leaves.
        message = self.compose_and_send(deal.action_crm_send_email(), subject="Rewritten")
        [received] = self.sink_message(message.message_id)
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, "notifications@notify.example")
        # Answers still reach the sender's own mailbox.
        self.assertEqual(parsed["Reply-To"].addresses[0].addr_spec, address)
        # A server for the sender's domain: the From is kept, nothing to say.
        self.smtp_server.from_filter = "ourco.example"
        form = self.composer(deal.action_crm_send_email())
        self.assertFalse(form.crm_sender_notice)
        # A server without FROM filter: Odoo still prefers its notification address.
        self.smtp_server.from_filter = False
        notice = self.composer(deal.action_crm_send_email()).crm_sender_notice
        self.assertIn("Odoo will send this email as notifications@notify.example", notice)
        self.assertIn("the outgoing mail server Loopback sink has no FROM filter", notice)
        self.assertIn("set its FROM filter to ourco.example", notice)

    def test_cc_and_bcc(self):
        boss = self.env["res.partner"].create(
            {"name": "Hidden Boss", "email": "hidden.boss@acme.example"}
        )
        form = self.composer(self.deal_1.with_user(self.user_a).action_crm_send_email())
        form.crm_cc_partner_ids.add(self.ann)
        form.crm_bcc_partner_ids.add(boss)
        form.body = "<p>Offer attached.</p>"
        composer = form.save()
        with really_send():
            composer.action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", "crm.lead"), ("res_id", "=", self.deal_1.id)], order="id desc", limit=1
        )
        received = self.sink_message(message.message_id)
        deadline = time.monotonic() + 5
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            received = [m for m in self.sink.messages if message.message_id.encode() in m["raw"]]
        # One envelope each: Joe, Ann (Cc) and the hidden copy.
        self.assertCountEqual(
            [{r.lower() for r in m["rcpt_tos"]} for m in received],
            [{"joe@acme.example"}, {"ann@acme.example"}, {"hidden.boss@acme.example"}],
        )
        for m in received:
            parsed = email.message_from_bytes(m["raw"], policy=email.policy.default)
            # Everyone sees the same To and Cc, as in any mail client.
            self.assertEqual(
                [a.addr_spec.lower() for a in parsed["To"].addresses], ["joe@acme.example"]
            )
            self.assertEqual(
                [a.addr_spec.lower() for a in parsed["Cc"].addresses], ["ann@acme.example"]
            )
            self.assertIsNone(parsed["Bcc"])
        # Nobody's headers name the Bcc recipient, nor does the email kept in CRM.
        for m in received:
            self.assertNotIn(b"hidden.boss", m["raw"].lower())
        crm_email = self.emails_with(message.message_id)
        self.assertIn("ann@acme.example", crm_email.email_cc)
        self.assertNotIn(boss, crm_email.partner_ids)
        for value in (crm_email.email_to, crm_email.email_cc, crm_email.email_from):
            self.assertNotIn("hidden.boss", value or "")
        self.assertNotIn(boss, message.sudo().partner_ids)

    def test_reply_to_mail_without_a_deal_opens_on_the_contact(self):
        original = self.make_email(self.joe, link=False, subject="Hello", mailbox=self.mailbox)
        self.assertFalse(original.lead_id)
        action = original.with_user(self.user_a).action_reply()
        self.assertEqual(action["context"]["default_model"], "res.partner")
        self.assertEqual(action["context"]["default_res_ids"], [self.joe.id])

    def test_reply_quotes_the_email_as_the_user_reads_it(self):
        original = self.make_email(
            self.joe, lead=self.deal_2, reason="manual", subject="Question", mailbox=self.mailbox
        )
        action = original.with_user(self.user_a).action_reply()
        form = self.composer(action)
        body = str(form.body)
        self.assertIn("wrote:", body)
        self.assertIn("Joe@Acme.example", body)
        self.assertIn('<blockquote data-o-mail-quote="1"', body)
        self.assertIn("<p>Body</p>", body)
        # Content the user may not read is never quoted.
        with patch.object(type(self.env["crm.email"]), "_readable_content", lambda self, level: {}):
            action = original.with_user(self.user_a).action_reply()
        self.assertNotIn("blockquote", str(action["context"]["default_body"]))

    def test_company_without_address_proposes_its_contacts(self):
        company = self.env["res.partner"].create({"name": "NoMail Ltd", "is_company": True})
        people = self.env["res.partner"].create(
            [
                {"name": "Pat", "email": "pat@nomail.example", "parent_id": company.id},
                {"name": "Sam", "email": "sam@nomail.example", "parent_id": company.id},
                {"name": "Lou (no address)", "parent_id": company.id},
            ]
        )
        deal = self.env["crm.lead"].create(
            {
                "name": "NoMail: pilot",
                "partner_id": company.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
            }
        )
        action = deal.with_user(self.user_a).action_crm_send_email()
        self.assertEqual(set(action["context"]["default_partner_ids"]), set(people[:2].ids))
        form = self.composer(action)
        self.assertIn(
            "NoMail Ltd has no email address: its contacts are in To", form.crm_recipient_notice
        )
        # Many contacts: none is chosen for the user, the composer names them.
        self.env["res.partner"].create(
            [
                {"name": f"Person {i}", "email": f"p{i}@nomail.example", "parent_id": company.id}
                for i in range(3)
            ]
        )
        action = company.with_user(self.user_a).action_crm_send_email()
        self.assertEqual(action["context"]["default_partner_ids"], [])
        form = self.composer(action)
        self.assertIn(
            "NoMail Ltd has no email address. Its contacts with one:", form.crm_recipient_notice
        )
        self.assertIn("pat@nomail.example", form.crm_recipient_notice)
