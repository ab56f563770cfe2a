"""The My Mailbox form: one mailbox per user, no blank records, a rejected password never kept,
the provider choice, and what the preferences say about who sees the user's mail."""

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from crm_mail_channel_core import presets

from .common import MailboxCommon

FORM = {"crm_mailbox_form": True}


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxSetup(MailboxCommon):
    def form(self, user, mailbox=None):
        Mailbox = self.env["crm.mailbox"].with_user(user).with_context(**FORM)
        return Form(mailbox.with_user(user).with_context(**FORM) if mailbox else Mailbox)

    def dovecot_form(self, user, password=None):
        login, pw = self.dovecot.new_user("cmcform")
        form = self.form(user)
        form.preset = "other_imap"
        form.host = "127.0.0.1"
        form.security = "none"
        form.port = self.dovecot.imap_port
        form.login = login
        form.password = password or pw
        return form, login, pw

    # ------------------------------------------------------------------ the form
    def test_untouched_form_saves_nothing(self):
        form = self.form(self.user_a)
        self.assertEqual(form.state, "draft")
        with self.assertRaises(AssertionError):
            form.save()  # the provider, then server, login and password are required
        form.preset = "gmail"
        with self.assertRaises(AssertionError):
            form.save()
        self.assertFalse(self.env["crm.mailbox"].sudo().search([("user_id", "=", self.user_a.id)]))

    def test_first_save_with_the_right_password_connects(self):
        form, login, _pw = self.dovecot_form(self.user_a)
        self.assertFalse(form.ssl_verify, "no certificate to verify without encryption")
        mailbox = form.save()
        self.assertEqual((mailbox.user_id, mailbox.login), (self.user_a, login))
        self.assertEqual((mailbox.state, mailbox.last_error), ("connected", False))
        self.assertTrue(mailbox.has_password)

    def test_first_save_with_a_wrong_password_keeps_no_password(self):
        form, _login, pw = self.dovecot_form(self.user_a, password="wrong")
        mailbox = form.save()
        self.assertEqual(mailbox.state, "error")
        self.assertIn("password", mailbox.last_error.lower())
        self.assertFalse(mailbox.has_password)
        self.assertFalse(
            self.env["crm.mail.secret"]
            .sudo()
            .search([("res_model", "=", "crm.mailbox"), ("res_id", "=", mailbox.id)])
        )
        # The form now asks for the password again; the right one connects.
        form = self.form(self.user_a, mailbox)
        form.password = pw
        form.save()
        self.assertEqual((mailbox.state, mailbox.last_error), ("connected", False))
        self.assertTrue(mailbox.has_password)

    def test_no_second_mailbox_from_the_form(self):
        mine, _login, _pw = self.make_mailbox(self.user_a)
        form, _login, _pw = self.dovecot_form(self.user_a)
        with self.assertRaises(UserError):
            form.save()
        self.assertEqual(
            self.env["crm.mailbox"].sudo().search([("user_id", "=", self.user_a.id)]), mine
        )
        self.assertEqual(
            self.env["crm.mailbox"].with_user(self.user_a).action_open_my_mailbox()["res_id"],
            mine.id,
        )

    def test_extra_mailbox_made_earlier_keeps_working(self):
        first, _login, _pw = self.make_mailbox(self.user_a)
        second, _login, _pw = self.make_mailbox(self.user_a)
        self.assertEqual(first.with_user(self.user_a).other_mailbox_count, 1)
        action = first.with_user(self.user_a).action_open_other_mailboxes()
        self.assertEqual(
            self.env["crm.mailbox"].with_user(self.user_a).search(action["domain"]), second
        )
        self.assertEqual(
            second.with_user(self.user_a).action_test_connection()["params"]["type"], "success"
        )

    def test_password_hint_follows_the_connection_details(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        form = self.form(self.user_a, mailbox)
        self.assertTrue(form.has_password)
        form.host = "localhost"
        self.assertFalse(form.has_password, "a new server needs the password again")
        form.host = "127.0.0.1"
        self.assertTrue(form.has_password)

    def test_tls_check_follows_security(self):
        form = self.form(self.user_a)
        form.preset = "other_imap"
        self.assertTrue(form.ssl_verify)
        form.security = "none"
        self.assertFalse(form.ssl_verify)
        self.assertEqual(form.port, 143)
        form.security = "ssl"
        self.assertTrue(form.ssl_verify)
        self.assertEqual(form.port, 993)

    def test_microsoft_says_plainly_that_it_needs_a_sign_in(self):
        form = self.form(self.user_a)
        form.preset = "microsoft"
        if "crm_mail_channel_microsoft" not in self.env.registry._init_modules:
            # With the Microsoft bridge installed the form leads to its Connect button instead.
            self.assertTrue(form.preset_needs_oauth)
            self.assertIn("OAuth", form.preset_note)
        for key in ("gmail", "yahoo", "icloud"):
            form.preset = key
            self.assertFalse(form.preset_needs_oauth)
            self.assertIn("app", form.preset_note.lower())
        self.assertEqual(
            [key for key, preset in presets.PROVIDER_PRESETS.items() if preset.needs_oauth],
            ["microsoft"],
        )

    # ------------------------------------------------------------------ preferences
    def preferences(self, user):
        return user.with_user(user).read(
            ["crm_mailbox_state", "crm_mailbox_login", "email_visibility_summary"]
        )[0]

    def test_preferences_show_the_mailbox_state(self):
        self.assertEqual(self.preferences(self.user_a)["crm_mailbox_state"], "none")
        _mailbox, login, _pw = self.make_mailbox(self.user_a)
        prefs = self.preferences(self.user_a)
        self.assertEqual(
            (prefs["crm_mailbox_state"], prefs["crm_mailbox_login"]), ("connected", login)
        )
        # A colleague learns nothing of it.
        seen = self.user_a.with_user(self.user_b).read(["crm_mailbox_state"])[0]
        self.assertEqual(seen["crm_mailbox_state"], "none")

    def test_preferences_say_who_sees_my_mail(self):
        user = self.user_a
        user.email_sharing_mode = "private"
        text = self.preferences(user)["email_visibility_summary"]
        self.assertIn("seen by you only", text)
        self.assertNotIn("Only you can read them", text)
        user.write({"email_sharing_mode": "public", "email_manager_id": self.user_b.id})
        text = self.preferences(user)["email_visibility_summary"]
        self.assertIn("Public", text)
        self.assertIn("every colleague who can open their contact or deal", text)
        self.assertIn(self.user_b.name, text)
        user.write({"email_audience_user_ids": [(6, 0, self.user_b.ids)]})
        text = self.preferences(user)["email_visibility_summary"]
        self.assertIn(f"{self.user_b.name}, when they can open", text)
        user.write({"email_sharing_mode": "custom"})
        text = self.preferences(user)["email_visibility_summary"]
        self.assertIn("not chosen any contact", text)
        user.write({"email_shared_partner_ids": [(6, 0, self.joe.ids)]})
        self.assertIn("contacts you chose (1)", self.preferences(user)["email_visibility_summary"])
        # The first-time My Mailbox screen says the same.
        form = self.form(user)
        self.assertEqual(form.sharing_summary, self.preferences(user)["email_visibility_summary"])
