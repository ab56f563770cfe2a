from odoo.addons.crm_mail_channel.tests.oauth_common import (
    OAuthConsentHttpTests,
    OAuthSendThroughAccountTests,
    OAuthTokenLifeTests,
)
from odoo.tests import HttpCase, TransactionCase, tagged


class MicrosoftProvider:
    auth_type = "microsoft"
    preset_key = "microsoft"
    provider_label = "Microsoft"
    callback_path = "/microsoft_outlook/confirm"
    uri_field = "microsoft_outlook_uri"
    token_fields = (
        "microsoft_outlook_refresh_token",
        "microsoft_outlook_access_token",
        "microsoft_outlook_access_token_expiration",
    )

    @classmethod
    def _configure_provider(cls):
        Config = cls.env["ir.config_parameter"].sudo()
        Config.set_param("microsoft_outlook_client_id", cls.provider.client_id)
        Config.set_param("microsoft_outlook_client_secret", cls.provider.client_secret)
        # Odoo's own parameter for a single-tenant app: every token request goes there.
        Config.set_param("microsoft_outlook.endpoint", cls.provider.url("ms/"))

    def _unconfigure_provider(self):
        self.env["ir.config_parameter"].sudo().set_param("microsoft_outlook_client_id", False)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMicrosoftTokenLife(MicrosoftProvider, OAuthTokenLifeTests, TransactionCase):
    def test_endpoint_parameter_honoured(self):
        mailbox, _login, _password = self.make_oauth_mailbox(self.owner, signed_in=False)
        url = mailbox.with_user(self.owner).action_crm_oauth_connect()["url"]
        self.assertTrue(url.startswith(self.provider.url("ms/authorize")))
        self.assertIn("IMAP.AccessAsUser.All", url)
        self.assertIn("SMTP.Send", url, "one consent covers IMAP and SMTP")


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMicrosoftConsent(MicrosoftProvider, OAuthConsentHttpTests, HttpCase):
    pass


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMicrosoftSendThroughAccount(
    MicrosoftProvider, OAuthSendThroughAccountTests, TransactionCase
):
    pass
