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

    def test_wrong_password_in_plain_words(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        mailbox.with_user(self.user_a).password = "not-the-password"
        with self.assertRaises(UserError) as caught:
            mailbox.with_user(self.user_a).action_test_connection()
        core = self._core_message(mailbox, "not-the-password")
        self.assertIsInstance(core, errors.AuthenticationFailed)
        self.assertEqual(str(caught.exception), core.user_message)
        self.assertIn("password", str(caught.exception).lower())
        self.assertNotIn("Traceback", str(caught.exception))

    def test_unreachable_host_in_plain_words(self):
        mailbox, _login, pw = self.make_mailbox(self.user_a, port=_closed_port())
        with self.assertRaises(UserError) as caught:
            mailbox.with_user(self.user_a).action_test_connection()
        core = self._core_message(mailbox, pw)
        self.assertIsInstance(core, (errors.HostUnreachable, errors.ConnectionTimedOut))
        self.assertEqual(str(caught.exception), core.user_message)

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
        draft = Mailbox.browse(action["res_id"])
        self.assertEqual((draft.user_id, draft.state), (self.user_a, "draft"))
        self.assertEqual(Mailbox.action_open_my_mailbox()["res_id"], draft.id)
        self.assertNotEqual(
            self.env["crm.mailbox"].with_user(self.user_b).action_open_my_mailbox()["res_id"],
            draft.id,
        )
