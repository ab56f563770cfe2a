import time

from odoo import api, fields, models
from odoo.addons.crm_mail_channel.models.crm_mailbox_auth import OAuthConsentRevoked
from odoo.exceptions import AccessError, UserError
from werkzeug.urls import url_encode, url_join

# Google's token endpoint, the one Odoo's google.gmail.mixin uses (tests point it elsewhere).
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
TOKEN_FIELDS = (
    "google_gmail_authorization_code",
    "google_gmail_refresh_token",
    "google_gmail_access_token",
    "google_gmail_access_token_expiration",
)
# An access token this close to its end is refreshed before use (seconds).
EXPIRY_MARGIN = 60


class CrmMailbox(models.Model):
    """Google sign-in for a user's own mailbox, with Odoo's google.gmail.mixin.

    Unlike Odoo's mail servers, the owner signs in (not only administrators), the consent
    state is bound to the mailbox and the user (_get_gmail_csrf_token), and the tokens are
    readable and writable by no user at all, administrators included: only the connection
    code reads them, in superuser mode.
    """

    _name = "crm.mailbox"
    _inherit = ["crm.mailbox", "google.gmail.mixin"]

    # The mixin's scope, https://mail.google.com/, covers reading (IMAP) and sending (SMTP).

    # Tokens: no user reads or writes them (see also write())
    google_gmail_authorization_code = fields.Char(groups=fields.NO_ACCESS)
    google_gmail_refresh_token = fields.Char(groups=fields.NO_ACCESS)
    google_gmail_access_token = fields.Char(groups=fields.NO_ACCESS)
    google_gmail_access_token_expiration = fields.Integer(groups=fields.NO_ACCESS)
    # The consent page: the owner reads it (empty for anyone else)
    google_gmail_uri = fields.Char(groups="base.group_user")

    # ------------------------------------------------------------------ computes
    @api.depends_context("uid")
    @api.depends("google_gmail_authorization_code", "login", "user_id", "auth_type")
    def _compute_gmail_uri(self):
        mine = self.filtered(
            lambda m: m.id and m.user_id == self.env.user and m.auth_type == "google"
        )
        (self - mine).google_gmail_uri = False
        result = super(CrmMailbox, mine)._compute_gmail_uri()
        for mailbox in mine.filtered("google_gmail_uri"):
            if mailbox.login:
                hint = url_encode({"login_hint": mailbox.login.strip()})
                mailbox.google_gmail_uri = f"{mailbox.google_gmail_uri}&{hint}"
        return result

    def _compute_preset_note(self):
        result = super()._compute_preset_note()
        gmail = self.filtered(lambda m: m.preset == "gmail")
        if gmail and self._crm_google_configured():
            gmail.preset_note = self.env._(
                "Gmail and Google Workspace sign in with Google: type your email address as "
                "the login, then press Connect with Google. No password is needed. (Or choose "
                "Password as the sign-in and type an app password.)"
            )
        return result

    @api.model
    def _crm_google_configured(self):
        Config = self.env["ir.config_parameter"].sudo()  # sudo: whether the app is set up
        return bool(
            Config.get_param("google_gmail_client_id")
            and Config.get_param("google_gmail_client_secret")
        )

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(set(TOKEN_FIELDS) & set(vals) for vals in vals_list):
            raise AccessError(self.env._("Sign-in tokens are set by the sign-in only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and set(TOKEN_FIELDS) & set(vals):
            raise AccessError(self.env._("Sign-in tokens are set by the sign-in only."))
        return super().write(vals)

    # ------------------------------------------------------------------ hooks
    def _get_gmail_csrf_token(self):
        return self._crm_oauth_state_token()

    def _crm_oauth_setup_problem(self):
        problem = super()._crm_oauth_setup_problem()
        if problem or self._crm_oauth_provider() != "google":
            return problem
        if not self._crm_google_configured():
            return self.env._(
                "The Google sign-in is not set up in this database yet: an administrator "
                "enters the app's client ID and secret in Settings > General Settings > "
                "Gmail."
            )
        return False

    def _crm_oauth_consent_url(self):
        if self.auth_type != "google":
            return super()._crm_oauth_consent_url()
        self.invalidate_recordset(["google_gmail_uri"])
        return self.google_gmail_uri

    def _crm_oauth_has_tokens(self):
        if self.auth_type != "google":
            return super()._crm_oauth_has_tokens()
        return bool(self.google_gmail_refresh_token)

    def _crm_oauth_clear_tokens(self):
        self.write(dict.fromkeys(TOKEN_FIELDS, False))
        return super()._crm_oauth_clear_tokens()

    def _crm_oauth_expire_access_token(self):
        if self.auth_type != "google":
            return super()._crm_oauth_expire_access_token()
        # sudo: the connection code of this mailbox, after its server refused the token.
        self.sudo().write({"google_gmail_access_token_expiration": 0})
        return True

    def _crm_oauth_exchange_code(self, code):
        if self.auth_type != "google":
            return super()._crm_oauth_exchange_code(code)
        # sudo: the callback checked the owner and the state bound to them (finish_sign_in).
        mailbox = self.sudo()
        refresh, access, expiration = mailbox._fetch_gmail_refresh_token(code)
        mailbox.write(
            {
                "google_gmail_authorization_code": False,
                "google_gmail_refresh_token": refresh,
                "google_gmail_access_token": access,
                "google_gmail_access_token_expiration": expiration,
                "state": "connected",
                "last_error": False,
            }
        )
        return True

    def _crm_oauth_access_token(self):
        if self.auth_type != "google":
            return super()._crm_oauth_access_token()
        self.ensure_one()
        # sudo: the connection code of this mailbox asks; the token goes to its server only.
        mailbox = self.sudo()
        now = int(time.time())
        if (
            mailbox.google_gmail_access_token
            and (mailbox.google_gmail_access_token_expiration or 0) > now + EXPIRY_MARGIN
        ):
            return mailbox.google_gmail_access_token
        refresh = mailbox.google_gmail_refresh_token
        if not refresh:
            raise UserError(self.env._("Press Connect with Google to sign in first."))
        try:
            answer = mailbox._fetch_gmail_token("refresh_token", refresh_token=refresh)
        except UserError as exc:
            if isinstance(exc, OAuthConsentRevoked):
                mailbox._crm_oauth_clear_tokens()
            raise
        vals = {
            "google_gmail_access_token": answer["access_token"],
            "google_gmail_access_token_expiration": now + int(answer.get("expires_in", 3600)),
        }
        if answer.get("refresh_token"):
            # A refresh token the provider rotated replaces the old one at once.
            vals["google_gmail_refresh_token"] = answer["refresh_token"]
        mailbox.write(vals)
        return answer["access_token"]

    def _fetch_gmail_token(self, grant_type, **values):
        """Odoo's request, with the provider's error code kept (invalid_grant → reconnect)."""
        Config = self.env["ir.config_parameter"].sudo()  # sudo: the app's client ID and secret
        return self._crm_oauth_post(
            GOOGLE_TOKEN_URL,
            {
                "client_id": Config.get_param("google_gmail_client_id"),
                "client_secret": Config.get_param("google_gmail_client_secret"),
                "redirect_uri": url_join(self.get_base_url(), "/google_gmail/confirm"),
                "grant_type": grant_type,
                **values,
            },
            "Google",
        )
