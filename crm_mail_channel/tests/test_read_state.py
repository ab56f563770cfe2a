from odoo.tests import tagged

from .common import MailboxCommon, make_mail


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestReadState(MailboxCommon):
    def _flags(self, login, pw, folder="INBOX"):
        client = self.imap(login, pw)
        try:
            client.select_folder(folder, readonly=True)
            data = client.fetch(client.search(["ALL"]), ["FLAGS", "ENVELOPE"])
            return {
                msg[b"ENVELOPE"].subject.decode(): b"\\Seen" in msg[b"FLAGS"]
                for msg in data.values()
            }
        finally:
            client.logout()

    def _set_server_seen(self, login, pw, seen):
        client = self.imap(login, pw)
        try:
            client.select_folder("INBOX")
            uids = client.search(["ALL"])
            (client.add_flags if seen else client.remove_flags)(uids, [b"\\Seen"])
        finally:
            client.logout()

    def test_read_state_both_ways(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Unread")])
        self.append(
            login,
            pw,
            "INBOX",
            [make_mail("joe@acme.example", login, subject="Read")],
            flags=[b"\\Seen"],
        )
        mailbox.with_user(self.user_a).action_sync_now()
        # Fetching never marks mail as read on the server.
        self.assertEqual(self._flags(login, pw), {"Unread": False, "Read": True})

        Email = self.env["crm.email"].with_user(self.user_a)
        unread = Email.search([("subject", "=", "Unread")])
        read = Email.search([("subject", "=", "Read")])
        self.assertFalse(unread.is_read)
        self.assertTrue(read.is_read)
        self.assertEqual(Email.search([("is_read", "=", False)]), unread)

        # CRM -> server, right away.
        unread.action_mark_read()
        read.is_read = False
        self.assertEqual(self._flags(login, pw), {"Unread": True, "Read": False})
        self.assertTrue(unread.is_read)
        self.assertFalse(read.is_read)
        self.assertFalse(any(unread.sudo().presence_ids.mapped("seen_pending")))

        # Server -> CRM at the next sync.
        self._set_server_seen(login, pw, False)
        mailbox.with_user(self.user_a).action_sync_now()
        unread.invalidate_recordset()
        self.assertFalse(unread.is_read)
        self._set_server_seen(login, pw, True)
        mailbox.with_user(self.user_a).action_sync_now()
        (unread | read).invalidate_recordset()
        self.assertTrue(unread.is_read)
        self.assertTrue(read.is_read)

    def test_read_state_kept_when_server_unreachable(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Later")])
        mailbox.with_user(self.user_a).action_sync_now()
        email = self.env["crm.email"].with_user(self.user_a).search([("subject", "=", "Later")])
        mailbox.sudo().write({"password": "temporarily-wrong"})
        email.action_mark_read()
        self.assertTrue(email.is_read)
        self.assertTrue(email.sudo().presence_ids.seen_pending)
        self.assertEqual(self._flags(login, pw), {"Later": False})

        mailbox.sudo().write({"password": pw})
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertFalse(email.sudo().presence_ids.seen_pending)
        self.assertEqual(self._flags(login, pw), {"Later": True})
        email.invalidate_recordset()
        self.assertTrue(email.is_read)

    def test_read_state_is_per_user(self):
        box_a, login_a, pw_a = self.make_mailbox(self.user_a)
        box_b, login_b, pw_b = self.make_mailbox(self.user_b)
        raw = make_mail("joe@acme.example", [login_a, login_b], subject="Shared")
        self.append(login_a, pw_a, "INBOX", [raw])
        self.append(login_b, pw_b, "INBOX", [raw])
        box_a.with_user(self.user_a).action_sync_now()
        box_b.with_user(self.user_b).action_sync_now()
        email = self.env["crm.email"].search([("subject", "=", "Shared")])
        email.with_user(self.user_a).action_mark_read()
        self.assertTrue(email.with_user(self.user_a).is_read)
        self.assertFalse(email.with_user(self.user_b).is_read)
        self.assertEqual(self._flags(login_b, pw_b), {"Shared": False})

    def test_opening_shared_mail_changes_only_the_viewers_copy(self):
        """Opening an email calls action_mark_read (the conversation view does it): a manager
        reading a subordinate's shared mail changes nothing of the owner's, here or on the
        server; the owner opening it marks their own copy read, with \\Seen on the server."""
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.user_a.sudo().write(
            {"email_sharing_mode": "public", "email_manager_id": self.user_b.id}
        )
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Shared")])
        mailbox.with_user(self.user_a).action_sync_now()
        email = self.env["crm.email"].with_user(self.user_b).search([("subject", "=", "Shared")])
        self.assertEqual(len(email), 1, "the manager reads the shared email")
        self.assertFalse(email.my_mailbox_info)

        email.action_mark_read()
        email.invalidate_recordset()
        self.assertFalse(email.with_user(self.user_a).is_read)
        presence = email.sudo().presence_ids
        self.assertEqual((presence.is_seen, presence.seen_pending), (False, False))
        self.assertEqual(self._flags(login, pw), {"Shared": False})

        email.with_user(self.user_a).action_mark_read()
        email.invalidate_recordset()
        self.assertTrue(email.with_user(self.user_a).is_read)
        self.assertFalse(email.with_user(self.user_b).is_read)
        self.assertEqual(self._flags(login, pw), {"Shared": True})
