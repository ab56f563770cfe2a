"""Provider sign-in (OAuth) tests shared by the Google and Microsoft bridges.

The provider is played by crm_mail_channel_testing.oauth_provider on loopback, and the mail
server by a second Dovecot that accepts XOAUTH2 tokens after asking that provider (real
protocol both ways). A bridge's test module subclasses these mixins with a TransactionCase or
an HttpCase and fills in the PROVIDER attributes and ``_configure_provider``.
"""

import email
import email.policy
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user

from crm_mail_channel_testing.oauth_provider import ensure_oauth_servers
from crm_mail_channel_testing.smtp_sink import SmtpAuthPolicy, SmtpSink, ensure_smtp_sink

from .common import make_mail, really_send

SALES_GROUPS = "sales_team.group_sale_salesman,base.group_user"


class OAuthCommon:
    """Servers, users and mailboxes signed in with the fake provider."""

    # Odoo's loader runs only methods defined on the TestCase itself unless told otherwise.
    allow_inherited_tests_method = True
    auth_type = None  # "google" | "microsoft"
    callback_path = None  # Odoo's own callback route the bridge extends
    token_fields = None  # (refresh, access, expiration) field names on crm.mailbox

    @classmethod
    def _setup_oauth(cls):
        cls.provider, cls.oauth_dovecot = ensure_oauth_servers()
        cls._configure_provider()
        cls.owner = new_test_user(
            cls.env, login="cmc_oa_owner", groups=SALES_GROUPS, email="owner@ourco.example"
        )
        cls.attacker = new_test_user(
            cls.env, login="cmc_oa_attacker", groups=SALES_GROUPS, email="eve@ourco.example"
        )
        cls.joe = cls.env["res.partner"].create(
            {"name": "Joe OAuth Customer", "email": "joe.oauth@acme.example"}
        )

    @classmethod
    def _configure_provider(cls):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.provider.rotate = False

    def make_oauth_mailbox(self, user, signed_in=True, **vals):
        login, password = self.oauth_dovecot.new_user("oa")
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(user)
            .create(
                {
                    "auth_type": self.auth_type,
                    "protocol": "imap",
                    "host": "127.0.0.1",
                    "port": self.oauth_dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    **vals,
                }
            )
        )
        if signed_in:
            access, refresh = self.provider.issue_tokens(login)
            refresh_f, access_f, expiry_f = self.token_fields
            mailbox.sudo().write(
                {
                    refresh_f: refresh,
                    access_f: access,
                    expiry_f: int(time.time()) + 3600,
                    "state": "connected",
                }
            )
        return mailbox, login, password

    def tokens(self, mailbox):
        mailbox.invalidate_recordset()
        return tuple(mailbox.sudo()[name] for name in self.token_fields)

    def append_from_joe(self, login, password, subject="Quote for you"):
        raw = make_mail(self.joe.email, login, subject=subject)
        self.oauth_dovecot.append_messages(login, password, "INBOX", [raw])

    def emails_of(self, user, subject):
        return self.env["crm.email"].with_user(user).search([("subject", "=", subject)])


class OAuthTokenLifeTests(OAuthCommon):
    """Sync over XOAUTH2, refresh, rotation, revocation, field protection (TransactionCase)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_oauth()

    def sync(self, mailbox):
        mailbox = mailbox.sudo()
        self.assertTrue(mailbox._try_lock())
        mailbox._sync()
        mailbox.invalidate_recordset()
        return mailbox

    def test_sync_over_xoauth2(self):
        mailbox, login, password = self.make_oauth_mailbox(self.owner)
        self.append_from_joe(login, password, subject="Signed in sync")
        refreshes = self.provider.grant_count("refresh_token")
        mailbox.with_user(self.owner).action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self.assertEqual(len(self.emails_of(self.owner, "Signed in sync")), 1)
        # A live access token is used as it is.
        self.assertEqual(self.provider.grant_count("refresh_token"), refreshes)

    def test_expired_token_refreshed_once_and_rotation_saved(self):
        mailbox, login, password = self.make_oauth_mailbox(self.owner)
        self.append_from_joe(login, password, subject="After refresh")
        _refresh_f, _access_f, expiry_f = self.token_fields
        mailbox.sudo().write({expiry_f: int(time.time()) - 10})
        old_refresh, old_access, _exp = self.tokens(mailbox)
        self.provider.rotate = True
        before = self.provider.grant_count("refresh_token")
        self.sync(mailbox)
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self.assertEqual(self.provider.grant_count("refresh_token"), before + 1)
        new_refresh, new_access, expiry = self.tokens(mailbox)
        self.assertNotEqual(new_access, old_access)
        self.assertNotEqual(new_refresh, old_refresh, "the rotated refresh token is saved")
        self.assertGreater(expiry, time.time() + 600)
        self.assertEqual(len(self.emails_of(self.owner, "After refresh")), 1)
        # The next sync reuses the fresh token: no second refresh.
        mailbox.sudo().write({"last_sync_date": False})
        self.sync(mailbox)
        self.assertEqual(self.provider.grant_count("refresh_token"), before + 1)

    def test_revoked_consent_needs_reconnect_and_cron_skips(self):
        mailbox, login, _password = self.make_oauth_mailbox(self.owner)
        _refresh_f, _access_f, expiry_f = self.token_fields
        mailbox.sudo().write({expiry_f: int(time.time()) - 10})
        self.provider.revoke(login)
        self.sync(mailbox)
        self.assertEqual(mailbox.state, "needs_reconnect")
        self.assertIn("Connect again", mailbox.last_error)
        self.assertEqual(self.tokens(mailbox), (False, False, 0))
        note = (
            self.env["mail.message"]
            .sudo()
            .search([("model", "=", "crm.mailbox"), ("res_id", "=", mailbox.id)])
        )
        self.assertIn(self.owner.partner_id, note.partner_ids)
        due = self.env["crm.mailbox"].sudo().search(self.env["crm.mailbox"]._due_mailboxes_domain())
        self.assertNotIn(mailbox, due)
        refreshes = self.provider.grant_count("refresh_token")
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        self.assertEqual(self.provider.grant_count("refresh_token"), refreshes)
        self.assertEqual(mailbox.state, "needs_reconnect")

    def test_tokens_hidden_from_every_user(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner)
        admin = self.env.ref("base.user_admin")
        refresh_f, access_f, expiry_f = self.token_fields
        for user in (self.owner, admin):
            as_user = mailbox.with_user(user)
            for name in (refresh_f, access_f, expiry_f):
                with self.assertRaises(AccessError):
                    as_user.read([name])
                with self.assertRaises(AccessError):
                    as_user.write({name: "forged"})
            self.assertNotIn(refresh_f, as_user.fields_get())
        self.assertTrue(self.tokens(mailbox)[0].startswith("rt-"))
        # The attacker cannot even see the mailbox, let alone sign it in.
        with self.assertRaises(AccessError):
            mailbox.with_user(self.attacker).action_crm_oauth_connect()

    def test_owner_reads_consent_url_admin_does_not(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        uri_field = self.uri_field
        url = mailbox.with_user(self.owner).read([uri_field])[0][uri_field]
        self.assertTrue(url)
        state = parse_qs(urlsplit(url).query)["state"][0]
        self.assertIn('"crm.mailbox"', state)
        admin = self.env.ref("base.user_admin")
        self.assertFalse(mailbox.with_user(admin).read([uri_field])[0][uri_field])
        action = mailbox.with_user(self.owner).action_crm_oauth_connect()
        self.assertEqual(action["type"], "ir.actions.act_url")

    def test_changing_login_or_host_drops_tokens(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner)
        mailbox.with_user(self.owner).write({"port": mailbox.port})
        self.assertTrue(self.tokens(mailbox)[0])
        mailbox.with_user(self.owner).write({"login": "someone.else@example.com"})
        self.assertEqual(self.tokens(mailbox), (False, False, 0))
        mailbox2, _login, _password = self.make_oauth_mailbox(self.owner)
        mailbox2.with_user(self.owner).write({"host": "localhost"})
        self.assertEqual(self.tokens(mailbox2), (False, False, 0))

    def test_not_configured_says_so(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        self._unconfigure_provider()
        mailbox.invalidate_recordset()
        self.assertIn("Settings", mailbox.with_user(self.owner).oauth_setup_note)
        with self.assertRaises(UserError):
            mailbox.with_user(self.owner).action_crm_oauth_connect()

    def test_smtp_auth_reply_checked(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner)
        self.assertIsNone(mailbox.sudo()._crm_smtp_authenticate(FakeSmtp([(235, b"2.7.0 OK")])))
        refusal = FakeSmtp(
            [
                (
                    535,
                    b"5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                    b"disabled for the Tenant.",
                )
            ]
        )
        with self.assertRaisesRegex(UserError, "Authenticated SMTP"):
            mailbox.sudo()._crm_smtp_authenticate(refusal)
        challenge = (334, b"eyJzdGF0dXMiOiI0MDAifQ==")
        challenged = FakeSmtp([challenge, (535, b"5.7.8 Bad token")] * 2)
        refreshes = self.provider.grant_count("refresh_token")
        with self.assertRaisesRegex(UserError, "refused the sign-in"):
            mailbox.sudo()._crm_smtp_authenticate(challenged)
        self.assertEqual(challenged.sent[-1], ("", ""), "the error challenge gets an empty reply")
        self.assertTrue(challenged.sent[0][1].startswith("XOAUTH2 "))
        # A refused token is replaced once by a new one, then the refusal is reported.
        self.assertEqual(self.provider.grant_count("refresh_token"), refreshes + 1)
        self.assertEqual(len(challenged.sent), 4)
        self.assertNotEqual(challenged.sent[0], challenged.sent[2])

    def test_form_offers_the_connect_button(self):
        views = self.env["crm.mailbox"].with_user(self.owner).get_views([(False, "form")])
        arch = views["views"]["form"]["arch"]
        self.assertIn(f'string="Connect with {self.provider_label}"', arch)
        self.assertIn('name="auth_type"', arch)

    def test_preset_preselects_the_sign_in(self):
        form = Form(
            self.env["crm.mailbox"].with_user(self.attacker).with_context(crm_mailbox_form=True)
        )
        form.preset = self.preset_key
        self.assertEqual(form.auth_type, self.auth_type)
        self.assertFalse(form.preset_needs_oauth)
        self.assertFalse(form.oauth_setup_note)

    def test_password_mailbox_unchanged(self):
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(self.attacker)
            .create({"host": "127.0.0.1", "login": "pw@example.com", "password": "secret"})
        )
        self.assertEqual(mailbox.auth_type, "password")
        settings = mailbox.sudo()._mailbox_settings()
        self.assertEqual(settings.password, "secret")
        self.assertIsNone(settings.oauth2_token)
        self.assertEqual(
            mailbox.sudo()._crm_imap_credentials(), ("pw@example.com", "secret", False)
        )


class FakeSmtp:
    """Just enough of smtplib.SMTP to see what AUTH sends and how replies are handled."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = []

    def ehlo_or_helo_if_needed(self):
        return None

    def docmd(self, cmd, args=""):
        self.sent.append((cmd, args))
        return self.replies.pop(0)


class OAuthConsentHttpTests(OAuthCommon):
    """The consent flow over HTTP, as a non-administrator owner (HttpCase)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_oauth()

    def consent(self, mailbox, user):
        """What the provider's consent page sends back: a code, and the state untouched."""
        url = mailbox.with_user(user).action_crm_oauth_connect()["url"]
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        self.assertEqual(query.get("login_hint"), mailbox.sudo().login)
        return self.provider.issue_code(mailbox.sudo().login), query["state"]

    def callback(self, code, state):
        return self.url_open(
            f"{self.callback_path}?{urlencode({'code': code, 'state': state})}",
            allow_redirects=False,
        )

    def test_owner_connects_and_syncs(self):
        mailbox, login, password = self.make_oauth_mailbox(self.owner, signed_in=False)
        self.assertEqual(mailbox.state, "draft")
        self.authenticate(self.owner.login, self.owner.login)
        code, state = self.consent(mailbox, self.owner)
        response = self.callback(code, state)
        self.assertIn(response.status_code, (302, 303), response.text[:500])
        self.assertTrue(response.headers["Location"].endswith("/odoo/my-mailbox"))
        mailbox.invalidate_recordset()
        refresh, access, _exp = self.tokens(mailbox)
        self.assertTrue(refresh.startswith("rt-") and access.startswith("at-"))
        self.assertEqual(mailbox.state, "connected")
        self.append_from_joe(login, password, subject="First signed-in mail")
        mailbox.with_user(self.owner).action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self.assertEqual(len(self.emails_of(self.owner, "First signed-in mail")), 1)

    def test_other_user_or_forged_state_refused(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        code, state = self.consent(mailbox, self.owner)
        # The owner's own link, completed in the attacker's session.
        self.authenticate(self.attacker.login, self.attacker.login)
        response = self.callback(code, state)
        self.assertEqual(response.status_code, 403)
        self.assertIn("not for your mailbox", response.text)
        self.assertNotIn("Traceback", response.text)
        # A state whose token was tampered with, in the owner's own session.
        forged = state.replace(state.split('"csrf_token": "')[1].split('"')[0], "0" * 64)
        self.authenticate(self.owner.login, self.owner.login)
        response = self.callback(code, forged)
        self.assertEqual(response.status_code, 403)
        self.assertNotIn("Traceback", response.text)
        response = self.callback(code, "{not json")
        self.assertEqual(response.status_code, 403)
        self.assertNotIn("Traceback", response.text)
        self.assertEqual(self.tokens(mailbox), (False, False, 0))
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.state, "draft")

    def test_provider_error_shown_in_plain_words(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        _code, state = self.consent(mailbox, self.owner)
        self.authenticate(self.owner.login, self.owner.login)
        response = self.url_open(
            f"{self.callback_path}?{urlencode({'error': 'access_denied', 'state': state})}",
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("did not give access", response.text)
        self.assertEqual(self.tokens(mailbox), (False, False, 0))


class OAuthSendThroughAccountTests(OAuthCommon):
    """CRM mail sent through the owner's own Google/Microsoft account (TransactionCase): a
    real SMTP submission server on loopback checks XOAUTH2 tokens with the local provider;
    Odoo's own outgoing server is the plain sink."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_oauth()
        cls.policy = SmtpAuthPolicy(introspection_url=cls.provider.introspection_url)
        cls.account_sink = SmtpSink(auth_policy=cls.policy).start()
        cls.addClassCleanup(cls.account_sink.stop)
        cls.odoo_sink = ensure_smtp_sink()
        cls.env["ir.mail_server"].search([]).write({"active": False})
        cls.env["ir.mail_server"].create(
            {
                "name": "Loopback sink",
                "smtp_host": cls.odoo_sink.host,
                "smtp_port": cls.odoo_sink.port,
                "smtp_encryption": "none",
            }
        )

    def setUp(self):
        super().setUp()
        self.account_sink.clear()
        self.policy.tenant_disabled.clear()

    def account_mailbox(self, user, switch_on=True):
        """A signed-in mailbox whose login is an address, sending through the account sink."""
        address = f"oa{uuid.uuid4().hex[:10]}@{self.auth_type}.example"
        self.oauth_dovecot.add_users([(address, "secret")])
        deadline = time.monotonic() + 5
        while True:  # Dovecot re-reads its users file once a second
            try:
                self.oauth_dovecot.imap_client(address, "secret").logout()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        mailbox, _login, _password = self.make_oauth_mailbox(user, signed_in=False, login=address)
        access, refresh = self.provider.issue_tokens(address)
        refresh_f, access_f, expiry_f = self.token_fields
        mailbox.sudo().write(
            {
                refresh_f: refresh,
                access_f: access,
                expiry_f: int(time.time()) + 3600,
                "state": "connected",
            }
        )
        if switch_on:
            mailbox.with_user(user).write(
                {
                    "send_through_account": True,
                    "smtp_host": self.account_sink.host,
                    "smtp_port": self.account_sink.port,
                    "smtp_security": "none",
                }
            )
        return mailbox, address

    def post(self, user, subject, email_from=None):
        with really_send():
            return (
                self.joe.with_user(user)
                .with_context(mail_notify_force_send=True)
                .message_post(
                    body="<p>Our offer</p>",
                    subject=subject,
                    partner_ids=self.joe.ids,
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                    **({"email_from": email_from} if email_from else {}),
                )
            )

    def received_by(self, sink, message, timeout=5.0):
        deadline = time.monotonic() + timeout
        needle = message.message_id.encode()
        while True:
            found = [m for m in sink.messages if needle in m["raw"]]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def mail_of(self, message):
        return self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])

    def test_sends_with_xoauth2_and_the_provider_copy_is_one_email(self):
        mailbox, address = self.account_mailbox(self.owner)
        self.assertFalse(mailbox.store_sent_on_server, "the provider keeps its own copy")
        message = self.post(self.owner, "Offer through my account")
        [received] = self.received_by(self.account_sink, message)
        self.assertFalse(self.received_by(self.odoo_sink, message, timeout=0.2))
        attempt = self.account_sink.auth_attempts[-1]
        self.assertEqual(attempt["mechanism"], "XOAUTH2")
        self.assertEqual((attempt["login"], attempt["success"]), (address, True))
        self.assertEqual(attempt["secret"], self.tokens(mailbox)[1])
        self.assertEqual(received["auth_mechanism"], "XOAUTH2")
        self.assertEqual(received["mail_from"], address)
        parsed = email.message_from_bytes(received["raw"], policy=email.policy.default)
        self.assertEqual(parsed["From"].addresses[0].addr_spec, address, "the account's From")
        self.assertEqual(parsed["Message-Id"].strip(), message.message_id)
        self.assertIn("Our offer", parsed.get_body(("html",)).get_content())
        self.assertIsNone(parsed["DKIM-Signature"])
        pending = self.env["crm.mailbox.pending.append"].sudo()
        self.assertFalse(pending.search([("message_id", "=", message.message_id)]))
        # The provider's Sent copy comes back through the sync: the same email, not two.
        self.oauth_dovecot.append_messages(address, "secret", "Sent", [received["raw"]])
        mailbox.with_user(self.owner).action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        emails = self.env["crm.email"].sudo().search([("message_id", "=", message.message_id)])
        self.assertEqual(len(emails), 1)
        self.assertTrue(emails.sent_from_crm)
        self.assertEqual(emails.presence_ids.mailbox_id, mailbox)

    def test_expired_token_refreshed_before_smtp_login(self):
        mailbox, address = self.account_mailbox(self.owner)
        _refresh_f, _access_f, expiry_f = self.token_fields
        old_access = self.tokens(mailbox)[1]
        mailbox.sudo().write({expiry_f: int(time.time()) - 10})
        before = self.provider.grant_count("refresh_token")
        message = self.post(self.owner, "After a refresh")
        self.assertTrue(self.received_by(self.account_sink, message))
        self.assertEqual(self.provider.grant_count("refresh_token"), before + 1)
        new_access = self.tokens(mailbox)[1]
        self.assertNotEqual(new_access, old_access)
        self.assertEqual(
            [a["secret"] for a in self.account_sink.auth_attempts if a["login"] == address],
            [new_access],
            "one login, with the fresh token",
        )

    def test_revoked_sign_in_needs_reconnect_and_the_mail_is_kept(self):
        mailbox, address = self.account_mailbox(self.owner)
        # Withdrawn at the provider while the saved access token still looks valid: the
        # server refuses it, a new one is asked for once, and the provider says invalid_grant.
        self.provider.revoke(address)
        message = self.post(self.owner, "After revocation")
        mail = self.mail_of(message)
        self.assertEqual(mail.state, "exception")
        self.assertIn("Press Connect", mail.failure_reason)
        self.assertNotIn("Traceback", mail.failure_reason)
        self.assertFalse(self.received_by(self.account_sink, message, timeout=0.2))
        self.assertFalse(self.received_by(self.odoo_sink, message, timeout=0.2))
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.state, "needs_reconnect")
        self.assertEqual(self.tokens(mailbox), (False, False, 0))
        self.assertEqual(self.account_sink.auth_attempts[-1]["reply"][:9], "535 5.7.8")
        # Signed in again: the kept mail is retried and leaves.
        access, refresh = self.provider.issue_tokens(address)
        refresh_f, access_f, expiry_f = self.token_fields
        mailbox.sudo().write(
            {refresh_f: refresh, access_f: access, expiry_f: int(time.time()) + 3600}
        )
        mail.write({"state": "outgoing"})
        with really_send():
            mail.send()
        self.assertTrue(self.received_by(self.account_sink, message))

    def test_tenant_disabled_in_plain_words(self):
        mailbox, address = self.account_mailbox(self.owner)
        self.policy.tenant_disabled.add(address)
        mail = self.mail_of(self.post(self.owner, "Tenant off"))
        self.assertEqual(mail.state, "exception")
        self.assertIn("Authenticated SMTP", mail.failure_reason)
        self.assertIn("Microsoft 365 admin center", mail.failure_reason)
        self.assertEqual(mailbox.state, "connected", "the sign-in itself is fine")

    def test_off_mail_goes_through_odoo_server(self):
        mailbox, _address = self.account_mailbox(self.owner, switch_on=False)
        self.assertTrue(mailbox.store_sent_on_server)
        message = self.post(self.owner, "Through Odoo")
        self.assertTrue(self.received_by(self.odoo_sink, message))
        self.assertEqual(self.account_sink.auth_attempts, [])

    def test_attack_nobody_else_uses_or_switches_my_account(self):
        mailbox, address = self.account_mailbox(self.owner, switch_on=False)
        admin = self.env.ref("base.user_admin")
        for user in (self.attacker, admin):
            with self.assertRaises(AccessError):
                mailbox.with_user(user).write({"send_through_account": True})
            with self.assertRaises(AccessError):
                mailbox.with_user(user).write({"smtp_host": "smtp.attacker.example"})
        mailbox.with_user(self.owner).write(
            {
                "send_through_account": True,
                "smtp_host": self.account_sink.host,
                "smtp_port": self.account_sink.port,
                "smtp_security": "none",
            }
        )
        _eve_mailbox, eve_address = self.account_mailbox(self.attacker)
        # Eve's mail "from" the owner's account address never takes the owner's account.
        message = self.post(self.attacker, "Spoofed", email_from=f"Owner <{address}>")
        self.assertFalse(self.received_by(self.account_sink, message, timeout=0.3))
        self.assertNotIn(address, [a["login"] for a in self.account_sink.auth_attempts])
        self.assertTrue(self.received_by(self.odoo_sink, message))
        # Her own mail goes through her own account only.
        message = self.post(self.attacker, "Eve as Eve")
        [received] = self.received_by(self.account_sink, message)
        self.assertEqual(received["auth_user"], eve_address)
