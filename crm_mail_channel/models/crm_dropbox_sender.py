from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from crm_mail_channel_core import dkim_sign
from crm_mail_channel_core import verification_code as vcode

# Tries at an address's code are counted under this purpose, per address and user.
CODE_PURPOSE = "crm.dropbox.sender"
SECRET_CODE = "dropbox_sender_code"


class CrmDropboxSender(models.Model):
    """An extra address a user may send to their BCC dropbox from, once proven by a code.

    The code machinery is domain authentication's (crm_mail_domain_code.py): the code is kept
    salted and hashed in crm.mail.secret, wrong tries counted in crm.mail.code.attempt before
    comparing. Rows are created by their user for themselves; only the code makes them
    verified, in superuser mode.
    """

    _name = "crm.dropbox.sender"
    _description = "BCC Dropbox Sender Address"
    _order = "user_id, id"

    user_id = fields.Many2one(
        "res.users",
        "User",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
    )
    email = fields.Char("Address", required=True)
    email_normalized = fields.Char(compute="_compute_email_normalized", store=True, index=True)
    state = fields.Selection(
        [("pending", "Waiting for the code"), ("verified", "Verified")],
        "Status",
        default="pending",
        required=True,
        readonly=True,
    )
    code_sent_date = fields.Datetime("Code sent on", readonly=True)
    verified_date = fields.Datetime("Verified on", readonly=True)

    _sql_constraints = [
        (
            "dropbox_sender_unique",
            "unique(user_id, email_normalized)",
            "This address is already in your list.",
        ),
    ]

    @api.depends("email")
    def _compute_email_normalized(self):
        for sender in self:
            sender.email_normalized = tools.email_normalize(sender.email or "") or False

    # ------------------------------------------------------------------ guards
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                if vals.get("user_id", self.env.uid) != self.env.uid:
                    raise AccessError(self.env._("You can only add your own addresses."))
                for name in ("state", "code_sent_date", "verified_date"):
                    vals.pop(name, None)
                if not tools.email_normalize(vals.get("email") or ""):
                    raise UserError(self.env._("%s is not an email address.", vals.get("email")))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(self.env._("Remove the address and add it again to change it."))
        return super().write(vals)

    def unlink(self):
        self.env["crm.mail.secret"]._drop_secrets(self)
        return super().unlink()

    # ------------------------------------------------------------------ actions
    def _crm_check_own(self):
        self.check_access("read")
        if not self.env.su and self.filtered(lambda s: s.user_id != self.env.user):
            raise AccessError(self.env._("Only the user who added this address can verify it."))

    def action_send_code(self):
        """Email a code to the address (also "Resend")."""
        self._crm_check_own()
        policy = vcode.DEFAULT_POLICY
        now = fields.Datetime.now()
        for sender in self:
            if sender.state == "verified":
                raise UserError(self.env._("%s is already verified.", sender.email))
            if not vcode.can_resend(sender.code_sent_date or None, now, policy):
                raise UserError(
                    self.env._("A code was sent less than a minute ago. Check your spam folder.")
                )
            code = vcode.generate_code()
            salt = vcode.new_salt()
            self.env["crm.mail.secret"]._set_secret(
                sender, SECRET_CODE, f"{salt}${vcode.hash_code(code, salt)}"
            )
            # sudo: the owner was checked above; the date is written by this action only.
            sender.sudo().code_sent_date = now
            sender._send_code_email(code)
        # One address (its form, its row): go straight on to typing the code.
        return self.action_open_code_wizard() if len(self) == 1 else True

    def action_open_code_wizard(self):
        self.ensure_one()
        self._crm_check_own()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Enter the verification code"),
            "res_model": "crm.dropbox.sender.code.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_sender_id": self.id},
        }

    def _send_code_email(self, code):
        self.ensure_one()
        body = Markup(
            "<p>%s</p><p style='font-size:24px;font-weight:bold;letter-spacing:4px'>%s</p><p>%s</p>"
        ) % (
            self.env._(
                "Enter this code in Odoo to use %s with your BCC dropbox:", self.email_normalized
            ),
            code,
            self.env._("If you did not ask for it, ignore this email."),
        )
        mail = (
            self.env["mail.mail"]
            # sudo: the code mail is linked to no record (never in a chatter); the row's
            # owner was checked by the caller.
            .sudo()
            .create(
                {
                    "subject": self.env._("Your verification code for your BCC dropbox"),
                    "email_from": self.env.company.email_formatted or self.env.user.email_formatted,
                    "email_to": self.email_normalized,
                    "body_html": body,
                    "auto_delete": True,
                }
            )
        )
        mail.send(raise_exception=False)
        if mail.exists() and mail.state == "exception":
            raise UserError(
                self.env._(
                    "The code could not be sent to %(email)s: %(reason)s",
                    email=self.email_normalized,
                    reason=(mail.failure_reason or "").strip() or "-",
                )
            )

    def _try_code(self, code):
        """``(True, "")`` or ``(False, reason)``; never raises, so a counted try commits."""
        self.ensure_one()
        self._crm_check_own()
        policy = vcode.DEFAULT_POLICY
        now = fields.Datetime.now()
        if self.state == "verified":
            return False, self.env._("%s is already verified.", self.email)
        stored = self.env["crm.mail.secret"]._get_secret(self, SECRET_CODE)
        if not stored or not self.code_sent_date:
            return False, self.env._("No code was sent yet. Click “Send code” first.")
        Attempt = self.env["crm.mail.code.attempt"]
        attempt, _failures, locked_until = Attempt._begin_try(
            CODE_PURPOSE, self.email_normalized, policy
        )
        if locked_until:
            return False, self.env._("Too many wrong codes. Try again in an hour.")
        if vcode.is_expired(self.code_sent_date, now, policy):
            attempt._end_try(right=True, policy=policy)
            return False, self.env._("This code has expired. Send a new one.")
        salt, _sep, code_hash = stored.partition("$")
        right = vcode.code_matches(code or "", code_hash, salt)
        if attempt._end_try(right=right, policy=policy):
            return False, self.env._("Too many wrong codes. Try again in an hour.")
        if not right:
            return False, self.env._("This code is not right.")
        self.env["crm.mail.secret"]._set_secret(self, SECRET_CODE, False)
        # sudo: the right code was entered by the row's own user (checked above).
        self.sudo().write({"state": "verified", "verified_date": now})
        return True, ""

    # ------------------------------------------------------------------ claims
    @api.model
    def _crm_verified_claims(self, address):
        """``[(user id, "verified")]`` of the active internal users who verified ``address``."""
        address = tools.email_normalize(address or "")
        if not address:
            return []
        self.flush_model(["email_normalized", "state", "user_id"])
        # No sudo needed: plain SQL reading addresses only, to decide who may use a dropbox.
        self.env.cr.execute(
            SQL(
                """SELECT s.user_id FROM crm_dropbox_sender s
                     JOIN res_users u ON u.id = s.user_id
                    WHERE s.email_normalized = %s AND s.state = 'verified'
                      AND u.active AND u.share IS NOT TRUE""",
                address,
            )
        )
        return [(user_id, dkim_sign.CLAIM_VERIFIED) for (user_id,) in self.env.cr.fetchall()]
