"""Attacks on email identity, direct writes, colleague mail and crafted mail.

Each test is the attack of a curious colleague with ordinary means: their own mailbox in the
test Dovecot, the RPC calls any internal user can make (``with_user``), one crafted email. It
asserts that the attack fails and that the victim's email is unchanged.
"""

from datetime import datetime, timezone
from email.utils import format_datetime
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.fields import Command
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from crm_mail_channel_testing.delivery import sender_copy, transit

from .common import MailboxCommon, make_mail
from .sharing_common import SharingMixin

SECRET = "SECRET-MERGER-7731"


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestIdentityAttacks(MailboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim, cls.attacker = cls.user_a, cls.user_b
        (cls.victim | cls.attacker).write({"email_sharing_mode": "private"})

    def setUp(self):
        super().setUp()
        self.victim_box, self.v_login, self.v_password = self.make_mailbox(self.victim)
        self.attacker_box, self.a_login, self.a_password = self.make_mailbox(self.attacker)
        self.secret_id = f"<secret-{self.v_login}@acme.example>"
        raw = make_mail(
            "Joe Customer <joe@acme.example>",
            "alice@ourco.example",
            subject=f"Merger {SECRET}",
            body=f"The price is {SECRET}.",
            message_id=self.secret_id,
            attachments=[("merger.pdf", "application/pdf", f"%PDF {SECRET}".encode())],
        )
        self.append(self.v_login, self.v_password, "INBOX", [raw])
        self.sync(self.victim_box, self.victim)
        [self.secret_email] = self.stored(self.secret_id)

    # ---- helpers -------------------------------------------------------------------------
    def sync(self, mailbox, user):
        mailbox.with_user(user).action_sync_now()

    def stored(self, message_id):
        return self.env["crm.email"].sudo().search([("message_id", "=", message_id)])

    def snapshot(self, email):
        email = email.sudo()
        email.invalidate_recordset()
        return {
            "fingerprint": email.fingerprint,
            "reader_keys": email.reader_keys,
            "owners": email.presence_ids.user_id.ids,
            "sent_from_crm": email.sent_from_crm,
            "lead": email.lead_id.id,
            "partners": email.partner_ids.ids,
            "subject": email.subject,
            "body": email.body_html,
        }

    def assert_reads_no_secret(self, user):
        """Nothing ``user`` can reach through the ORM mentions the victim's secret."""
        Email = self.env["crm.email"].with_user(user)
        for email in Email.search([]):
            for value in (email.subject, email.body_html, email.preview):
                self.assertNotIn(SECRET, str(value or ""))
            for attachment in email.attachment_ids:
                self.assertNotIn(SECRET.encode(), attachment.raw or b"")
        contents = self.env["crm.email.content"].with_user(user).search([])
        for content in contents:
            self.assertNotIn(SECRET, f"{content.subject} {content.body_html} {content.preview}")
        attachments = (
            self.env["ir.attachment"]
            .with_user(user)
            .search([("res_model", "in", ["crm.email", "crm.email.content"])])
        )
        for attachment in attachments:
            self.assertNotIn(SECRET.encode(), attachment.raw or b"")
        self.assertFalse(Email.search([("subject", "ilike", SECRET)]))
        self.assertFalse(Email.search([("body_html", "ilike", SECRET)]))

    # ---- 1. forged Message-ID ----------------------------------------------------------------
    def test_forged_message_id_in_own_mailbox_grants_nothing(self):
        before = self.snapshot(self.secret_email)
        forged = make_mail(
            "Joe Customer <joe@acme.example>",
            "bob@ourco.example",
            subject="Just saying hi",
            body="hello",
            message_id=self.secret_id,
        )
        answer = make_mail(
            "Joe Customer <joe@acme.example>",
            "bob@ourco.example",
            subject="Re: hi",
            body="answer",
            headers={"In-Reply-To": self.secret_id, "References": self.secret_id},
        )
        self.append(self.a_login, self.a_password, "INBOX", [forged, answer])
        self.sync(self.attacker_box, self.attacker)
        copies = self.stored(self.secret_id)
        self.assertEqual(len(copies), 2, "the forged copy is a separate email")
        self.assertEqual(self.snapshot(self.secret_email), before)
        self.assertNotIn(
            self.secret_email, self.env["crm.email"].with_user(self.attacker).search([])
        )
        self.assert_reads_no_secret(self.attacker)
        # The attacker's own message is stored, not dropped.
        own = (copies - self.secret_email).with_user(self.attacker)
        self.assertEqual(own.subject, "Just saying hi")

    def test_forged_references_pull_nothing_onto_a_deal_the_sender_cannot_open(self):
        deal = self.env["crm.lead"].create(
            {
                "name": "Victim's deal",
                "partner_id": self.joe.id,
                "type": "opportunity",
                "user_id": self.victim.id,
            }
        )
        self.secret_email.sudo().write({"lead_id": deal.id, "link_reason": "manual"})
        self.assertFalse(deal.with_user(self.attacker).has_access("read"))
        answer = make_mail(
            "Joe Customer <joe@acme.example>",
            "bob@ourco.example",
            subject="Re: merger",
            body="forged answer",
            headers={"In-Reply-To": self.secret_id, "References": self.secret_id},
        )
        self.append(self.a_login, self.a_password, "INBOX", [answer])
        self.sync(self.attacker_box, self.attacker)
        attacker_mail = self.env["crm.email"].with_user(self.attacker).search([])
        self.assertTrue(attacker_mail)
        self.assertFalse(attacker_mail.sudo().lead_id & deal)
        self.assertEqual(deal.with_user(self.victim).crm_email_count, 1)

    # ---- 2. message_post with an existing Message-ID ------------------------------------------
    def test_message_post_with_existing_message_id_changes_nothing(self):
        before = self.snapshot(self.secret_email)
        deal = self.env["crm.lead"].create(
            {
                "name": "Attacker's deal",
                "partner_id": self.joe.id,
                "type": "opportunity",
                "user_id": self.attacker.id,
            }
        )
        deal.with_user(self.attacker).message_post(
            body="hello",
            subject="hello",
            message_id=self.secret_id,
            partner_ids=self.joe.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        self.assertEqual(self.snapshot(self.secret_email), before)
        self.assertFalse(self.secret_email.sudo().sent_from_crm)
        self.assert_reads_no_secret(self.attacker)
        posted = self.stored(self.secret_id) - self.secret_email
        self.assertEqual(len(posted), 1)
        self.assertTrue(posted.sent_from_crm)
        self.assertFalse(posted.attachment_ids)

    # ---- 3. direct writes over RPC ---------------------------------------------------------
    def test_rpc_changes_to_emails_are_refused_even_for_admins(self):
        admin = new_test_user(
            self.env,
            login="cmc_attack_admin",
            groups="base.group_system,sales_team.group_sale_manager",
        )
        shared = self.stored(self.secret_id)
        shared.sudo().presence_ids.write({"share_override": "shared"})
        self.victim.write({"email_sharing_mode": "public"})
        before = self.snapshot(shared)
        attempts = {
            "sent_from_crm": True,
            "lead_id": False,
            "partner_ids": [Command.set(self.ann.ids)],
            "message_id": "<other@x>",
            "thread_key": "<other@x>",
            "subject": "changed",
            "body_html": "<p>changed</p>",
            "needs_deal": True,
        }
        for user in (self.attacker, admin, self.victim):
            email = shared.with_user(user)
            for field, value in attempts.items():
                with self.assertRaises(AccessError, msg=f"{user.login} wrote {field}"):
                    email.write({field: value})
            with self.assertRaises(AccessError):
                email.unlink()
            with self.assertRaises(AccessError):
                email.copy()
            with self.assertRaises(AccessError):
                self.env["crm.email"].with_user(user).create(
                    {"message_id": "<new@x>", "fingerprint": "x"}
                )
            with self.assertRaises(AccessError):
                self.env["crm.email"].with_user(user).load(
                    ["id", "sent_from_crm"], [[str(shared.id), "True"]]
                )
            for content in shared.sudo().content_ids.with_user(user):
                with self.assertRaises(AccessError):
                    content.write({"subject": "changed"})
            with self.assertRaises(AccessError):
                self.env["crm.email.presence"].with_user(user).create(
                    {"email_id": shared.id, "mailbox_id": self.attacker_box.id}
                )
            for presence in shared.sudo().presence_ids.with_user(user):
                with self.assertRaises(AccessError):
                    presence.write({"mailbox_id": self.attacker_box.id})
        # A context key is no way around it.
        with self.assertRaises(AccessError):
            shared.with_user(self.attacker).with_context(
                crm_mail_channel_sync=True, install_mode=True
            ).write({"sent_from_crm": True})
        self.assertEqual(self.snapshot(shared), before)

    def test_read_state_is_the_one_field_a_user_changes(self):
        email = self.secret_email.with_user(self.victim)
        email.write({"is_read": True})
        self.assertTrue(email.is_read)
        self.assertTrue(self.secret_email.sudo().presence_ids.is_seen)

    # ---- crafted and colliding mail ----------------------------------------------------------
    def test_distinct_messages_with_one_message_id_are_all_kept(self):
        shared_id = f"<reused-{self.v_login}@lib.example>"
        raws = [
            make_mail(
                "Joe Customer <joe@acme.example>",
                "alice@ourco.example",
                subject=f"Message {n}",
                body=f"Body number {n}",
                message_id=shared_id,
                attachments=[(f"file{n}.txt", "text/plain", f"attachment {n}".encode())],
            )
            for n in range(4)
        ]
        self.append(self.v_login, self.v_password, "INBOX", raws)
        self.sync(self.victim_box, self.victim)
        emails = self.stored(shared_id).with_user(self.victim)
        self.assertEqual(sorted(emails.mapped("subject")), [f"Message {n}" for n in range(4)])
        self.assertEqual(
            sorted(emails.attachment_ids.mapped("name")), [f"file{n}.txt" for n in range(4)]
        )
        # A second sync of the same mailbox duplicates nothing.
        self.victim_box.sudo().folder_ids.write({"last_uid": 0})
        self.sync(self.victim_box, self.victim)
        self.assertEqual(len(self.stored(shared_id)), 4)

    def test_crafted_messages_never_stop_a_sync(self):
        marie = self.env["res.partner"].create({"name": "Märy", "email": "märy@exämple.net"})
        date = format_datetime(datetime.now(timezone.utc))
        long_id = "<" + "L" * 3000 + "@acme.example>"
        crafted = [
            make_mail("Joe <joe@acme.example>", "alice@ourco.example", subject="before"),
            (
                f"From: Joe <joe@acme.example>\r\nTo: Märy <märy@exämple.net>\r\n"
                f"Subject: internationalised\r\nDate: {date}\r\n"
                f"Message-ID: <intl-{self.v_login}@acme.example>\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\nHallo Märy\r\n"
            ).encode(),
            (
                f"From: joe@acme.example\r\nTo: alice@ourco.example\r\nSubject: big\r\n"
                f"Date: {date}\r\nX-Big: {'y' * 200000}\r\n\r\nbody\r\n"
            ).encode(),
            (
                f"From: joe@acme.example\r\nTo: alice@ourco.example\r\nSubject: long id\r\n"
                f"Date: {date}\r\nMessage-ID: {long_id}\r\nReferences: {long_id}\r\n\r\nbody\r\n"
            ).encode(),
            make_mail("Joe <joe@acme.example>", "alice@ourco.example", subject="after"),
        ]
        self.append(self.v_login, self.v_password, "INBOX", crafted)
        self.sync(self.victim_box, self.victim)
        subjects = set(self.env["crm.email"].with_user(self.victim).search([]).mapped("subject"))
        self.assertTrue({"before", "internationalised", "big", "long id", "after"} <= subjects)
        intl = self.stored(f"<intl-{self.v_login}@acme.example>")
        self.assertIn(marie, intl.partner_ids)
        self.assertIn("märy@exämple.net", intl.email_to)
        self.assertEqual(self.victim_box.sudo().state, "connected")

    def test_nul_bytes_are_stored_cleaned(self):
        raw = (
            b"From: joe@acme.example\r\nTo: alice@ourco.example\r\nSubject: nul\x00here\r\n"
            b"Message-ID: <nul-" + self.v_login.encode() + b"@acme.example>\r\n\r\nbo\x00dy\r\n"
        )
        path = self.dovecot.mail_root / self.v_login / "Maildir" / "new"
        path.mkdir(parents=True, exist_ok=True)
        (path / f"nul-{self.v_login}.eml").write_bytes(raw)
        after = make_mail("Joe <joe@acme.example>", "alice@ourco.example", subject="after nul")
        self.append(self.v_login, self.v_password, "INBOX", [after])
        self.sync(self.victim_box, self.victim)
        subjects = self.env["crm.email"].with_user(self.victim).search([]).mapped("subject")
        # Dovecot itself hands NUL bytes out as 0x80; either way nothing stops the sync and
        # no NUL reaches the database (the parser's own cleaning is tested in layer 1).
        [crafted] = [s for s in subjects if s.startswith("nul")]
        self.assertNotIn("\x00", crafted)
        self.assertIn("after nul", subjects)

    # ---- identity with real copies ----------------------------------------------------------
    def test_sent_copy_and_delivered_copy_are_one_email(self):
        message_id = f"<offer-{self.v_login}@ourco.example>"
        raw = sender_copy(
            message_id=message_id,
            sender="Alice <alice@ourco.example>",
            to="Joe Customer <joe@acme.example>, Bob <bob@ourco.example>",
        )
        self.append(self.v_login, self.v_password, "Sent", [raw], flags=["\\Seen"])
        self.append(self.a_login, self.a_password, "INBOX", [transit(raw)])
        changed = sender_copy(
            message_id=message_id,
            sender="Alice <alice@ourco.example>",
            to="Joe Customer <joe@acme.example>, Bob <bob@ourco.example>",
            body="Grüße aus Köln,\nhere is the offer for 13 machines.\n",
        )
        self.sync(self.victim_box, self.victim)
        self.sync(self.attacker_box, self.attacker)
        [email] = self.stored(message_id)
        self.assertEqual(email.presence_ids.user_id, self.victim | self.attacker)
        # One byte of the body changed: another email, the victim's copy untouched.
        self.append(self.a_login, self.a_password, "INBOX", [changed])
        self.sync(self.attacker_box, self.attacker)
        self.assertEqual(len(self.stored(message_id)), 2)
        self.assertEqual(email.presence_ids.user_id, self.victim | self.attacker)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestColleagueMail(MailboxCommon):
    """Mail among colleagues stays with its owner, whatever the sharing settings say."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            login="cmc_colleague_boss",
            groups="sales_team.group_sale_salesman_all_leads,base.group_user",
            email="boss@ourco.example",
        )
        cls.user_a.write({"email_sharing_mode": "public", "email_manager_id": cls.manager.id})
        cls.env["ir.config_parameter"].set_param("crm_mail_channel.excluded_domains", "")
        cls.env.company.write({"email": "info@yourcompany.example", "website": False})
        # A contact record at our own domain (not a user), as address books often have.
        cls.carol = cls.env["res.partner"].create(
            {"name": "Carol (consultant)", "email": "carol@ourco.example"}
        )

    def test_company_domain_set_later_makes_stored_mail_private(self):
        mailbox, login, password = self.make_mailbox(self.user_a)
        raw = make_mail("alice@ourco.example", "carol@ourco.example", subject="Internal plan")
        customer = make_mail("joe@acme.example", "alice@ourco.example", subject="Customer mail")
        self.append(login, password, "INBOX", [raw, customer])
        mailbox.with_user(self.user_a).action_sync_now()
        Email = self.env["crm.email"].with_user(self.manager)
        self.assertIn("Internal plan", Email.search([]).mapped("subject"))
        # The organisation's domain is set after the mail was stored.
        self.env.company.write({"email": "info@ourco.example"})
        Email.invalidate_model()
        self.assertNotIn("Internal plan", Email.search([]).mapped("subject"))
        self.assertIn("Customer mail", Email.search([]).mapped("subject"))
        owner_view = self.env["crm.email"].with_user(self.user_a).search([])
        self.assertIn("Internal plan", owner_view.mapped("subject"))

    def test_mail_between_users_is_never_shared(self):
        self.env.company.write({"email": "info@ourco.example"})
        mailbox, login, password = self.make_mailbox(self.user_a)
        raw = make_mail(
            "alice@ourco.example",
            ["bob@ourco.example", "carol@ourco.example"],
            subject="Between us",
        )
        self.append(login, password, "INBOX", [raw])
        mailbox.with_user(self.user_a).action_sync_now()
        email = (
            self.env["crm.email"].with_user(self.user_a).search([("subject", "=", "Between us")])
        )
        self.assertTrue(email.is_colleague_mail)
        email.action_share_thread()
        for user in (self.manager, self.user_b):
            self.assertFalse(
                self.env["crm.email"].with_user(user).search([("id", "=", email.id)]), user.login
            )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestIdentityAttacksOverHttp(SharingMixin, HttpCase):
    """The same refusals through Odoo's JSON-RPC endpoint, as a browser or script calls it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_sharing_org()
        cls.owner.write({"email_sharing_mode": "public"})

    def call(self, login, model, method, args, kwargs=None):
        self.authenticate(login, login)
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def test_json_rpc_cannot_publish_or_relink_an_email(self):
        email = self.e_contact
        self.assertTrue(
            self.env["crm.email"].with_user(self.peer_in).search([("id", "=", email.id)])
        )
        before = (email.sent_from_crm, email.lead_id, tuple(email.reader_keys), email.partner_ids)
        for vals in (
            {"sent_from_crm": True},
            {"partner_ids": [[6, 0, []]]},
            {"lead_id": False, "link_reason": "manual"},
        ):
            with self.assertRaises(JsonRpcException):
                self.call("peer_in", "crm.email", "write", [[email.id], vals])
        with self.assertRaises(JsonRpcException):
            self.call(
                "peer_in",
                "crm.email",
                "create",
                [{"message_id": "<x@y>", "fingerprint": "x"}],
                {"context": {"install_mode": True}},
            )
        email.invalidate_recordset()
        self.assertEqual(
            (email.sent_from_crm, email.lead_id, tuple(email.reader_keys), email.partner_ids),
            before,
        )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestStoreIsolation(MailboxCommon):
    """An error while storing one message affects that message alone."""

    def test_store_error_quarantines_one_message_and_the_rest_arrives(self):
        from ..sync_store import MailboxStore

        mailbox, login, password = self.make_mailbox(self.user_a)
        raws = [
            make_mail("joe@acme.example", "alice@ourco.example", subject=subject)
            for subject in ("before", "poison", "after")
        ]
        self.append(login, password, "INBOX", raws)
        original = MailboxStore._email_vals

        def failing(store, parsed, partner_ids, fingerprint):
            # Stands for any store-time failure (a value the database refuses, a bug).
            if parsed.subject == "poison":
                raise ValueError("cannot store this one")
            return original(store, parsed, partner_ids, fingerprint)

        with patch.object(MailboxStore, "_email_vals", failing):
            mailbox.with_user(self.user_a).action_sync_now()
        subjects = self.env["crm.email"].with_user(self.user_a).search([]).mapped("subject")
        self.assertEqual(sorted(subjects), ["after", "before"])
        quarantine = mailbox.sudo().quarantine_ids
        self.assertEqual(len(quarantine), 1)
        self.assertIn("could not be stored", quarantine.reason)
        self.assertEqual(mailbox.sudo().state, "connected")
        # The cursor moved on: the next sync neither stops nor duplicates anything.
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(self.env["crm.email"].sudo().search_count([("subject", "=", "before")]), 1)
        # Retried once the cause is gone, the message arrives.
        quarantine.with_user(self.user_a).action_retry()
        subjects = self.env["crm.email"].with_user(self.user_a).search([]).mapped("subject")
        self.assertIn("poison", subjects)
