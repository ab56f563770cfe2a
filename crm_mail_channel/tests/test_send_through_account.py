"""Sending CRM mail through the user's own account, with a mailbox password: a real SMTP
submission server on loopback that requires AUTH (crm_mail_channel_testing.smtp_sink with an
SmtpAuthPolicy), next to Odoo's own outgoing server (the plain sink)."""

import email
import email.policy
import json
import time
import uuid

from odoo.exceptions import AccessError
from odoo.tests import Form, HttpCase, new_test_user, tagged

from crm_mail_channel_testing.smtp_sink import SmtpAuthPolicy, SmtpSink

from .common import really_send
from .test_send_from_crm import SendCase


class AccountSendCase(SendCase):
    """Alice's mailbox has an address as login; a second sink plays her provider's server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = SmtpAuthPolicy()
        cls.account_sink = SmtpSink(auth_policy=cls.policy).start()
        cls.addClassCleanup(cls.account_sink.stop)

    def setUp(self):
        super().setUp()
        self.account_sink.clear()
        self.policy.passwords.clear()
        self.policy.tenant_disabled.clear()
        self.mailbox, self.login = self.mailbox_with_address(self.user_a, self.mailbox)
        self.password = "secret"
        self.policy.passwords[self.login] = "secret"

    def mailbox_with_address(self, user, previous=None):
        address = f"{user.login}.{uuid.uuid4().hex[:8]}@ourco.example"
        self.dovecot.add_users([(address, "secret")])
        if previous:
            previous.sudo().active = False
        mailbox, _login, _password = self.make_mailbox(user, login=address, password="secret")
        self._wait_for_login(address, "secret")
        return mailbox, address

    def switch_on(self, mailbox=None, user=None, **vals):
        mailbox = (mailbox or self.mailbox).with_user(user or self.user_a)
        mailbox.write(
            {
                "send_through_account": True,
                "smtp_host": self.account_sink.host,
                "smtp_port": self.account_sink.port,
                "smtp_security": "none",
                **vals,
            }
        )
        return mailbox

    def received_by(self, sink, message_id, timeout=5.0):
        deadline = time.monotonic() + timeout
        needle = message_id.encode()
        while True:
            found = [m for m in sink.messages if needle in m["raw"]]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def mails_of(self, message):
        return self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])

    def send_offer(self, subject, user=None):
        user = user or self.user_a
        record = self.deal_1 if user == self.user_a else self.joe  # deal_1 is Alice's
        return self.compose_and_send(
            record.with_user(user).action_crm_send_email(), subject=subject, user=user
        )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendThroughAccount(AccountSendCase):
    def test_password_account_sends_through_its_own_server(self):
        self.switch_on()
        self.assertTrue(self.mailbox.store_sent_on_server, "a plain IMAP host keeps no copy")
        message = self.send_offer("Through my account")
        [received] = self.received_by(self.account_sink, message.message_id)
        self.assertFalse(self.received_by(self.sink, message.message_id, timeout=0.2))
        attempt = self.account_sink.auth_attempts[-1]
        self.assertEqual((attempt["login"], attempt["success"]), (self.login, True))
        self.assertEqual(received["auth_user"], self.login)
        self.assertEqual(received["mail_from"], self.login)
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, self.login)
        self.assertEqual(parsed["From"].addresses[0].display_name, self.user_a.name)
        self.assertEqual(parsed["Message-Id"].strip(), message.message_id)
        self.assertIsNone(parsed["DKIM-Signature"])
        # This server keeps no copy: CRM stores one in Sent (Email Insights may store the
        # untracked version of the bytes, see ir_mail_server_tracking.py).
        [(_uid, stored, _flags)] = self.sent_folder()
        self.assertIn(message.message_id.encode(), stored)
        self.mailbox.sudo()._sync()
        self.assertEqual(len(self.emails_with(message.message_id)), 1)

    def test_off_mail_goes_through_odoo_server_unchanged(self):
        message = self.send_offer("Through Odoo")
        self.assertTrue(self.received_by(self.sink, message.message_id))
        self.assertFalse(self.received_by(self.account_sink, message.message_id, timeout=0.2))
        self.assertEqual(self.account_sink.auth_attempts, [])

    def test_refused_password_fails_in_plain_words_and_retry_sends(self):
        self.switch_on()
        self.policy.passwords[self.login] = "changed-at-the-provider"
        message = self.send_offer("Refused")
        mail = self.mails_of(message)
        self.assertEqual(mail.state, "exception")
        self.assertIn("refused your login and password", mail.failure_reason)
        self.assertIn("The email is kept", mail.failure_reason)
        self.assertNotIn("Traceback", mail.failure_reason)
        self.assertFalse(self.received_by(self.account_sink, message.message_id, timeout=0.2))
        self.assertFalse(self.received_by(self.sink, message.message_id, timeout=0.2))
        notification = message.notification_ids.filtered(lambda n: n.res_partner_id == self.joe)
        self.assertEqual(notification.notification_status, "exception")
        self.assertIn("refused your login", notification.failure_reason)
        # Fixed at the provider: the kept mail is retried and leaves.
        self.policy.passwords[self.login] = "secret"
        mail.write({"state": "outgoing"})
        with really_send():
            mail.send()
        self.assertTrue(self.received_by(self.account_sink, message.message_id))

    def test_tenant_disabled_in_microsoft_words(self):
        self.switch_on()
        self.policy.tenant_disabled.add(self.login)
        mail = self.mails_of(self.send_offer("Tenant"))
        self.assertEqual(mail.state, "exception")
        self.assertIn("Authenticated SMTP", mail.failure_reason)

    def test_gmail_keeps_its_copy_none_appended(self):
        self.mailbox.with_user(self.user_a).preset = "gmail"
        self.switch_on()
        self.assertFalse(self.mailbox.store_sent_on_server, "Gmail keeps the copy itself")
        # Even turned back on, mail sent through Gmail is not appended a second time.
        self.mailbox.with_user(self.user_a).store_sent_on_server = True
        message = self.send_offer("Gmail copy")
        [received] = self.received_by(self.account_sink, message.message_id)
        self.assertEqual(self.sent_folder(), [], "CRM did not append")
        pending = self.env["crm.mailbox.pending.append"].sudo()
        self.assertFalse(pending.search([("message_id", "=", message.message_id)]))
        # The provider's own copy is claimed by the sync: one email.
        self.append(self.login, self.password, "Sent", [received["raw"]], flags=["\\Seen"])
        self.mailbox.sudo()._sync()
        crm_email = self.emails_with(message.message_id)
        self.assertEqual(len(crm_email), 1)
        presence = crm_email.presence_ids.filtered(lambda p: p.mailbox_id == self.mailbox)
        self.assertEqual(presence.folder_id.role, "sent")

    def test_test_sending_button(self):
        self.switch_on()
        self.policy.passwords[self.login] = "other"
        action = self.mailbox.with_user(self.user_a).action_crm_test_sending()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("refused your login and password", action["params"]["message"])
        self.policy.passwords[self.login] = "secret"
        action = self.mailbox.with_user(self.user_a).action_crm_test_sending()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.account_sink.messages, [], "nothing is sent")
        with self.assertRaises(AccessError):
            self.mailbox.with_user(self.env.ref("base.user_admin")).action_crm_test_sending()

    def test_onchange_fills_the_provider_server(self):
        self.mailbox.sudo().write({"preset": "gmail", "smtp_host": False})
        form = Form(self.mailbox.with_user(self.user_a))
        form.send_through_account = True
        self.assertEqual((form.smtp_host, form.smtp_port), ("smtp.gmail.com", 465))
        self.assertFalse(form.store_sent_on_server)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendThroughAccountAttack(AccountSendCase):
    def test_nobody_else_switches_it_on(self):
        admin = self.env.ref("base.user_admin")
        for user in (self.user_b, admin):
            for vals in (
                {"send_through_account": True},
                {"smtp_host": "smtp.attacker.example"},
                {"smtp_port": 2525},
            ):
                with self.assertRaises(AccessError):
                    self.mailbox.with_user(user).write(vals)
        self.assertFalse(self.mailbox.send_through_account)
        with self.assertRaises(AccessError):
            self.env["crm.mailbox"].with_user(admin).create(
                {
                    "user_id": self.user_a.id,
                    "host": "127.0.0.1",
                    "login": "alice@ourco.example",
                    "send_through_account": True,
                    "smtp_host": "smtp.attacker.example",
                }
            )

    def test_handing_over_turns_it_off(self):
        self.switch_on()
        admin = self.env.ref("base.user_admin")
        self.mailbox.with_user(admin).write({"user_id": self.user_b.id})
        self.assertFalse(self.mailbox.send_through_account)

    def test_a_colleague_mail_never_takes_my_account(self):
        self.switch_on()
        bob_mailbox, bob_address = self.mailbox_with_address(self.user_b)
        self.policy.passwords[bob_address] = "secret"
        self.switch_on(bob_mailbox, self.user_b)
        # Bob writes "from" Alice's account address.
        form = Form(
            self.env["mail.compose.message"]
            .with_user(self.user_b)
            .with_context(**self.joe.with_user(self.user_b).action_crm_send_email()["context"])
        )
        form.email_from = f"Alice <{self.login}>"
        form.subject = "Pretending"
        form.body = "<p>Hi</p>"
        composer = form.save()
        with really_send():
            composer.action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.joe.id)], order="id desc", limit=1
        )
        self.assertEqual(message.subject, "Pretending")
        self.assertFalse(self.received_by(self.account_sink, message.message_id, timeout=0.3))
        self.assertNotIn(self.login, [a["login"] for a in self.account_sink.auth_attempts])
        # Not Bob's own address either: Odoo's server sends it, as without the option.
        self.assertTrue(self.received_by(self.sink, message.message_id))
        # Bob's mail as himself goes through his own account, logged in as him only.
        message = self.send_offer("Bob as Bob", user=self.user_b)
        [received] = self.received_by(self.account_sink, message.message_id)
        self.assertEqual(received["auth_user"], bob_address)
        self.assertEqual({a["login"] for a in self.account_sink.auth_attempts}, {bob_address})

    def test_a_forged_creator_is_ignored(self):
        """The account is chosen by the mail's creator, which the ORM sets: a caller (even in
        sudo) cannot name another one."""
        self.switch_on()
        mail = (
            self.env["mail.mail"]
            .with_user(self.user_b)
            .sudo()
            .create(
                {
                    "create_uid": self.user_a.id,
                    "email_from": self.login,
                    "email_to": "joe@acme.example",
                    "subject": "Forged creator",
                    "body_html": "<p>Hi</p>",
                }
            )
        )
        self.assertEqual(mail.create_uid, self.user_b)
        message_id = mail.message_id
        with really_send():
            mail.send()
        self.assertNotIn(self.login, [a["login"] for a in self.account_sink.auth_attempts])
        self.assertTrue(self.received_by(self.sink, message_id))


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSendThroughAccountRpc(HttpCase):
    """The same refusal over JSON-RPC, as an administrator's browser session would send it."""

    def test_admin_cannot_switch_it_on_over_rpc(self):
        owner = new_test_user(
            self.env, login="cmc_sta_owner", groups="sales_team.group_sale_salesman"
        )
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(owner)
            .create({"host": "imap.example.com", "login": "owner@example.com"})
        )
        self.authenticate("admin", "admin")
        for vals in ({"send_through_account": True}, {"smtp_host": "smtp.attacker.example"}):
            response = self.url_open(
                "/web/dataset/call_kw/crm.mailbox/write",
                data=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "call",
                        "params": {
                            "model": "crm.mailbox",
                            "method": "write",
                            "args": [mailbox.ids, vals],
                            "kwargs": {},
                        },
                    }
                ),
                headers={"Content-Type": "application/json"},
            )
            error = response.json()["error"]["data"]
            self.assertEqual(error["name"], "odoo.exceptions.AccessError")
            self.assertIn("Only the owner", error["message"])
        mailbox.invalidate_recordset()
        self.assertFalse(mailbox.send_through_account)
        self.assertFalse(mailbox.smtp_host)
