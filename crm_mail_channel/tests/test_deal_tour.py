"""Browser tour in Chromium: open a deal, see its emails, relink one, send one."""

import json

from odoo.tests import HttpCase, tagged

from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from .common import no_browser_warnings, really_send, send_queued_mail
from .deal_common import DealCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestDealTour(HttpCase, DealCommon):
    def test_deal_tour(self):
        sink = ensure_smtp_sink()
        self.env["ir.mail_server"].search([]).write({"active": False})
        self.env["ir.mail_server"].create(
            {
                "name": "Loopback sink",
                "smtp_host": sink.host,
                "smtp_port": sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
        misfiled = self.make_email(
            self.joe, lead=self.deal_1, reason="manual", subject="Support renewal question"
        )
        self.make_email(self.joe, lead=self.deal_1, reason="manual", subject="Licence count")
        body = "Renewal terms from the tour"
        details = {
            "deal": self.deal_1.name,
            "target": self.deal_2.name,
            "subject": "Support renewal question",
            "contact": self.joe.name,
            "body": body,
        }
        code = (
            f"sessionStorage.setItem('cmc_deal_tour', {json.dumps(json.dumps(details))});"
            "odoo.startTour('crm_mail_channel_deal_tour', "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false})"
        )
        url = f"/odoo/crm/{self.deal_1.id}"
        with really_send(), no_browser_warnings(self):
            self.start_tour(url, "crm_mail_channel_deal_tour", login=self.user_a.login, code=code)
        self.assertEqual((misfiled.lead_id, misfiled.link_reason), (self.deal_2, "manual"))
        sent = (
            self.env["crm.email"]
            .sudo()
            .search([("sent_from_crm", "=", True), ("lead_id", "=", self.deal_2.id)])
        )
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent.partner_ids, self.joe)
        self.assertIn(body, sent.body_html)
        queued, received = send_queued_mail(self.env, sink, sent.message_id)
        self.assertTrue(queued)
        self.assertTrue(received)
