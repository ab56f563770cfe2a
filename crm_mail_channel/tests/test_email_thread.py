"""The conversation view's data, the email lists' columns and guided empty states."""

from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .deal_common import DealCommon, new_msgid


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestEmailThread(DealCommon):
    def _thread(self):
        """Joe writes, Alice answers from CRM, Joe answers again (oldest first)."""
        now = fields.Datetime.now()
        first_id = new_msgid()
        first = self.make_email(
            self.joe, subject="Quote request", message_id=first_id, date=now - timedelta(hours=3)
        )
        ours = self.make_email(
            self.joe,
            subject="Re: Quote request",
            in_reply_to=first_id,
            references=first_id,
            date=now - timedelta(hours=2),
        )
        ours.sudo().write(
            {"email_from": "Alice Seller <alice@ourco.example>", "email_to": self.joe.email}
        )
        last = self.make_email(
            self.joe,
            subject="Re: Quote request",
            in_reply_to=ours.message_id,
            references=f"{first_id} {ours.message_id}",
            date=now - timedelta(hours=1),
        )
        return first, ours, last

    def test_thread_oldest_first_ours_and_theirs(self):
        first, ours, last = self._thread()
        other = self.make_email(self.joe, subject="Another topic")
        for email in (first, ours, last):
            thread = email.with_user(self.user_a).thread_email_ids
            self.assertEqual(thread.ids, (first | ours | last).ids)
        self.assertEqual(other.with_user(self.user_a).thread_email_ids, other)
        as_alice = ours.with_user(self.user_a)
        self.assertTrue(as_alice.is_outgoing)
        self.assertFalse(first.with_user(self.user_a).is_outgoing)

    def test_thread_shows_only_what_the_user_may_read(self):
        first, _ours, _last = self._thread()
        # Bob's private copy of a message of the same thread stays out of Alice's view, and
        # Bob sees none of Alice's private mail in his own copy's thread.
        bobs = self.make_email(
            self.joe,
            owner=self.user_b,
            subject="Re: Quote request (Bob)",
            in_reply_to=first.message_id,
            references=first.message_id,
        )
        self.assertNotIn(bobs, first.with_user(self.user_a).thread_email_ids)
        self.assertEqual(bobs.with_user(self.user_b).thread_email_ids, bobs)

    def test_unread_only_in_the_viewers_own_mailbox(self):
        first, ours, last = self._thread()
        self.user_a.sudo().write(
            {"email_sharing_mode": "public", "email_manager_id": self.user_b.id}
        )
        (ours.sudo().presence_ids).is_seen = True
        Email = self.env["crm.email"]
        as_alice = Email.with_user(self.user_a)
        as_bob = Email.with_user(self.user_b)
        self.assertEqual(as_alice.search([("is_unread", "=", True)]), first | last)
        self.assertEqual(as_alice.search([("is_unread", "=", False)]), ours)
        # Bob reads Alice's shared mail: none of it is "unread" for him.
        self.assertEqual(
            as_bob.search([("id", "in", (first | ours | last).ids)]), first | ours | last
        )
        self.assertFalse(as_bob.search([("is_unread", "=", True)]))
        self.assertFalse(any(first.with_user(self.user_b).mapped("is_unread")))
        self.assertTrue(first.with_user(self.user_a).is_unread)

    def test_participants_readable(self):
        first, ours, _last = self._thread()
        first.sudo().email_to = "alice@ourco.example"
        self.assertEqual(first.with_user(self.user_a).participants, "Joe Customer → You")
        # Our replies read as ours, whatever the display name in the header.
        self.assertEqual(ours.with_user(self.user_a).participants, "You → Joe Customer")
        # A colleague's mailbox address reads as the colleague.
        self.env["crm.mailbox"].sudo().create(
            {"user_id": self.user_b.id, "host": "127.0.0.1", "login": "bob-box@ourco.example"}
        )
        ours.sudo().email_from = "bob-box@ourco.example"
        ours.invalidate_recordset(["participants", "is_outgoing"])
        self.assertEqual(ours.with_user(self.user_a).participants, "Bob Seller → Joe Customer")
        self.assertTrue(ours.with_user(self.user_a).is_outgoing)
        # Long recipient lists are cut after three names.
        first.sudo().email_cc = "a@x.example, b@x.example, c@x.example"
        first.invalidate_recordset(["participants"])
        self.assertEqual(
            first.with_user(self.user_a).participants,
            "Joe Customer → You, a@x.example, b@x.example, +1",
        )

    def test_group_by_company(self):
        first, ours, last = self._thread()
        ann_mail = self.make_email(self.ann, subject="Training dates")
        loner = self.env["res.partner"].create({"name": "Lone Buyer", "email": "lone@x.example"})
        lone_mail = self.make_email(loner, subject="Hello from nowhere")
        self.assertEqual((first | ours | last | ann_mail).company_partner_id, self.company)
        self.assertEqual(lone_mail.company_partner_id, loner)
        groups = dict(
            self.env["crm.email"]
            .with_user(self.user_a)
            ._read_group([], ["company_partner_id"], ["__count"])
        )
        self.assertEqual(groups[self.company], 4)
        self.assertEqual(groups[loner], 1)
        # A contact that joins a company moves its mail to that company's group.
        loner.parent_id = self.company
        self.assertEqual(lone_mail.company_partner_id, self.company)

    def test_internal_fields_hidden_from_grouping_and_export(self):
        admin = self.env.ref("base.user_admin")
        described = (
            self.env["crm.email"]
            .with_user(admin)
            .fields_get(attributes=["groupable", "sortable", "exportable", "string"])
        )
        for name in ("reader_keys", "contact_company_keys", "thread_key", "message_id"):
            self.assertIn(name, described)
            self.assertFalse(described[name]["groupable"], name)
            self.assertFalse(described[name]["exportable"], name)
        for name in ("lead_company_id", "lead_user_id", "is_colleague_mail", "fingerprint"):
            self.assertFalse(described[name]["groupable"], name)
        for name in ("company_partner_id", "lead_id", "date", "partner_ids"):
            self.assertTrue(described[name]["groupable"], name)
            self.assertTrue(described[name].get("exportable", True), name)
        # Other attributes asked for are left alone.
        plain = self.env["crm.email"].fields_get(["thread_key"], attributes=["string"])
        self.assertEqual(set(plain["thread_key"]) - {"exportable"}, {"string"})


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestEmailEmptyStates(DealCommon):
    def _action_help(self, user, xmlid="crm_mail_channel.crm_email_action"):
        action = self.env["ir.actions.actions"].with_user(user)._for_xml_id(xmlid)
        return str(action["help"])

    def test_user_without_mailbox_is_invited_to_connect(self):
        help_ = self._action_help(self.user_b)
        self.assertIn("Connect your mailbox", help_)
        self.assertIn("/odoo/action-crm_mail_channel.crm_mailbox_action_my", help_)
        self.assertIn("o_view_nocontent_smiling_face", help_)
        for kind in ("partner", "deal"):
            help_ = self.env["crm.email"].with_user(self.user_b).crm_email_empty_help(kind)
            self.assertIn("Connect your mailbox", help_)
        # A draft mailbox (never connected) still calls for connecting.
        self.env["crm.mailbox"].sudo().create(
            {"user_id": self.user_b.id, "host": "127.0.0.1", "login": "bob@ourco.example"}
        )
        self.assertIn("Connect your mailbox", self._action_help(self.user_b))

    def test_connected_user_gets_the_explanation(self):
        self._owner_mailbox(self.user_a).sudo().state = "connected"
        help_ = self._action_help(self.user_a)
        self.assertNotIn("Connect your mailbox", help_)
        self.assertIn("No emails here yet", help_)
        self.assertIn("share it with you", help_)
        partner_help = self.env["crm.email"].with_user(self.user_a).crm_email_empty_help("partner")
        self.assertIn("No emails with this contact yet", partner_help)
        # Why a company shows no email: colleagues' private mail is not shown.
        self.assertIn("mail they keep private is never shown to you", partner_help)
        deal_help = self.env["crm.email"].with_user(self.user_a).crm_email_empty_help("deal")
        self.assertIn("No emails on this deal yet", deal_help)

    def test_help_escapes_nothing_from_users(self):
        # The help is built from fixed, translated texts only: no record value reaches it.
        help_ = self.env["crm.email"].with_user(self.user_b).crm_email_empty_help("<script>")
        self.assertNotIn("<script>", help_)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestEmailExportFields(HttpCase):
    def test_export_dialog_offers_no_internal_field(self):
        self.authenticate("admin", "admin")
        for import_compat in (False, True):
            fields_ = self.make_jsonrpc_request(
                "/web/export/get_fields",
                {"model": "crm.email", "domain": [], "import_compat": import_compat},
            )
            names = {field["id"] for field in fields_}
            self.assertFalse(
                names & {"reader_keys", "contact_company_keys", "thread_key", "message_id"}
            )
            if not import_compat:
                self.assertIn("company_partner_id", names)
                self.assertIn("subject", names)
