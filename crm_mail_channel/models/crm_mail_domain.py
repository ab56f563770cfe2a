"""Email domain authentication: prove control of a domain, check SPF/DKIM/DMARC, sign mail.

The protocol logic lives in ``crm_mail_channel_core`` (dns_check, spf_check, dkim_sign,
dmarc_check, verification_code); this model stores the state, talks to the admin and keeps
the DKIM private keys in ``crm.mail.secret`` (never readable through the UI, RPC or exports).
"""

import ipaddress
import logging
import socket
from datetime import timedelta

from markupsafe import Markup
from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError

from crm_mail_channel_core import dkim_sign, dmarc_check, dns_check, spf_check
from crm_mail_channel_core import verification_code as vcode
from crm_mail_channel_core.domain_errors import DnsTimeout

_logger = logging.getLogger(__name__)

PARAM_NAMESERVERS = "crm_mail_channel.dns_nameservers"
PARAM_DNS_TIMEOUT = "crm_mail_channel.dns_timeout"
PARAM_SPF_MECHANISM = "crm_mail_channel.spf_mechanism"
DEFAULT_DNS_TIMEOUT = 3.0
# While records are not there yet, the schedule re-checks for this long, then waits for the admin.
AUTO_CHECK_WINDOW = timedelta(hours=48)

STATES = [
    ("code_pending", "Waiting for the code"),
    ("dns_pending", "Waiting for DNS"),
    ("authenticated", "Authenticated"),
    ("failing", "Failing"),
]
CHECK_STATUSES = [
    ("none", "Not checked"),
    ("pass", "OK"),
    ("fail", "Problem"),
    ("pending", "Not yet"),
]
# States whose mail is DKIM-signed. A failing domain keeps signing: a record that broke (or a
# DNS hiccup) must not silently strip signatures that may verify again as soon as it is fixed.
SIGNING_STATES = ("authenticated", "failing")

SECRET_CODE = "verification_code"
SECRET_DKIM_PREFIX = "dkim_private_key:"


class CrmMailDomain(models.Model):
    _name = "crm.mail.domain"
    _description = "Email Domain Authentication"
    _inherit = ["mail.thread"]
    _order = "name"

    name = fields.Char("Domain", required=True, readonly=True, index=True)
    active = fields.Boolean(default=True)
    verification_email = fields.Char(
        required=True,
        help="An address at the domain; the verification code is emailed there.",
    )
    state = fields.Selection(
        STATES, required=True, default="code_pending", readonly=True, index=True, tracking=True
    )

    # ---- verification code (the code itself is stored only as a salted hash, in a secret) ----
    code_sent_date = fields.Datetime("Code sent on", readonly=True, copy=False)
    code_attempts = fields.Integer(readonly=True, copy=False)
    code_locked_until = fields.Datetime(readonly=True, copy=False)
    code_verified_date = fields.Datetime("Verified on", readonly=True, copy=False)

    # ---- what to publish ----------------------------------------------------------------------
    spf_mechanism = fields.Char(
        readonly=True, help="The SPF mechanism(s) that authorise Odoo's outgoing servers."
    )
    spf_current_record = fields.Char("Current SPF record", readonly=True)
    spf_record_value = fields.Char(
        "SPF record to publish",
        readonly=True,
        help="The single SPF TXT record to publish at the domain (your current one, merged).",
    )
    dkim_selector = fields.Char(readonly=True, copy=False)
    dkim_public_key = fields.Text(readonly=True, copy=False)
    dkim_record_name = fields.Char(compute="_compute_dkim_record")
    dkim_record_value = fields.Text(
        compute="_compute_dkim_record",
        help="TXT value as quoted strings of at most 255 characters each.",
    )
    dkim_next_selector = fields.Char("New DKIM selector", readonly=True, copy=False)
    dkim_next_public_key = fields.Text(readonly=True, copy=False)
    dkim_next_record_name = fields.Char(compute="_compute_dkim_record")
    dkim_next_record_value = fields.Text(compute="_compute_dkim_record")
    dkim_previous_selector = fields.Char(readonly=True, copy=False)
    dmarc_record_name = fields.Char("DMARC record name", compute="_compute_dmarc_record")
    dmarc_record_value = fields.Char("Recommended DMARC record", compute="_compute_dmarc_record")

    # ---- check results -------------------------------------------------------------------------
    spf_status = fields.Selection(CHECK_STATUSES, default="none", readonly=True, copy=False)
    spf_code = fields.Char(readonly=True, copy=False)
    spf_message = fields.Text("SPF check", readonly=True, copy=False)
    dkim_status = fields.Selection(CHECK_STATUSES, default="none", readonly=True, copy=False)
    dkim_code = fields.Char(readonly=True, copy=False)
    dkim_message = fields.Text("DKIM check", readonly=True, copy=False)
    dkim_next_status = fields.Selection(CHECK_STATUSES, default="none", readonly=True, copy=False)
    dkim_next_message = fields.Text("New DKIM key check", readonly=True, copy=False)
    dmarc_status = fields.Selection(CHECK_STATUSES, default="none", readonly=True, copy=False)
    dmarc_message = fields.Text("DMARC advice", readonly=True, copy=False)
    last_check_date = fields.Datetime("Last check", readonly=True, copy=False)
    pending_since = fields.Datetime(
        readonly=True,
        copy=False,
        help="Start of the current automatic re-check window (48 hours).",
    )
    auto_check_active = fields.Boolean(
        "Re-checked automatically", compute="_compute_auto_check_active"
    )

    _sql_constraints = [
        ("name_unique", "unique(name)", "This domain is already in the list."),
    ]

    # ------------------------------------------------------------------------------------------
    # computes and creation
    # ------------------------------------------------------------------------------------------

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

    @api.depends("name")
    def _compute_dmarc_record(self):
        for domain in self:
            if domain.name:
                domain.dmarc_record_name = dmarc_check.dmarc_record_name(domain.name)
                domain.dmarc_record_value = dmarc_check.recommended_dmarc(domain.name)
            else:
                domain.dmarc_record_name = domain.dmarc_record_value = False

    @api.depends("state", "pending_since", "dkim_next_selector")
    def _compute_auto_check_active(self):
        now = fields.Datetime.now()
        for domain in self:
            domain.auto_check_active = domain._needs_frequent_check(now)

    def _needs_frequent_check(self, now):
        self.ensure_one()
        if self.state == "code_pending" or not self.pending_since:
            return False
        if self.state == "authenticated" and not self.dkim_next_selector:
            return False
        return now < self.pending_since + AUTO_CHECK_WINDOW

    @api.model
    def _domain_from_email(self, email):
        normalized = tools.email_normalize(email or "")
        if not normalized:
            raise UserError(_("“%s” is not a valid email address.", email or ""))
        try:
            return dns_check.normalize_domain(normalized.rsplit("@", 1)[1])
        except ValueError:
            raise UserError(_("“%s” is not a valid email address.", email)) from None

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            email = vals.get("verification_email")
            domain = self._domain_from_email(email)
            if vals.get("name") and dns_check.normalize_domain(vals["name"]) != domain:
                raise UserError(
                    _("The verification address must be at the domain %s.", vals["name"])
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
        if "verification_email" in vals:
            for domain in self:
                if domain.state != "code_pending":
                    raise UserError(
                        _("The address of a verified domain cannot change; add the domain again.")
                    )
                if self._domain_from_email(vals["verification_email"]) != domain.name:
                    raise UserError(
                        _("The verification address must be at the domain %s.", domain.name)
                    )
            vals["verification_email"] = tools.email_normalize(vals["verification_email"])
        return super().write(vals)

    def unlink(self):
        self.env["crm.mail.secret"]._drop_secrets(self)
        return super().unlink()

    @api.model
    def _admin_partners(self):
        admins = (
            self.env.ref("base.group_system")
            .sudo()
            .users.filtered(lambda user: user.active and not user.share and user.email)
        )
        return admins.partner_id

    # ------------------------------------------------------------------------------------------
    # verification code
    # ------------------------------------------------------------------------------------------

    def _code_policy(self):
        return vcode.DEFAULT_POLICY

    def action_send_code(self):
        """Email a new verification code to ``verification_email`` (also "Resend")."""
        policy = self._code_policy()
        now = fields.Datetime.now()
        for domain in self:
            if domain.state != "code_pending":
                raise UserError(_("%s is already verified.", domain.name))
            if vcode.is_locked(domain.code_locked_until or None, now):
                raise UserError(domain._locked_message(now))
            if not vcode.can_resend(domain.code_sent_date or None, now, policy):
                wait = vcode.resend_wait(domain.code_sent_date or None, now, policy)
                raise UserError(
                    _(
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
            domain.write({"code_sent_date": now, "code_attempts": 0})
            domain._send_code_email(code)
        return True

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
            _("Enter this code in Odoo to prove that %s belongs to you:", self.name),
            code,
            _(
                "The code is valid for %(days)s days. If you did not ask for it, ignore this "
                "email.",
                days=days,
            ),
        )
        mail = (
            self.env["mail.mail"]
            .sudo()
            .create(
                {
                    "subject": _("Your verification code for %s", self.name),
                    "email_from": company.email_formatted or self.env.user.email_formatted,
                    "email_to": self.verification_email,
                    "body_html": body,
                    "auto_delete": True,
                }
            )
        )
        mail.send(raise_exception=False)
        if mail.exists() and mail.state == "exception":
            reason = mail.failure_reason or ""
            raise UserError(
                _(
                    "The code could not be sent to %(email)s: %(reason)s",
                    email=self.verification_email,
                    reason=reason.strip() or _("the outgoing mail server refused it"),
                )
            )

    def _locked_message(self, now):
        minutes = max(1, int((self.code_locked_until - now).total_seconds() // 60) + 1)
        return _(
            "Too many wrong codes for %(domain)s. Try again in %(minutes)s minutes.",
            domain=self.name,
            minutes=minutes,
        )

    def _try_code(self, code):
        """Check ``code`` without raising: (True, '') or (False, plain-words reason).

        Failures are counted here; the caller decides whether to raise.
        """
        self.ensure_one()
        policy = self._code_policy()
        now = fields.Datetime.now()
        if self.state != "code_pending":
            return False, _("%s is already verified.", self.name)
        if vcode.is_locked(self.code_locked_until or None, now):
            return False, self._locked_message(now)
        stored = self.env["crm.mail.secret"]._get_secret(self, SECRET_CODE)
        if not stored or not self.code_sent_date:
            return False, _("No code was sent yet. Click “Send code” first.")
        if vcode.is_expired(self.code_sent_date, now, policy):
            return False, _("This code has expired. Click “Resend code” to get a new one.")
        salt, _sep, code_hash = stored.partition("$")
        if not vcode.code_matches(code or "", code_hash, salt):
            attempts, locked_until = vcode.register_failure(self.code_attempts, now, policy)
            self._record_code_failure(attempts, locked_until)
            if locked_until:
                return False, self._locked_message(now)
            return False, _(
                "This code is not right. %(left)s attempts left before the domain is locked "
                "for a while.",
                left=vcode.remaining_attempts(attempts, policy),
            )
        self.env["crm.mail.secret"]._set_secret(self, SECRET_CODE, False)
        self.write(
            {
                "state": "dns_pending",
                "code_verified_date": now,
                "code_attempts": 0,
                "code_locked_until": False,
                "pending_since": now,
            }
        )
        self._ensure_dkim_key()
        try:
            self._refresh_spf_suggestion()
        except UserError as exc:  # no SPF mechanism configured yet: shown at validation
            _logger.info("SPF suggestion for %s not ready: %s", self.name, exc)
        return True, ""

    def _record_code_failure(self, attempts, locked_until):
        """Count a wrong code so that it also survives the rollback of the failed request."""
        self.write({"code_attempts": attempts, "code_locked_until": locked_until})
        registry, domain_id = self.env.registry, self.id
        values = (attempts, locked_until)

        def persist():
            try:
                with registry.cursor() as cr:
                    cr.execute(
                        "UPDATE crm_mail_domain SET code_attempts = %s, code_locked_until = %s"
                        " WHERE id = %s",
                        (*values, domain_id),
                    )
            except Exception:
                _logger.exception("Could not record a wrong verification code")

        self.env.cr.postrollback.add(persist)

    def action_verify_code(self, code):
        """Check the emailed code; a wrong, expired or locked code raises a UserError."""
        self.ensure_one()
        ok, message = self._try_code(code)
        if not ok:
            raise UserError(message)
        return True

    def action_open_code_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Enter the verification code"),
            "res_model": "crm.mail.domain.code.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_domain_id": self.id},
        }

    # ------------------------------------------------------------------------------------------
    # DNS: resolver, SPF mechanism, keys
    # ------------------------------------------------------------------------------------------

    @api.model
    def _get_resolver(self):
        """Resolver on ``crm_mail_channel.dns_nameservers`` (system resolver when unset)."""
        params = self.env["ir.config_parameter"].sudo()
        try:
            nameservers = dns_check.parse_nameservers(params.get_param(PARAM_NAMESERVERS))
        except ValueError as exc:
            raise UserError(
                _(
                    "The system parameter %(param)s is not valid: %(error)s",
                    param=PARAM_NAMESERVERS,
                    error=exc,
                )
            ) from None
        try:
            timeout = float(params.get_param(PARAM_DNS_TIMEOUT) or DEFAULT_DNS_TIMEOUT)
        except ValueError:
            timeout = DEFAULT_DNS_TIMEOUT
        return dns_check.make_resolver(nameservers or None, timeout=timeout)

    @api.model
    def _outgoing_server_ips(self):
        """IP addresses of the active outgoing mail servers (or the --smtp-server option)."""
        hosts = self.env["ir.mail_server"].sudo().search([]).mapped("smtp_host")
        if not hosts and tools.config.get("smtp_server"):
            hosts = [tools.config["smtp_server"]]
        ips = []
        for host in hosts:
            try:
                ips.append(str(ipaddress.ip_address(host)))
                continue
            except ValueError:
                pass
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except OSError:
                _logger.info("Cannot resolve outgoing mail server %s for SPF", host)
                continue
            ips.extend(info[4][0] for info in infos)
        return list(dict.fromkeys(ips))

    @api.model
    def _get_spf_mechanism(self):
        """(mechanism text, IP to test with pyspf or None).

        The system parameter ``crm_mail_channel.spf_mechanism`` (for example
        ``include:_spf.mailprovider.com``) wins; otherwise the outgoing servers' IPs are used.
        """
        configured = (
            self.env["ir.config_parameter"].sudo().get_param(PARAM_SPF_MECHANISM) or ""
        ).strip()
        if configured:
            return configured, None
        ips = self._outgoing_server_ips()
        if not ips:
            raise UserError(
                _(
                    "Set the SPF mechanism in Settings › CRM › Email Authentication (for example "
                    "include:_spf.yourprovider.com): no outgoing mail server address is known."
                )
            )
        terms = [f"ip{ipaddress.ip_address(ip).version}:{ip}" for ip in ips]
        return " ".join(terms), ips[0]

    def _refresh_spf_suggestion(self, resolver=None):
        """Fill spf_mechanism / spf_current_record / spf_record_value (one TXT lookup)."""
        mechanism, _test_ip = self._get_spf_mechanism()
        for domain in self:
            current = []
            try:
                txt = dns_check.lookup_txt(resolver or self._get_resolver(), domain.name) or []
                current = [r for r in txt if spf_check.is_spf_record(r)]
            except DnsTimeout:
                current = [r for r in [domain.spf_current_record] if r]
            domain.write(
                {
                    "spf_mechanism": mechanism,
                    "spf_current_record": " | ".join(current) or False,
                    "spf_record_value": spf_check.suggest_spf_record(current, mechanism),
                }
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
                raise UserError(_("Only an authenticated domain can rotate its DKIM key."))
            if domain.dkim_next_selector:
                raise UserError(
                    _(
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

    # ------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------

    def action_validate_records(self):
        """Check SPF, DKIM (and DMARC, advice only) now; the admin's "Validate records"."""
        for domain in self:
            if domain.state == "code_pending":
                raise UserError(_("Verify the code sent to %s first.", domain.verification_email))
        # A click restarts the automatic re-check window of domains still waiting for DNS.
        self.filtered(lambda d: d.state in ("dns_pending", "failing")).write(
            {"pending_since": fields.Datetime.now()}
        )
        self._check_records()
        return True

    def _check_records(self):
        resolver = None
        try:
            resolver = self._get_resolver()
        except DnsTimeout as exc:  # no resolver configured on this machine
            for domain in self:
                domain._store_pending_everywhere(exc)
            return
        mechanism, test_ip = self._get_spf_mechanism()
        for domain in self:
            domain._check_one(resolver, mechanism, test_ip)

    def _store_pending_everywhere(self, exc):
        result = dns_check.pending_result(exc, _("the DNS records of %s", self.name))
        self.write(
            {
                "spf_status": "pending",
                "spf_code": result.code,
                "spf_message": result.message,
                "dkim_status": "pending",
                "dkim_code": result.code,
                "dkim_message": result.message,
                "last_check_date": fields.Datetime.now(),
            }
        )

    def _check_one(self, resolver, mechanism, test_ip):
        self.ensure_one()
        self._ensure_dkim_key()
        spf = spf_check.check_spf(resolver, self.name, [mechanism], test_ip=test_ip)
        dkim_result = dkim_sign.check_dkim(
            resolver, self.dkim_selector, self.name, self.dkim_public_key
        )
        dmarc = dmarc_check.check_dmarc(resolver, self.name)
        vals = {
            "spf_mechanism": mechanism,
            "spf_status": spf.status,
            "spf_code": spf.code,
            "spf_message": spf.message,
            "dkim_status": dkim_result.status,
            "dkim_code": dkim_result.code,
            "dkim_message": dkim_result.message,
            # DMARC is advice: a missing record is "not yet", never a failure of the domain.
            "dmarc_status": "pass" if dmarc.passed else "pending",
            "dmarc_message": dmarc.message,
            "last_check_date": fields.Datetime.now(),
        }
        if not spf.pending:
            records = spf.details.get("records") or []
            vals["spf_current_record"] = " | ".join(records) or False
            vals["spf_record_value"] = spf.details.get("suggested") or (
                spf_check.suggest_spf_record(records, mechanism)
            )
        if self.dkim_next_selector:
            next_result = dkim_sign.check_dkim(
                resolver, self.dkim_next_selector, self.name, self.dkim_next_public_key
            )
            vals["dkim_next_status"] = next_result.status
            vals["dkim_next_message"] = next_result.message
        self.write(vals)
        if self.dkim_next_selector and self.dkim_next_status == "pass":
            self._switch_to_next_key()
        self._apply_check_outcome()

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
            body=_(
                "Mail from %(domain)s is now signed with the new DKIM key (selector "
                "%(new)s). Leave the old record %(old)s in DNS for a few days so that mail "
                "already on its way still verifies, then remove it.",
                domain=self.name,
                new=self.dkim_selector,
                old=dkim_sign.dkim_record_name(old, self.name) if old else "-",
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _apply_check_outcome(self):
        """Move the state from the stored SPF/DKIM statuses (timeouts change nothing)."""
        self.ensure_one()
        statuses = (self.spf_status, self.dkim_status)
        if all(status == "pass" for status in statuses):
            if self.state != "authenticated":
                self.write({"state": "authenticated", "pending_since": False})
            elif not self.dkim_next_selector:
                self.pending_since = False
        elif "fail" in statuses:
            if self.state == "authenticated":
                self.write({"state": "failing", "pending_since": fields.Datetime.now()})
                self._notify_admins_failing()
            elif self.state == "code_pending":
                pass
            elif self.state not in ("failing", "dns_pending"):
                self.state = "dns_pending"

    def _notify_admins_failing(self):
        self.ensure_one()
        reasons = [
            m
            for m in (
                self.spf_status == "fail" and self.spf_message,
                self.dkim_status == "fail" and self.dkim_message,
            )
            if m
        ]
        admins = self._admin_partners()
        self.message_post(
            body=_(
                "Email authentication of %(domain)s stopped working: %(reasons)s",
                domain=self.name,
                reasons=" ".join(reasons),
            ),
            partner_ids=admins.ids,
            subtype_xmlid="mail.mt_comment",
            message_type="notification",
        )

    # ------------------------------------------------------------------------------------------
    # scheduled checks
    # ------------------------------------------------------------------------------------------

    @api.model
    def _cron_check_pending_domains(self, auto_commit=False):
        """Every ~15 min: domains waiting for DNS (or failing, or rotating) for 48 h at most."""
        now = fields.Datetime.now()
        domains = self.search(
            [
                ("state", "!=", "code_pending"),
                ("pending_since", ">", now - AUTO_CHECK_WINDOW),
            ]
        ).filtered(lambda d: d._needs_frequent_check(now))
        return domains._run_scheduled_checks(auto_commit)

    @api.model
    def _cron_check_authenticated_domains(self, auto_commit=False):
        """Daily: authenticated (and failing) domains, so that breakage is noticed."""
        domains = self.search([("state", "in", SIGNING_STATES)])
        return domains._run_scheduled_checks(auto_commit)

    def _run_scheduled_checks(self, auto_commit=False):
        if not self:
            return True
        try:
            mechanism, test_ip = self._get_spf_mechanism()
            resolver = self._get_resolver()
        except (UserError, DnsTimeout) as exc:
            _logger.warning("Email domain checks skipped: %s", getattr(exc, "args", [exc])[0])
            return False
        for domain in self:
            try:
                domain._check_one(resolver, mechanism, test_ip)
            except Exception:
                _logger.exception("Email domain check of %s failed", domain.name)
                if auto_commit:
                    self.env.cr.rollback()
                continue
            if auto_commit:
                # Cron path only: keep each domain's result.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return True

    # ------------------------------------------------------------------------------------------
    # signing support (used by ir.mail_server)
    # ------------------------------------------------------------------------------------------

    @api.model
    def _get_signing_key(self, domain_name):
        """(selector, domain, private PEM bytes) for an authenticated domain, else None."""
        if not domain_name:
            return None
        domain = (
            self.sudo()
            .with_context(active_test=True)
            .search([("name", "=", domain_name.lower()), ("state", "in", SIGNING_STATES)], limit=1)
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
        return bool(
            self.sudo().search_count(
                [("name", "=", domain_name.lower()), ("state", "=", "authenticated")], limit=1
            )
        )
