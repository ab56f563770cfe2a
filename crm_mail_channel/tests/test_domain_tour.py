"""Browser tour in Chromium: an administrator adds an email domain from the CRM settings, the
code goes to the SMTP sink, a wrong code is refused, the right one shows the records to
publish. Tours fail on browser console errors (Odoo's runner) and warnings (checked here)."""

import json

from odoo.tests import HttpCase, tagged

from .common import no_browser_warnings
from .domain_common import SPF_INCLUDE, MailDomainCase


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestDomainTour(MailDomainCase, HttpCase):
    """Knot, the SMTP sink as Odoo's outgoing server and an administrator: MailDomainCase."""

    def tour(self, url, name, details):
        code = (
            f"sessionStorage.setItem('cmc_domain_tour', {json.dumps(json.dumps(details))});"
            f"odoo.startTour({json.dumps(name)}, "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false})"
        )
        with self.really_send(), no_browser_warnings(self):
            self.start_tour(url, name, login=self.admin.login, code=code)

    def test_add_and_verify_a_domain(self):
        name = self.unique_domain()
        address = f"postmaster@{name}"
        details = {"address": address, "domain": name, "wrong_code": "WRONG000"}
        self.tour("/odoo/settings#crm", "crm_mail_channel_domain_add_tour", details)

        domain = self.env["crm.mail.domain"].search([("name", "=", name)])
        self.assertEqual(len(domain), 1, "the form saved one domain, named from the address")
        self.assertEqual((domain.verification_email, domain.state), (address, "code_pending"))
        self.assertEqual(len(self.sink_messages_to(address)), 1, "one code was emailed")

        details["code"] = self.code_from_sink(address)
        url = f"/odoo/action-crm_mail_channel.crm_mail_domain_action/{domain.id}"
        self.tour(url, "crm_mail_channel_domain_verify_tour", details)
        domain.invalidate_recordset()
        self.assertEqual(domain.state, "dns_pending")
        self.assertEqual(domain.code_verified_uid, self.admin)
        self.assertIn(SPF_INCLUDE, domain.spf_record_value)
