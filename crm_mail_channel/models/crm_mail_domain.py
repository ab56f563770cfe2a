"""Email domain authentication: prove control of a domain, check SPF/DKIM/DMARC, sign mail.

The protocol logic lives in ``crm_mail_channel_core`` (dns_check, spf_check, dkim_sign,
dmarc_check, verification_code); the model stores the state, talks to the admin and keeps the
DKIM private keys in ``crm.mail.secret`` (never readable through the UI, RPC or exports).

The model is spread over three files: this one (the domain, its life cycle and what signing
needs), ``crm_mail_domain_code.py`` (the emailed verification code) and
``crm_mail_domain_dns.py`` (records to publish, checks, key rotation, scheduled checks).
"""

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError

from crm_mail_channel_core import dns_check

STATES = [
    ("code_pending", "Waiting for the code"),
    ("dns_pending", "Waiting for DNS"),
    ("authenticated", "Authenticated"),
    ("failing", "Failing"),
]
# States whose mail is DKIM-signed. A failing domain keeps signing: a record that broke (or a
# DNS hiccup) must not silently strip signatures that may verify again as soon as it is fixed.
SIGNING_STATES = ("authenticated", "failing")

SECRET_CODE = "verification_code"
SECRET_DKIM_PREFIX = "dkim_private_key:"

# Set only by the verification and check methods (in superuser mode, after their own checks):
# whoever could write them directly could mark an address as proven by themselves, or a domain
# as authenticated, and so sign mail as someone else.
FLOW_FIELDS = frozenset(
    {"name", "state", "code_sent_date", "code_verified_date", "code_verified_uid"}
)


class CrmMailDomain(models.Model):
    _name = "crm.mail.domain"
    _description = "Email Domain Authentication"
    _inherit = ["mail.thread"]
    _order = "name"

    # The domain and the address that proves it
    name = fields.Char("Domain", required=True, readonly=True, index=True)
    active = fields.Boolean(default=True)
    verification_email = fields.Char(
        "Address to verify",
        required=True,
        help="An address at the domain; the verification code is emailed there.",
    )
    # Where the domain stands
    state = fields.Selection(
        STATES,
        "Status",
        required=True,
        default="code_pending",
        readonly=True,
        index=True,
        tracking=True,
    )

    _sql_constraints = [
        ("name_unique", "unique(name)", "This domain is already in the list."),
    ]

    # ------------------------------------------------------------------------------------------
    # onchange
    # ------------------------------------------------------------------------------------------

    @api.onchange("verification_email")
    def _onchange_verification_email_title(self):
        """Show the domain as the title while a new domain's address is typed.

        Display only: ``name`` is readonly, so the form does not send it; ``create`` derives it
        from the address again.
        """
        for domain in self.filtered(lambda d: not d._origin.id):
            try:
                domain.name = self._domain_from_email(domain.verification_email)
            except UserError:
                domain.name = False

    # ------------------------------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not self.env.su:
                for fname in FLOW_FIELDS - {"name"}:
                    vals.pop(fname, None)
            email = vals.get("verification_email")
            domain = self._domain_from_email(email)
            if vals.get("name") and dns_check.normalize_domain(vals["name"]) != domain:
                raise UserError(
                    self.env._("The verification address must be at the domain %s.", vals["name"])
                )
            vals["name"] = domain
            vals["verification_email"] = tools.email_normalize(email)
            vals["state"] = "code_pending"
        domains = super().create(vals_list)
        admins = self._admin_partners()
        if admins:
            domains.message_subscribe(partner_ids=admins.ids)
        return domains

    def write(self, vals):
        if FLOW_FIELDS & set(vals) and not self.env.su:
            raise AccessError(
                self.env._(
                    "The state of an email domain changes only through its buttons (send and "
                    "verify the code, validate the records)."
                )
            )
        if "verification_email" in vals:
            for domain in self:
                if domain.state != "code_pending":
                    raise UserError(
                        self.env._(
                            "The address of a verified domain cannot change; add the domain again."
                        )
                    )
                if self._domain_from_email(vals["verification_email"]) != domain.name:
                    raise UserError(
                        self.env._(
                            "The verification address must be at the domain %s.", domain.name
                        )
                    )
            vals["verification_email"] = tools.email_normalize(vals["verification_email"])
        return super().write(vals)

    def unlink(self):
        self.env["crm.mail.secret"]._drop_secrets(self)
        return super().unlink()

    # ------------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------------

    def _write_flow(self, vals):
        """Write state and verification fields, for the verification and check methods only."""
        authenticated_before = set(self.filtered(lambda d: d.state == "authenticated").ids)
        # sudo: the callers checked the code or the DNS records just before; FLOW_FIELDS are
        # refused to any direct write.
        result = self.sudo().write(vals)
        if "state" in vals:
            # An authenticated domain is one of the company's own: mail at it is colleague mail.
            changed = self.filtered(
                lambda d: (d.state == "authenticated") != (d.id in authenticated_before)
            )
            if changed:
                self.env["crm.email"]._crm_recompute_colleague_mail(domains=changed.mapped("name"))
        return result

    @api.model
    def _domain_from_email(self, email):
        normalized = tools.email_normalize(email or "")
        if not normalized:
            raise UserError(self.env._("“%s” is not a valid email address.", email or ""))
        try:
            return dns_check.normalize_domain(normalized.rsplit("@", 1)[1])
        except ValueError:
            raise UserError(self.env._("“%s” is not a valid email address.", email)) from None

    @api.model
    def _admin_partners(self):
        # sudo: the members of the settings group, to be told about the domain's state.
        admins = self.env.ref("base.group_system").sudo().users
        return admins.filtered(
            lambda user: user.active and not user.share and user.email
        ).partner_id

    # ------------------------------------------------------------------------------------------
    # signing support (used by ir.mail_server and the composer)
    # ------------------------------------------------------------------------------------------

    @api.model
    def _get_signing_key(self, domain_name):
        """(selector, domain, private PEM bytes) for an authenticated domain, else None."""
        if not domain_name:
            return None
        # sudo: the sending code of any user signs; the key itself stays in crm.mail.secret.
        domains = self.sudo().with_context(active_test=True)
        domain = domains.search(
            [("name", "=", domain_name.lower()), ("state", "in", SIGNING_STATES)], limit=1
        )
        if not domain or not domain.dkim_selector:
            return None
        pem = self.env["crm.mail.secret"]._get_secret(
            domain, SECRET_DKIM_PREFIX + domain.dkim_selector
        )
        if not pem:
            return None
        return domain.dkim_selector, domain.name, pem.encode("ascii")

    @api.model
    def _is_authenticated_domain(self, domain_name):
        if not domain_name:
            return False
        # sudo: only whether the domain is authenticated, for the composer's warning.
        domains = self.sudo()
        return bool(
            domains.search_count(
                [("name", "=", domain_name.lower()), ("state", "=", "authenticated")], limit=1
            )
        )
