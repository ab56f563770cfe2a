"""Email domain authentication: the DKIM key pair, its record, and key rotation.

The private key is made here and kept in ``crm.mail.secret``; only its public half and the
selector are on the domain. A rotation publishes a new key under a new selector and signs with
the old one until the new record validates, so mail never goes out unsigned meanwhile.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import dkim_sign

from .crm_mail_domain import SECRET_DKIM_PREFIX, SIGNING_STATES
from .crm_mail_domain_dns import CHECK_STATUSES


class CrmMailDomain(models.Model):
    _inherit = "crm.mail.domain"

    # The key mail is signed with, and its record
    dkim_selector = fields.Char("DKIM selector", readonly=True, copy=False)
    dkim_public_key = fields.Text(readonly=True, copy=False)
    dkim_record_name = fields.Char("DKIM record name", compute="_compute_dkim_record")
    dkim_record_value = fields.Text(
        "DKIM record value",
        compute="_compute_dkim_record",
        help="TXT value as quoted strings of at most 255 characters each.",
    )
    # Rotation: the next key, its check, and the selector it replaced
    dkim_next_selector = fields.Char("New DKIM selector", readonly=True, copy=False)
    dkim_next_public_key = fields.Text(readonly=True, copy=False)
    dkim_next_record_name = fields.Char("Next DKIM record name", compute="_compute_dkim_record")
    dkim_next_record_value = fields.Text("Next DKIM record value", compute="_compute_dkim_record")
    dkim_next_status = fields.Selection(
        CHECK_STATUSES, "Next DKIM key", default="none", readonly=True, copy=False
    )
    dkim_next_message = fields.Text("New DKIM key check", readonly=True, copy=False)
    dkim_previous_selector = fields.Char(readonly=True, copy=False)

    @api.depends(
        "name", "dkim_selector", "dkim_public_key", "dkim_next_selector", "dkim_next_public_key"
    )
    def _compute_dkim_record(self):
        for domain in self:
            domain.dkim_record_name = domain.dkim_record_value = False
            domain.dkim_next_record_name = domain.dkim_next_record_value = False
            if domain.name and domain.dkim_selector and domain.dkim_public_key:
                domain.dkim_record_name = dkim_sign.dkim_record_name(
                    domain.dkim_selector, domain.name
                )
                domain.dkim_record_value = dkim_sign.zone_txt_presentation(
                    dkim_sign.dkim_txt_value(domain.dkim_public_key)
                )
            if domain.name and domain.dkim_next_selector and domain.dkim_next_public_key:
                domain.dkim_next_record_name = dkim_sign.dkim_record_name(
                    domain.dkim_next_selector, domain.name
                )
                domain.dkim_next_record_value = dkim_sign.zone_txt_presentation(
                    dkim_sign.dkim_txt_value(domain.dkim_next_public_key)
                )

    def _ensure_dkim_key(self):
        for domain in self.filtered(lambda d: not d.dkim_selector):
            selector = dkim_sign.new_selector()
            private_pem, public_b64 = dkim_sign.generate_key_pair()
            self.env["crm.mail.secret"]._set_secret(
                domain, SECRET_DKIM_PREFIX + selector, private_pem.decode("ascii")
            )
            domain.write({"dkim_selector": selector, "dkim_public_key": public_b64})

    def action_rotate_dkim_key(self):
        """Start a key rotation: a new key under a new selector.

        Mail keeps being signed with the current selector until the new record validates; then
        signing switches to it, and the old record can be removed after a few days.
        """
        for domain in self:
            if domain.state not in SIGNING_STATES:
                raise UserError(self.env._("Only an authenticated domain can rotate its DKIM key."))
            if domain.dkim_next_selector:
                raise UserError(
                    self.env._(
                        "A new key (%s) is already waiting to be published.",
                        domain.dkim_next_selector,
                    )
                )
            taken = [s for s in (domain.dkim_selector, domain.dkim_previous_selector) if s]
            selector = dkim_sign.new_selector(existing=taken)
            private_pem, public_b64 = dkim_sign.generate_key_pair()
            self.env["crm.mail.secret"]._set_secret(
                domain, SECRET_DKIM_PREFIX + selector, private_pem.decode("ascii")
            )
            domain.write(
                {
                    "dkim_next_selector": selector,
                    "dkim_next_public_key": public_b64,
                    "dkim_next_status": "none",
                    "dkim_next_message": False,
                    "pending_since": fields.Datetime.now(),
                }
            )
        return True

    def action_cancel_rotation(self):
        for domain in self.filtered("dkim_next_selector"):
            self.env["crm.mail.secret"]._set_secret(
                domain, SECRET_DKIM_PREFIX + domain.dkim_next_selector, False
            )
            domain.write(
                {
                    "dkim_next_selector": False,
                    "dkim_next_public_key": False,
                    "dkim_next_status": "none",
                    "dkim_next_message": False,
                }
            )
        return True

    def _switch_to_next_key(self):
        """The new key is published: sign with it from now on, forget the old private key."""
        self.ensure_one()
        old = self.dkim_selector
        self.write(
            {
                "dkim_previous_selector": old,
                "dkim_selector": self.dkim_next_selector,
                "dkim_public_key": self.dkim_next_public_key,
                "dkim_next_selector": False,
                "dkim_next_public_key": False,
                "dkim_next_status": "none",
                "dkim_next_message": False,
                "dkim_status": "pass",
                "dkim_code": "dkim_ok",
                "dkim_message": self.dkim_next_message,
            }
        )
        if old:
            self.env["crm.mail.secret"]._set_secret(self, SECRET_DKIM_PREFIX + old, False)
        self.message_post(
            body=self.env._(
                "Mail from %(domain)s is now signed with the new DKIM key (selector "
                "%(new)s). Leave the old record %(old)s in DNS for a few days so that mail "
                "already on its way still verifies, then remove it.",
                domain=self.name,
                new=self.dkim_selector,
                old=dkim_sign.dkim_record_name(old, self.name) if old else "-",
            ),
            subtype_xmlid="mail.mt_note",
        )
