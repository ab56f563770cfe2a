import socket

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from crm_mail_channel_core import errors, mailbox_client, presets

from .common import MailboxCommon


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxConnect(MailboxCommon):
    def test_connection_ok_shows_notification(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a, state="draft")
        action = mailbox.with_user(self.user_a).action_test_connection()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(mailbox.state, "connected")

    def _core_message(self, mailbox, password):
        settings = mailbox.sudo()._mailbox_settings()
        settings.password = password
        with self.assertRaises(errors.MailChannelError) as caught:
            mailbox_client.test_connection(settings)
        return caught.exception

    def test_wrong_password_in_plain_words_and_not_kept(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        mailbox.with_user(self.user_a).password = "not-the-password"
        core = self._core_message(mailbox, "not-the-password")
        action = mailbox.with_user(self.user_a).action_test_connection()
        self.assertIsInstance(core, errors.AuthenticationFailed)
        self.assertEqual(action["params"]["type"], "danger")
        message = action["params"]["message"]
        self.assertEqual(message, core.user_message)
        self.assertIn("password", message.lower())
        self.assertNotIn("Traceback", message)
        # Rejected: not kept, and the mailbox says why (form and Mailbox Health).
        self.assertFalse(mailbox.has_password)
        self.assertEqual(mailbox.sudo()._get_password(), "")
        self.assertEqual((mailbox.state, mailbox.last_error), ("error", core.user_message))
        health = self.env["crm.mailbox"].search_read(
            [("id", "=", mailbox.id)], ["state", "last_error"]
        )
        self.assertEqual(health[0]["last_error"], core.user_message)
        # Trying again without a new password repeats the reason, not a generic message.
        again = mailbox.with_user(self.user_a).action_test_connection()
        self.assertEqual(again["params"]["message"], core.user_message)

    def test_unreachable_host_in_plain_words(self):
        mailbox, _login, pw = self.make_mailbox(self.user_a, port=_closed_port())
        core = self._core_message(mailbox, pw)
        action = mailbox.with_user(self.user_a).action_test_connection()
        self.assertIsInstance(core, (errors.HostUnreachable, errors.ConnectionTimedOut))
        self.assertEqual(action["params"]["message"], core.user_message)
        self.assertEqual((mailbox.state, mailbox.last_error), ("error", core.user_message))
        # Not a rejection: the password stays for when the server is back.
        self.assertTrue(mailbox.has_password)

    def test_password_is_write_only(self):
        mailbox, _login, pw = self.make_mailbox(self.user_a)
        admin = self.env.ref("base.user_admin")
        for user in (self.user_a, admin):
            self.assertEqual(
                mailbox.with_user(user).read(["password", "has_password"])[0],
                {"id": mailbox.id, "password": False, "has_password": True},
            )
        with self.assertRaises(AccessError):
            self.env["crm.mail.secret"].with_user(admin).search_read([], ["value"])
        with self.assertRaises(AccessError):
            self.env["crm.mail.secret"].with_user(self.user_a).search_read([], ["value"])
        self.assertEqual(mailbox.sudo()._get_password(), pw)
        # Another user does not even see the mailbox.
        self.assertFalse(
            self.env["crm.mailbox"].with_user(self.user_b).search([("id", "=", mailbox.id)])
        )

    def test_preset_fills_server_and_pop3_warns(self):
        key, preset = next(
            (k, p) for k, p in presets.PROVIDER_PRESETS.items() if p.protocol == "imap" and p.host
        )
        form = Form(self.env["crm.mailbox"].with_user(self.user_a))
        form.preset = key
        self.assertEqual(form.host, preset.host)
        self.assertEqual(form.port, preset.port)
        self.assertEqual(form.security, preset.security)
        form.login = "someone@example.com"
        form.password = "app-password"
        mailbox = form.save()
        self.assertTrue(mailbox.has_password)
        self.assertEqual(mailbox.sync_window_days, 90)
        self.assertTrue(mailbox.pop3_warning)
        self.assertIn("IMAP", mailbox.pop3_warning)

    def test_my_mailbox_action_opens_own_mailbox(self):
        Mailbox = self.env["crm.mailbox"].with_user(self.user_a)
        action = Mailbox.action_open_my_mailbox()
        # No mailbox yet: a form in create mode, and nothing saved by opening it.
        self.assertNotIn("res_id", action)
        self.assertFalse(self.env["crm.mailbox"].sudo().search([("user_id", "=", self.user_a.id)]))
        mine, _login, _pw = self.make_mailbox(self.user_a)
        self.assertEqual(Mailbox.action_open_my_mailbox()["res_id"], mine.id)
        self.assertNotIn(
            "res_id", self.env["crm.mailbox"].with_user(self.user_b).action_open_my_mailbox()
        )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxOwnership(MailboxCommon):
    """Who owns a mailbox, and what a saved password is bound to."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.env.ref("base.user_admin")

    def test_changing_the_server_needs_the_password_again(self):
        mailbox, _login, pw = self.make_mailbox(self.user_a)
        mine = mailbox.with_user(self.user_a)
        mine.write({"sync_window_days": 30, "max_message_size_mb": 10, "name": "Work"})
        self.assertTrue(mine.has_password, "other settings keep the password")
        for field, value in (
            ("host", "localhost"),
            ("port", self.dovecot.imap_port + 1),
            ("security", "starttls"),
            ("protocol", "pop3"),
            ("login", "someone-else"),
            ("ssl_verify", False),
        ):
            previous = mailbox[field]
            mine.write({field: value, "password": pw})
            self.assertTrue(mine.has_password)
            mine.write({field: previous})
            self.assertFalse(mine.has_password, f"changing {field} clears the password")
            self.assertEqual(mailbox.sudo()._get_password(), "")
            with self.assertRaises(UserError) as caught:
                mine.action_test_connection()
            self.assertIn("password again", str(caught.exception))
            mine.password = pw
        self.assertEqual(mine.action_test_connection()["params"]["type"], "success")

    def test_writing_the_same_server_keeps_the_password(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        mine = mailbox.with_user(self.user_a)
        mine.write({"host": mailbox.host, "port": mailbox.port, "login": mailbox.login})
        self.assertTrue(mine.has_password)

    def test_password_unused_when_the_server_changed_behind_the_orm(self):
        """A path that skips write() (SQL, an import script) cannot reuse the password."""
        mailbox, _login, pw = self.make_mailbox(self.user_a)
        self.env.cr.execute("UPDATE crm_mailbox SET port = 1 WHERE id = %s", [mailbox.id])
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.sudo()._get_password(), "")
        self.assertFalse(mailbox.with_user(self.user_a).has_password)
        with self.assertRaises(UserError):
            mailbox.sudo()._mailbox_settings()
        self.env.cr.execute(
            "UPDATE crm_mailbox SET port = %s WHERE id = %s", [self.dovecot.imap_port, mailbox.id]
        )
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.sudo()._get_password(), pw)

    def test_only_an_admin_creates_for_or_hands_over_to_another_user(self):
        Mailbox = self.env["crm.mailbox"]
        with self.assertRaises(AccessError):
            Mailbox.with_user(self.user_b).create({"user_id": self.user_a.id, "login": "x"})
        with self.assertRaises(AccessError):
            Mailbox.with_user(self.user_b).with_context(default_user_id=self.user_a.id).create(
                {"login": "x"}
            )
        made = Mailbox.with_user(self.admin).create({"user_id": self.user_a.id, "login": "y"})
        self.assertEqual(made.user_id, self.user_a)
        mailbox, _login, pw = self.make_mailbox(self.user_a)
        with self.assertRaises(AccessError):
            mailbox.with_user(self.user_a).write({"user_id": self.user_b.id})
        self.assertEqual(mailbox.user_id, self.user_a)
        self.assertTrue(mailbox.has_password)
        # Writing the owner it already has is no change.
        mailbox.with_user(self.user_a).write({"user_id": self.user_a.id})
        # An administrator hands it over; the new owner types the password.
        mailbox.with_user(self.admin).write({"user_id": self.user_b.id})
        self.assertEqual(mailbox.sudo().user_id, self.user_b)
        self.assertFalse(mailbox.sudo().has_password)
        mailbox.with_user(self.user_b).password = pw
        self.assertEqual(
            mailbox.with_user(self.user_b).action_test_connection()["params"]["type"], "success"
        )

    def test_admin_pauses_resumes_and_tests_but_does_not_sync(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        as_admin = mailbox.with_user(self.admin)
        self.assertFalse(as_admin.is_owner)
        self.assertTrue(mailbox.with_user(self.user_a).is_owner)
        as_admin.action_pause()
        self.assertEqual(mailbox.state, "paused")
        as_admin.action_resume()
        self.assertEqual(mailbox.state, "connected")
        self.assertEqual(as_admin.action_test_connection()["params"]["type"], "success")
        with self.assertRaises(AccessError):
            as_admin.action_sync_now()
        with self.assertRaises(AccessError):
            as_admin.action_retry_sent_copies()
        self.assertFalse(mailbox.last_sync_date)

    def test_passwords_saved_before_fingerprints_are_bound_by_the_upgrade(self):
        mailbox, _login, pw = self.make_mailbox(self.user_a)
        secret = (
            self.env["crm.mail.secret"]
            .sudo()
            .search([("res_model", "=", "crm.mailbox"), ("res_id", "=", mailbox.id)])
        )
        secret.fingerprint = False
        mailbox.invalidate_recordset()
        self.assertFalse(mailbox.sudo().has_password)
        self.assertEqual(self.env["crm.mailbox"]._crm_fingerprint_saved_passwords(), 1)
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.sudo()._get_password(), pw)
