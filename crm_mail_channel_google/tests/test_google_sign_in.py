from unittest.mock import patch

from odoo.addons.crm_mail_channel.tests.oauth_common import (
    OAuthConsentHttpTests,
    OAuthSendThroughAccountTests,
    OAuthTokenLifeTests,
)
from odoo.addons.crm_mail_channel_google.models import crm_mailbox as google_mailbox
from odoo.tests import HttpCase, TransactionCase, tagged


class GoogleProvider:
    auth_type = "google"
    preset_key = "gmail"
    provider_label = "Google"
    callback_path = "/google_gmail/confirm"
    uri_field = "google_gmail_uri"
    token_fields = (
        "google_gmail_refresh_token",
        "google_gmail_access_token",
        "google_gmail_access_token_expiration",
    )

    @classmethod
    def _configure_provider(cls):
        Config = cls.env["ir.config_parameter"].sudo()
        Config.set_param("google_gmail_client_id", cls.provider.client_id)
        Config.set_param("google_gmail_client_secret", cls.provider.client_secret)
        # Google's token URL is fixed in Odoo: only the tests send it to the local provider.
        cls.startClassPatcher(
            patch.object(google_mailbox, "GOOGLE_TOKEN_URL", cls.provider.url("google/token"))
        )

    def _unconfigure_provider(self):
        self.env["ir.config_parameter"].sudo().set_param("google_gmail_client_id", False)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestGoogleTokenLife(GoogleProvider, OAuthTokenLifeTests, TransactionCase):
    def test_one_scope_for_imap_and_smtp(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        url = mailbox.with_user(self.owner).action_crm_oauth_connect()["url"]
        self.assertIn("scope=https%3A%2F%2Fmail.google.com%2F", url)
        self.assertIn("access_type=offline", url)

    def test_restricted_scope_refusal_in_plain_words(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        message = mailbox._crm_oauth_consent_error("admin_policy_enforced")
        self.assertIn("Google Workspace administrator", message)
        message = mailbox._crm_oauth_consent_error("access_denied")
        self.assertIn("verified", message)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestGoogleConsent(GoogleProvider, OAuthConsentHttpTests, HttpCase):
    pass


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestGoogleSendThroughAccount(GoogleProvider, OAuthSendThroughAccountTests, TransactionCase):
    pass
