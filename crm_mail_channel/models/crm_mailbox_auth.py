import contextvars
import logging

import requests
from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError

from crm_mail_channel_core import mailbox_client

_logger = logging.getLogger(__name__)

AUTH_TYPES = [
    ("password", "Password"),
    ("google", "Google sign-in (OAuth)"),
    ("microsoft", "Microsoft sign-in (OAuth)"),
]
# The bridge addon that brings each provider sign-in (Odoo's google_gmail / microsoft_outlook).
AUTH_BRIDGES = {
    "google": "crm_mail_channel_google",
    "microsoft": "crm_mail_channel_microsoft",
}
AUTH_PRESETS = {"gmail": "google", "microsoft": "microsoft"}
# A sign-in is given for one account on one server: changing one of these drops its tokens,
# as it drops a password.
OAUTH_CONNECTION_FIELDS = ("protocol", "host", "login", "user_id", "auth_type")
# Mailboxes whose provider withdrew the sign-in during this sync (see _sync). A context
# variable of this thread, not a key of the Odoo context, which RPC callers fill as they like.
_REVOKED = contextvars.ContextVar("crm_mailbox_oauth_revoked", default=None)


class OAuthConsentRevoked(UserError):
    """The provider refused the saved sign-in (``invalid_grant``): only the owner signing in
    again fixes it, so the mailbox waits in "needs reconnecting" instead of retrying."""


class CrmMailbox(models.Model):
    """How the mailbox signs in: a password, or a Google or Microsoft sign-in (OAuth).

    The provider sign-ins come with the bridge addons crm_mail_channel_google and
    crm_mail_channel_microsoft, on top of Odoo's google_gmail and microsoft_outlook. They keep
    the tokens in those modules' own fields and implement the ``_crm_oauth_*`` hooks below.
    Every connection asks ``_crm_imap_credentials()`` how to log in.
    """

    _inherit = "crm.mailbox"

    # Sign-in
    auth_type = fields.Selection(
        AUTH_TYPES,
        "Sign-in",
        required=True,
        default="password",
        help="Password: the mailbox password (or an app password). Google or Microsoft: you "
        "sign in with your provider once, and CRM never sees your password.",
    )
    state = fields.Selection(
        selection_add=[("needs_reconnect", "Needs reconnecting")],
        ondelete={"needs_reconnect": "set default"},
    )
    oauth_connected = fields.Boolean("Signed in", compute="_compute_oauth_status")
    oauth_setup_note = fields.Char("Sign-in setup", compute="_compute_oauth_status")

    # ------------------------------------------------------------------ computes
    @api.depends("auth_type", "preset")
    def _compute_oauth_status(self):
        for mailbox in self:
            provider = mailbox._crm_oauth_provider()
            # sudo: whether tokens exist, never their value; fields no user reads directly.
            mailbox.oauth_connected = bool(provider and mailbox.sudo()._crm_oauth_has_tokens())
            mailbox.oauth_setup_note = (provider and mailbox._crm_oauth_setup_problem()) or False

    def _crm_oauth_provider(self):
        """'google' or 'microsoft' when this mailbox signs in (or should) with a provider."""
        self.ensure_one()
        if self.auth_type != "password":
            return self.auth_type
        return AUTH_PRESETS.get(self.preset or "") if not self.id else False

    # ------------------------------------------------------------------ onchanges
    @api.onchange("preset")
    def _onchange_preset_auth_type(self):
        provider = AUTH_PRESETS.get(self.preset or "")
        if provider and self._crm_oauth_bridge_installed(provider):
            self.auth_type = provider
            if provider == "google" and self._crm_oauth_setup_problem():
                # An app password works too: no dead end while the sign-in is not set up.
                self.auth_type = "password"
        elif self.auth_type != "password":
            self.auth_type = "password"

    # ------------------------------------------------------------------ CRUD
    def write(self, vals):
        changed = self.browse()
        names = [name for name in OAUTH_CONNECTION_FIELDS if name in vals]
        if names:
            for mailbox in self:
                for name in names:
                    field = self._fields[name]
                    new = field.convert_to_record(
                        field.convert_to_cache(vals[name], mailbox), mailbox
                    )
                    if new != mailbox[name]:
                        changed |= mailbox
                        break
        result = super().write(vals)
        if changed:
            # sudo: the tokens are kept in fields no user may write; dropping them follows a
            # change of server or account the ORM just allowed (super().write above).
            changed.sudo()._crm_oauth_clear_tokens()
            if "auth_type" in vals and "state" not in vals:
                # A new way of signing in: the mailbox is not connected until it is used.
                signing = changed.filtered(lambda m: m.auth_type != "password")
                # sudo: same write as above, on the state the sync keeps.
                signing.sudo().write({"state": "draft", "last_error": False})
        return result

    # ------------------------------------------------------------------ actions
    def action_crm_oauth_connect(self):
        """The provider's consent page, for the owner only ("Connect with Google/Microsoft")."""
        self.ensure_one()
        self._crm_check_owner()
        provider = self._crm_oauth_provider()
        problem = provider and self._crm_oauth_setup_problem()
        if not provider or problem:
            raise UserError(problem or self.env._("This mailbox signs in with a password."))
        if self.protocol != "imap":
            raise UserError(self.env._("A Google or Microsoft sign-in works with IMAP only."))
        url = self._crm_oauth_consent_url()
        if not url:
            raise UserError(self.env._("Fill in the login (your email address) and save first."))
        return {"type": "ir.actions.act_url", "url": url, "target": "self"}

    def action_crm_oauth_settings(self):
        """Where the administrator enters the provider's client ID and secret."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("Only an administrator can change these settings."))
        return self.env["ir.actions.act_window"]._for_xml_id(
            "base_setup.action_general_configuration"
        )

    # ------------------------------------------------------------------ connection
    def _crm_imap_credentials(self):
        """How this mailbox logs in: ``(login, secret, is_oauth)``.

        ``secret`` is the password, or with a provider sign-in a live OAuth access token
        (refreshed once when expired), for an XOAUTH2 login. Called by every connection
        (sync, Test connection, read state, copies in Sent, sending through the account).
        Raises UserError (OAuthConsentRevoked when the provider withdrew the sign-in).
        """
        self.ensure_one()
        login = (self.login or "").strip()
        if self.auth_type == "password":
            return login, self._get_password(), False
        problem = self._crm_oauth_setup_problem()
        if problem:
            raise UserError(problem)
        try:
            token = self._crm_oauth_access_token()
        except OAuthConsentRevoked:
            revoked = _REVOKED.get()
            if revoked is not None:
                revoked.append(self.id)
            raise
        return login, token, True

    def _mailbox_settings(self, timeout=30):
        if self.auth_type == "password":
            return super()._mailbox_settings(timeout=timeout)
        self.ensure_one()
        if not (self.host and self.login):
            raise UserError(self.env._("Fill in the server and the login first."))
        if self.protocol != "imap":
            raise UserError(self.env._("A Google or Microsoft sign-in works with IMAP only."))
        login, token, _is_oauth = self._crm_imap_credentials()
        return mailbox_client.MailboxSettings(
            protocol=self.protocol,
            host=self.host.strip(),
            port=self.port,
            security=self.security,
            login=login,
            password="",
            oauth2_token=token,
            timeout=timeout,
            ssl_verify=self.ssl_verify,
        )

    def _sync(self, max_seconds=None):
        revoked = []
        reset = _REVOKED.set(revoked)
        try:
            report = super()._sync(max_seconds=max_seconds)
        finally:
            _REVOKED.reset(reset)
        if self.id in revoked:
            self._crm_oauth_mark_revoked()
        return report

    # ------------------------------------------------------------------ OAuth helpers
    def _crm_oauth_mark_revoked(self):
        """The provider withdrew the sign-in: wait for the owner, and tell them."""
        self.ensure_one()
        message = self.env._(
            "Your %(provider)s sign-in for %(mailbox)s was withdrawn or has expired, so CRM "
            "stopped using it (sync, and sending if you send through it). Open My Mailbox and "
            "press Connect again.",
            provider=dict(AUTH_TYPES)[self.auth_type].split(" ")[0],
            mailbox=self.login or self.name,
        )
        # sudo: called by _sync, which already works as the owner in superuser mode.
        mailbox = self.sudo()
        mailbox.write({"state": "needs_reconnect", "last_error": message})
        try:
            with self.env.cr.savepoint():
                # sudo: a note to the mailbox's owner about their own mailbox.
                self.env["mail.thread"].sudo().message_notify(
                    partner_ids=mailbox.user_id.partner_id.ids,
                    subject=self.env._("Reconnect your mailbox"),
                    body=message,
                    model=self._name,
                    res_id=self.id,
                )
        except Exception:  # the state is what matters; the note is a courtesy
            _logger.exception("Could not notify the owner of mailbox %s", self.id)

    @api.model
    def _crm_oauth_bridge_installed(self, provider):
        module = AUTH_BRIDGES.get(provider)
        return bool(module) and module in self.env.registry._init_modules

    def _crm_oauth_setup_problem(self):
        """Why the provider sign-in cannot be used yet, in plain words, or False."""
        self.ensure_one()
        provider = self._crm_oauth_provider()
        if not provider:
            return False
        if not self._crm_oauth_bridge_installed(provider):
            name = "Google" if provider == "google" else "Microsoft"
            return self.env._(
                'Signing in with %(name)s needs the app "CRM Mail Channel - %(name)s", which '
                "is not installed in this database. Ask your administrator to install it.",
                name=name,
            )
        return False

    def _crm_oauth_response(self, response, provider):
        """The JSON answer of a provider's token endpoint, or a plain-words UserError.

        ``invalid_grant`` (the user withdrew consent, the refresh token expired or was
        replaced) raises OAuthConsentRevoked.
        """
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.ok and payload.get("access_token"):
            return payload
        error = str(payload.get("error") or response.status_code)
        description = str(payload.get("error_description") or "")
        _logger.info("%s token endpoint refused: %s %s", provider, error, description)
        if error == "invalid_grant":
            raise OAuthConsentRevoked(
                self.env._(
                    "Your %s sign-in was withdrawn or has expired. Press Connect to sign in again.",
                    provider,
                )
            )
        if error in ("invalid_client", "unauthorized_client"):
            raise UserError(
                self.env._(
                    "%s does not accept the app registration saved in Odoo's settings (client "
                    "ID or secret). Ask your administrator to check them.",
                    provider,
                )
            )
        raise UserError(
            self.env._(
                "%(provider)s refused the sign-in: %(error)s",
                provider=provider,
                error=description or error,
            )
        )

    @api.model
    def _crm_oauth_post(self, url, data, provider):
        """POST to a provider's token endpoint; plain words when it cannot be reached."""
        try:
            response = requests.post(url, data=data, timeout=10)
        except requests.RequestException as exc:
            _logger.info("%s token endpoint unreachable: %s", provider, exc)
            raise UserError(
                self.env._("%s could not be reached to sign in. Try again in a moment.", provider)
            ) from None
        return self._crm_oauth_response(response, provider)

    def _crm_oauth_state_token(self):
        """The CSRF token of the consent state: bound to this mailbox AND the current user, so
        a consent link (or its state) taken to another user's session is refused."""
        self.ensure_one()
        return tools.misc.hmac(
            env=self.env(su=True),
            scope="crm_mailbox_oauth",
            message=(self._name, self.id, self.env.uid),
        )

    def _crm_oauth_consent_error(self, error):
        """Plain words for what the provider sent back instead of a code."""
        text = str(error or "")
        lowered = text.lower()
        if "admin_policy_enforced" in lowered or "org_internal" in lowered:
            return self.env._(
                "Your Google Workspace administrator does not allow this app to read mail. Ask "
                "them to trust it (Admin console > Security > API controls), or use a password."
            )
        if "restricted" in lowered or "verif" in lowered or "access_denied" in lowered:
            return self.env._(
                "The provider did not give access to your mailbox. If it said the app is not "
                "verified or asks for restricted access, your Odoo administrator must have the "
                "app verified by Google, add you as a test user, or make it an internal app of "
                "your Google Workspace. If you pressed Cancel, press Connect again. (%s)",
                text,
            )
        if "aadsts50020" in lowered or "aadsts700016" in lowered:
            return self.env._(
                "Your Microsoft account is not in the organisation the app is registered in. "
                "Your administrator sets the organisation's sign-in address in the system "
                "parameter microsoft_outlook.endpoint. (%s)",
                text,
            )
        return self.env._("The provider refused the sign-in: %s", text)

    # Hooks the bridges implement ----------------------------------------------------------
    def _crm_oauth_exchange_code(self, code):
        """Store the tokens the provider gives for ``code`` (bridges)."""
        raise UserError(self._crm_oauth_setup_problem() or self.env._("Sign in first."))

    def _crm_oauth_has_tokens(self):
        return False

    def _crm_oauth_clear_tokens(self):
        """Drop the saved sign-in (bridges clear their token fields)."""
        return True

    def _crm_oauth_access_token(self):
        """A live access token for the mailbox's provider (bridges)."""
        raise UserError(self._crm_oauth_setup_problem() or self.env._("Sign in first."))

    def _crm_oauth_consent_url(self):
        """The provider's consent page for this mailbox and user (bridges)."""
        return False

    def _crm_oauth_expire_access_token(self):
        """Forget the access token, so the next login asks the provider for a new one
        (bridges; used when a server refused the token it was given)."""
        return True
