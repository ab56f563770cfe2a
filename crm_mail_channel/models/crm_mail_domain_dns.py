"""Email domain authentication: the SPF and DMARC records to publish, the checks, the schedule.

SPF, DKIM and DMARC are checked in DNS with ``crm_mail_channel_core``; a domain whose records
pass becomes authenticated (its mail is then DKIM-signed), and is re-checked on a schedule so
that breakage is noticed and the admins told.
"""

import ipaddress
import logging
import socket
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from crm_mail_channel_core import dkim_sign, dmarc_check, dns_check, spf_check
from crm_mail_channel_core.domain_errors import DnsTimeout

from .crm_mail_domain import SIGNING_STATES

_logger = logging.getLogger(__name__)

PARAM_NAMESERVERS = "crm_mail_channel.dns_nameservers"
PARAM_DNS_TIMEOUT = "crm_mail_channel.dns_timeout"
PARAM_SPF_MECHANISM = "crm_mail_channel.spf_mechanism"
DEFAULT_DNS_TIMEOUT = 3.0
# While records are not there yet, the schedule re-checks for this long, then waits for the admin.
AUTO_CHECK_WINDOW = timedelta(hours=48)


def _ip_literal(host):
    """``host`` written as an IP address (normalised), or None for a host name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


CHECK_STATUSES = [
    ("none", "Not checked"),
    ("pass", "OK"),
    ("fail", "Problem"),
    ("pending", "Not yet"),
]


class CrmMailDomain(models.Model):
    _inherit = "crm.mail.domain"

    # What to publish
    spf_mechanism = fields.Char(
        "SPF mechanism",
        readonly=True,
        help="The SPF mechanism(s) that authorise Odoo's outgoing servers.",
    )
    spf_current_record = fields.Char("Current SPF record", readonly=True)
    spf_record_value = fields.Char(
        "SPF record to publish",
        readonly=True,
        help="The single SPF TXT record to publish at the domain (your current one, merged).",
    )
    dmarc_record_name = fields.Char("DMARC record name", compute="_compute_dmarc_record")
    dmarc_record_value = fields.Char("Recommended DMARC record", compute="_compute_dmarc_record")

    # Check results
    spf_status = fields.Selection(CHECK_STATUSES, "SPF", default="none", readonly=True, copy=False)
    spf_code = fields.Char(readonly=True, copy=False)
    spf_message = fields.Text("SPF check", readonly=True, copy=False)
    dkim_status = fields.Selection(
        CHECK_STATUSES, "DKIM", default="none", readonly=True, copy=False
    )
    dkim_code = fields.Char(readonly=True, copy=False)
    dkim_message = fields.Text("DKIM check", readonly=True, copy=False)
    dmarc_status = fields.Selection(
        CHECK_STATUSES, "DMARC", default="none", readonly=True, copy=False
    )
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

    # ------------------------------------------------------------------------------------------
    # computes
    # ------------------------------------------------------------------------------------------

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

    # ------------------------------------------------------------------------------------------
    # DNS: resolver, SPF mechanism
    # ------------------------------------------------------------------------------------------

    @api.model
    def _get_resolver(self):
        """Resolver on ``crm_mail_channel.dns_nameservers`` (system resolver when unset)."""
        # sudo: settings read by the checks, whoever runs them.
        params = self.env["ir.config_parameter"].sudo()
        try:
            nameservers = dns_check.parse_nameservers(params.get_param(PARAM_NAMESERVERS))
        except ValueError as exc:
            raise UserError(
                self.env._(
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
        # sudo: host names only, to tell which addresses SPF must authorise.
        servers = self.env["ir.mail_server"].sudo().search([("smtp_host", "!=", False)])
        hosts = servers.mapped("smtp_host")
        if not hosts and tools.config.get("smtp_server"):
            hosts = [tools.config["smtp_server"]]
        ips = []
        for host in hosts:
            literal = _ip_literal(host)
            if literal:
                ips.append(literal)
                continue
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
        # sudo: a setting read by the checks, whoever runs them.
        params = self.env["ir.config_parameter"].sudo()
        configured = (params.get_param(PARAM_SPF_MECHANISM) or "").strip()
        if configured:
            return configured, None
        ips = self._outgoing_server_ips()
        if not ips:
            raise UserError(
                self.env._(
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

    # ------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------

    def action_validate_records(self):
        """Check SPF, DKIM (and DMARC, advice only) now; the admin's "Validate records"."""
        for domain in self:
            if domain.state == "code_pending":
                raise UserError(
                    self.env._("Verify the code sent to %s first.", domain.verification_email)
                )
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
        result = dns_check.pending_result(exc, self.env._("the DNS records of %s", self.name))
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

    def _apply_check_outcome(self):
        """Move the state from the stored SPF/DKIM statuses (timeouts change nothing)."""
        self.ensure_one()
        statuses = (self.spf_status, self.dkim_status)
        if all(status == "pass" for status in statuses):
            if self.state != "authenticated":
                self._write_flow({"state": "authenticated", "pending_since": False})
            elif not self.dkim_next_selector:
                self.pending_since = False
        elif "fail" in statuses:
            if self.state == "authenticated":
                self._write_flow({"state": "failing", "pending_since": fields.Datetime.now()})
                self._notify_admins_failing()
            elif self.state == "code_pending":
                pass
            elif self.state not in ("failing", "dns_pending"):
                self._write_flow({"state": "dns_pending"})

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
            body=self.env._(
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
