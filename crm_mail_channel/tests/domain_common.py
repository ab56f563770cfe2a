"""Shared set-up for the email domain authentication tests: real Knot DNS, real SMTP sink."""

import email
import email.policy
import re
import time
import uuid
from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, new_test_user

from crm_mail_channel_core import dkim_sign, dns_check
from crm_mail_channel_core import verification_code as vcode
from crm_mail_channel_testing.knot import ensure_knot
from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from .common import really_send

SPF_INCLUDE = "include:_spf.h6mailer.example.test"
CODE_RE = re.compile(r"letter-spacing:\s*4px[^>]*>\s*([A-Z0-9]{6,})\s*<")


class MailDomainCase(TransactionCase):
    """Knot serves example.test/customer.test; the SMTP sink receives what Odoo really sends."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.knot = ensure_knot()
        cls.sink = ensure_smtp_sink()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param("crm_mail_channel.dns_nameservers", cls.knot.nameserver)
        cls.params.set_param("crm_mail_channel.dns_timeout", "2")
        cls.params.set_param("crm_mail_channel.spf_mechanism", SPF_INCLUDE)
        cls.knot.set_txt("_spf.h6mailer.example.test", "v=spf1 ip4:127.0.0.1 ~all")
        # Odoo's one outgoing server: the sink on loopback.
        cls.env["ir.mail_server"].sudo().search([]).write({"active": False})
        cls.mail_server = (
            cls.env["ir.mail_server"]
            .sudo()
            .create(
                {
                    "name": "Test sink",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": cls.sink.port,
                    "smtp_encryption": "none",
                    "sequence": 1,
                }
            )
        )
        cls.admin = new_test_user(
            cls.env,
            login="h6_domain_admin",
            groups="base.group_user,base.group_system,sales_team.group_sale_manager",
            email="it-admin@admins.customer.test",
        )
        cls.salesman = new_test_user(
            cls.env,
            login="h6_salesman",
            groups="base.group_user,sales_team.group_sale_salesman",
            email="plain@nowhere.customer.test",
        )
        cls.Domain = cls.env["crm.mail.domain"].with_user(cls.admin)

    # ---- helpers ---------------------------------------------------------------------------

    def unique_domain(self):
        return f"h6{uuid.uuid4().hex[:10]}.example.test"

    def really_send(self):
        """Let ir.mail_server connect and send as in production (test mode skips both)."""
        return really_send()

    def sink_messages_to(self, address, count=1, timeout=10.0):
        """Messages at the sink whose envelope recipients include ``address``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                m
                for m in self.sink.messages
                if address.lower() in [r.lower() for r in m["rcpt_tos"]]
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def code_from_sink(self, address, index=-1):
        messages = self.sink_messages_to(address)
        self.assertTrue(messages, f"no mail reached the sink for {address}")
        parsed = email.message_from_bytes(messages[index]["raw"], policy=email.policy.default)
        html = parsed.get_body(("html",)).get_content()
        match = CODE_RE.search(html)
        self.assertTrue(match, "the code email has no code")
        return match.group(1)

    def resolver(self):
        return dns_check.make_resolver([self.knot.nameserver], timeout=2)

    def new_domain(self, name=None):
        name = name or self.unique_domain()
        domain = self.Domain.create({"verification_email": f"postmaster@{name}"})
        return domain

    def verified_domain(self, name=None):
        domain = self.new_domain(name)
        with self.really_send():
            domain.action_send_code()
        domain.action_verify_code(self.code_from_sink(domain.verification_email))
        self.assertEqual(domain.state, "dns_pending")
        return domain

    def publish_good_records(self, domain):
        self.knot.set_txt(domain.name, f"v=spf1 {SPF_INCLUDE} ~all")
        self.publish_dkim(domain)

    def publish_dkim(self, domain, selector=None, public_b64=None):
        selector = selector or domain.dkim_selector
        value = dkim_sign.dkim_txt_value(public_b64 or domain.dkim_public_key)
        self.knot.set_txt(
            dkim_sign.dkim_record_name(selector, domain.name), [dkim_sign.split_txt(value)]
        )

    def authenticated_domain(self, name=None):
        domain = self.verified_domain(name)
        self.publish_good_records(domain)
        domain.action_validate_records()
        self.assertEqual(domain.state, "authenticated", domain.spf_message or domain.dkim_message)
        return domain


class CodeAttemptsMixin:
    """Read and steer the per-user count of wrong verification codes of a domain."""

    def code_attempt(self, domain, user):
        return (
            self.env["crm.mail.code.attempt"]
            .sudo()
            .search(
                [
                    ("purpose", "=", "crm.mail.domain"),
                    ("key", "=", domain.name),
                    ("user_id", "=", user.id),
                ]
            )
        )

    def code_failures(self, domain, user):
        attempt = self.code_attempt(domain, user)
        attempt.invalidate_recordset()
        return attempt.failures

    def unlock_code(self, domain, user):
        """The hour of lock has passed (the wrong tries of the window are still counted)."""
        self.code_attempt(domain, user).write(
            {"locked_until": fields.Datetime.now() - timedelta(seconds=1)}
        )

    def set_known_code(self, domain, code):
        """A code as if it had just been emailed, without going through the SMTP sink."""
        salt = vcode.new_salt()
        self.env["crm.mail.secret"]._set_secret(
            domain, "verification_code", f"{salt}${vcode.hash_code(code, salt)}"
        )
        domain.sudo().code_sent_date = fields.Datetime.now()
        domain.flush_recordset()
