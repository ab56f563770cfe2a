from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MailboxCommon, make_mail


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxSync(MailboxCommon):
    def test_initial_sync_inbox_and_sent_keeps_customer_mail_only(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("Joe Customer <joe@acme.example>", login, subject="Quote please"),
                make_mail("Spammer <deals@spam.example>", login, subject="Cheap stuff"),
                make_mail("Bob Seller <bob@ourco.example>", login, subject="Lunch?"),
            ],
        )
        self.append(
            login,
            pw,
            "Sent",
            [
                make_mail(login, "ANN@acme.example", subject="Your order"),
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()

        self.assertEqual(mailbox.state, "connected")
        self.assertFalse(mailbox.last_error)
        self.assertEqual(set(mailbox.folder_ids.mapped("role")), {"inbox", "sent"})
        emails = self.env["crm.email"].with_user(self.user_a).search([])
        self.assertEqual(sorted(emails.mapped("subject")), ["Quote please", "Your order"])
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Quote please")
        sent = self.emails_of(self.user_a, self.ann)
        self.assertEqual(sent.subject, "Your order")
        self.assertTrue(sent.in_sent)
        # Non-customer mail leaves only its addresses behind, no content.
        unmatched = (
            self.env["crm.mailbox.unmatched"].sudo().search([("mailbox_id", "=", mailbox.id)])
        )
        self.assertIn("deals@spam.example", unmatched.mapped("address"))
        self.assertIn("bob@ourco.example", unmatched.mapped("address"))

    def test_resync_adds_only_new_mail(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [make_mail("joe@acme.example", login, subject=f"Mail {i}") for i in range(5)],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 5)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Mail 5")])
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 6)
        self.assertEqual(mailbox.last_imported, 1)
        presences = self.env["crm.email.presence"].sudo().search([("mailbox_id", "=", mailbox.id)])
        self.assertEqual(len(presences), 6)

    def test_same_mail_in_two_mailboxes_is_stored_once(self):
        box_a, login_a, pw_a = self.make_mailbox(self.user_a)
        box_b, login_b, pw_b = self.make_mailbox(self.user_b)
        raw = make_mail("joe@acme.example", [login_a, login_b], subject="To both of you")
        self.append(login_a, pw_a, "INBOX", [raw])
        self.append(login_b, pw_b, "INBOX", [raw])
        box_a.with_user(self.user_a).action_sync_now()
        box_b.with_user(self.user_b).action_sync_now()

        email = self.env["crm.email"].search([("subject", "=", "To both of you")])
        self.assertEqual(len(email), 1)
        self.assertEqual(len(email.presence_ids), 2)
        self.assertEqual(email.presence_ids.mapped("user_id"), self.user_a | self.user_b)
        for user in (self.user_a, self.user_b):
            self.assertEqual(self.emails_of(user, self.joe), email.with_user(user))
            self.assertEqual(self.joe.with_user(user).crm_email_count, 1)

    def test_huge_message_quarantined_then_retry_and_skip(self):
        mailbox, login, pw = self.make_mailbox(self.user_a, max_message_size_mb=1)
        big = "x" * 1_500_000
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("joe@acme.example", login, subject="Small"),
                make_mail("joe@acme.example", login, subject="Big one", body=big),
                make_mail("joe@acme.example", login, subject="Big two", body=big),
                make_mail("joe@acme.example", login, subject="After"),
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        # The sync goes on past the bad messages.
        self.assertEqual(
            sorted(self.emails_of(self.user_a, self.joe).mapped("subject")), ["After", "Small"]
        )
        quarantine = mailbox.with_user(self.user_a).quarantine_ids
        self.assertEqual(len(quarantine), 2)
        self.assertEqual(mailbox.quarantine_count, 2)
        self.assertTrue(all(quarantine.mapped("reason")))

        first, second = quarantine.sorted("uid")
        mailbox.max_message_size_mb = 5
        first.with_user(self.user_a).action_retry()
        self.assertEqual(first.state, "done")
        self.assertIn("Big one", self.emails_of(self.user_a, self.joe).mapped("subject"))

        second.with_user(self.user_a).action_skip()
        self.assertEqual(second.state, "skipped")
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 3)
        self.assertEqual(mailbox.quarantine_count, 0)

    def test_uidvalidity_reset_imports_nothing_twice(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [make_mail("joe@acme.example", login, subject=f"In {i}") for i in range(3)],
        )
        self.append(
            login,
            pw,
            "Sent",
            [make_mail(login, "ann@acme.example", subject=f"Out {i}") for i in range(2)],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.env["crm.email"].with_user(self.user_a).search([])), 5)
        inbox = mailbox.folder_ids.filtered(lambda f: f.role == "inbox")
        old_validity = inbox.uidvalidity

        self.dovecot.set_uidvalidity(login, "INBOX")
        self.dovecot.recreate_folder(login, pw, "Sent")
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="In 3")])
        mailbox.with_user(self.user_a).action_sync_now()

        self.assertEqual(mailbox.state, "connected")
        self.assertNotEqual(inbox.uidvalidity, old_validity)
        emails = self.env["crm.email"].with_user(self.user_a).search([])
        self.assertEqual(len(emails), 6)
        presences = self.env["crm.email.presence"].sudo().search([("mailbox_id", "=", mailbox.id)])
        self.assertEqual(len(presences), 6)
        self.assertTrue(all(presences.mapped("uid")), "each presence has its new UID")

    def test_contact_created_later_brings_past_mail(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("New Prospect <Prospect@Later.example>", login, subject="Interested"),
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertFalse(self.env["crm.email"].search([("subject", "=", "Interested")]))

        prospect = (
            self.env["res.partner"]
            .with_user(self.user_a)
            .create({"name": "New Prospect", "email": "prospect@later.example"})
        )
        unmatched = (
            self.env["crm.mailbox.unmatched"]
            .sudo()
            .search([("mailbox_id", "=", mailbox.id), ("address", "=", "prospect@later.example")])
        )
        self.assertTrue(unmatched.rescan)
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(self.emails_of(self.user_a, prospect).subject, "Interested")
        self.assertFalse(unmatched.exists())

        # A contact whose address changes later gets its past mail as well.
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("other@later.example", login, subject="From my other address"),
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        self.ann.email = "other@later.example"
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertIn(
            "From my other address", self.emails_of(self.user_a, self.ann).mapped("subject")
        )

    def test_wrong_password_loses_nothing(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Kept")])
        mailbox.with_user(self.user_a).action_sync_now()
        mailbox.with_user(self.user_a).password = "wrong-password"
        action = mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.state, "error")
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(action["params"]["message"], mailbox.last_error)
        self.assertIn("password", mailbox.last_error)
        self.assertNotIn("Traceback", mailbox.last_error)
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Kept")
        # The cron does not stop on the broken mailbox: the others still sync.
        other, login_b, pw_b = self.make_mailbox(self.user_b)
        self.append(login_b, pw_b, "INBOX", [make_mail("ann@acme.example", login_b, subject="B")])
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        self.assertEqual(other.state, "connected")
        self.assertEqual(self.emails_of(self.user_b, self.ann).subject, "B")
        self.assertEqual(mailbox.state, "error")
        mailbox.with_user(self.user_a).password = pw
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.state, "connected")

    def test_pop3_sync_leaves_mail_and_imports_once(self):
        mailbox, login, pw = self.make_mailbox(self.user_a, protocol="pop3")
        self.append(
            login,
            pw,
            "INBOX",
            [make_mail("joe@acme.example", login, subject=f"Pop {i}") for i in range(3)]
            + [make_mail("someone@else.example", login, subject="Not a customer")],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 3)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Pop 3")])
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 4)
        client = self.imap(login, pw)
        try:
            self.assertEqual(client.select_folder("INBOX", readonly=True)[b"EXISTS"], 5)
        finally:
            client.logout()

    def test_paused_mailbox_is_not_synced(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        mailbox.with_user(self.user_a).action_pause()
        self.assertEqual(mailbox.state, "paused")
        with self.assertRaises(UserError):
            mailbox.with_user(self.user_a).action_sync_now()
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        self.assertFalse(mailbox.last_sync_date)
        mailbox.with_user(self.user_a).action_resume()
        self.assertEqual(mailbox.state, "connected")

    def test_second_sync_while_locked_says_already_syncing(self):
        """A row lock held by another transaction (a cron worker) blocks "Sync now"."""
        with self.committed_mailbox_locked() as (mailbox_id, _login, _pw, other_cr):
            mailbox = self.env(cr=other_cr)["crm.mailbox"].browse(mailbox_id)
            with self.assertRaises(UserError) as caught:
                mailbox.action_sync_now()
            self.assertIn("already syncing", str(caught.exception))
            # The cron skips it instead of waiting for the lock.
            self.assertFalse(mailbox._try_lock())
            self.assertEqual(mailbox.state, "connected")
