"""Email domain authentication: proving the domain with a code emailed to an address at it.

Wrong tries are counted in ``crm.mail.code.attempt`` per domain name and user, before the code
is compared; a new code does not reset that count, and a refused try is reported without
raising so that its count commits with the request.
"""

import logging

from markupsafe import Markup
from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import verification_code as vcode

from .crm_mail_domain import SECRET_CODE

_logger = logging.getLogger(__name__)


def code_refused_notification(env, message):
    """The notification of a refused verification code: a refused code does not raise, so
    that the counted try commits with the request."""
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {
            "title": env._("Code not accepted"),
            "message": message,
            "type": "danger",
            "sticky": False,
        },
    }


# Tries at a domain's code are counted under this purpose, keyed by the domain name (a domain
# removed and added again keeps its count).
CODE_PURPOSE = "crm.mail.domain"


class CrmMailDomain(models.Model):
    _inherit = "crm.mail.domain"

    # The emailed code (the code itself is kept only salted and hashed, in a secret)
    code_sent_date = fields.Datetime("Code sent on", readonly=True, copy=False)
    # Who proved the address and when: mail from that address is signed for that user
    code_verified_date = fields.Datetime("Verified on", readonly=True, copy=False)
    code_verified_uid = fields.Many2one(
        "res.users", "Verified by", readonly=True, copy=False, ondelete="set null"
    )
    # The current user's wrong tries (each user has their own count)
    code_locked_until = fields.Datetime("Locked for you until", compute="_compute_code_lock")
    code_attempts_left = fields.Integer(compute="_compute_code_lock")

    @api.depends_context("uid")
    def _compute_code_lock(self):
        policy = self._code_policy()
        state = self.env["crm.mail.code.attempt"]._current_state(
            CODE_PURPOSE, self.mapped("name"), policy
        )
        for domain in self:
            failures, locked_until = state.get(domain.name, (0, None))
            domain.code_locked_until = locked_until or False
            domain.code_attempts_left = vcode.remaining_attempts(failures, policy)

    # ------------------------------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------------------------------

    def action_send_code(self):
        """Email a new verification code to ``verification_email`` (also "Resend")."""
        policy = self._code_policy()
        now = fields.Datetime.now()
        for domain in self:
            if domain.state != "code_pending":
                raise UserError(self.env._("%s is already verified.", domain.name))
            if domain.code_locked_until:
                raise UserError(domain._locked_message(domain.code_locked_until, now))
            if not vcode.can_resend(domain.code_sent_date or None, now, policy):
                wait = vcode.resend_wait(domain.code_sent_date or None, now, policy)
                raise UserError(
                    self.env._(
                        "A code was sent less than a minute ago. You can ask for a new one in "
                        "%s seconds; check the spam folder meanwhile.",
                        max(1, int(wait.total_seconds())),
                    )
                )
            code = vcode.generate_code()
            salt = vcode.new_salt()
            self.env["crm.mail.secret"]._set_secret(
                domain, SECRET_CODE, f"{salt}${vcode.hash_code(code, salt)}"
            )
            # The count of wrong tries is left as it is: a new code gives no new tries.
            domain._write_flow({"code_sent_date": now})
            domain._send_code_email(code)
        return True

    def action_verify_code(self, code):
        """Check the emailed code: True when right, else a notification saying why.

        A refused code does not raise: the counted try must commit with the request.
        """
        self.ensure_one()
        ok, message = self._try_code(code)
        if ok:
            return True
        return code_refused_notification(self.env, message)

    def action_open_code_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Enter the verification code"),
            "res_model": "crm.mail.domain.code.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_domain_id": self.id},
        }

    # ------------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------------

    def _code_policy(self):
        return vcode.DEFAULT_POLICY

    def _send_code_email(self, code):
        """Send the code through Odoo's outgoing path (mail.mail, ir.mail_server) right away.

        The mail is not linked to the record and deleted once sent, so the code never appears in
        the chatter or a mail.message anyone can read.
        """
        self.ensure_one()
        company = self.env.company
        days = self._code_policy().validity.days
        body = Markup(
            "<p>%s</p><p style='font-size:24px;font-weight:bold;letter-spacing:4px'>%s</p><p>%s</p>"
        ) % (
            self.env._("Enter this code in Odoo to prove that %s belongs to you:", self.name),
            code,
            self.env._(
                "The code is valid for %(days)s days. If you did not ask for it, ignore this "
                "email.",
                days=days,
            ),
        )
        # sudo: the code mail is linked to no record; the caller is the domain's admin (checked
        # by the access rights of crm.mail.domain), and it is still sent for them (create_uid).
        mails = self.env["mail.mail"].sudo()
        mail = mails.create(
            {
                "subject": self.env._("Your verification code for %s", self.name),
                "email_from": company.email_formatted or self.env.user.email_formatted,
                "email_to": self.verification_email,
                "body_html": body,
                "auto_delete": True,
            }
        )
        mail.send(raise_exception=False)
        if mail.exists() and mail.state == "exception":
            reason = mail.failure_reason or ""
            raise UserError(
                self.env._(
                    "The code could not be sent to %(email)s: %(reason)s",
                    email=self.verification_email,
                    reason=reason.strip() or self.env._("the outgoing mail server refused it"),
                )
            )

    def _locked_message(self, locked_until, now):
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        return self.env._(
            "Too many wrong codes for %(domain)s. Try again in %(minutes)s minutes.",
            domain=self.name,
            minutes=minutes,
        )

    def _try_code(self, code):
        """Check ``code`` without raising: (True, '') or (False, plain-words reason).

        The try is counted before the code is compared; while the count is locked, not even the
        right code is compared. Callers report a refusal without raising, so the count commits.
        """
        self.ensure_one()
        policy = self._code_policy()
        now = fields.Datetime.now()
        if self.state != "code_pending":
            return False, self.env._("%s is already verified.", self.name)
        stored = self.env["crm.mail.secret"]._get_secret(self, SECRET_CODE)
        if not stored or not self.code_sent_date:
            return False, self.env._("No code was sent yet. Click “Send code” first.")
        attempt, _failures, locked_until = self.env["crm.mail.code.attempt"]._begin_try(
            CODE_PURPOSE, self.name, policy
        )
        self.invalidate_recordset(["code_locked_until", "code_attempts_left"])
        if locked_until:
            return False, self._locked_message(locked_until, now)
        if vcode.is_expired(self.code_sent_date, now, policy):
            attempt._end_try(right=True, policy=policy)  # nothing was compared
            return False, self.env._("This code has expired. Click “Resend code” to get a new one.")
        salt, _sep, code_hash = stored.partition("$")
        right = vcode.code_matches(code or "", code_hash, salt)
        locked_until = attempt._end_try(right=right, policy=policy)
        self.invalidate_recordset(["code_locked_until", "code_attempts_left"])
        if not right:
            if locked_until:
                return False, self._locked_message(locked_until, now)
            return False, self.env._(
                "This code is not right. %(left)s attempts left before the domain is locked "
                "for a while.",
                left=self.code_attempts_left,
            )
        self.env["crm.mail.secret"]._set_secret(self, SECRET_CODE, False)
        self._write_flow(
            {
                "state": "dns_pending",
                "code_verified_date": now,
                "code_verified_uid": self.env.uid,
                "pending_since": now,
            }
        )
        self._ensure_dkim_key()
        try:
            self._refresh_spf_suggestion()
        except UserError as exc:  # no SPF mechanism configured yet: shown at validation
            _logger.info("SPF suggestion for %s not ready: %s", self.name, exc)
        return True, ""
