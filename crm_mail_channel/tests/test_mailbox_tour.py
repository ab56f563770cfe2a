import json

from odoo.tests import HttpCase, new_test_user, tagged

from crm_mail_channel_testing.dovecot import ensure_dovecot

from .common import make_mail


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxTour(HttpCase):
    def test_mailbox_tour(self):
        dovecot = ensure_dovecot()
        login, password = dovecot.new_user("cmctour")
        new_test_user(
            self.env,
            login="cmc_tour_sales",
            password="cmc_tour_sales",
            groups="sales_team.group_sale_salesman,base.group_user",
            name="Tour Seller",
        )
        self.env["res.partner"].create({"name": "Tina Tourist", "email": "tina@tour.example"})
        dovecot.append_messages(
            login,
            password,
            "INBOX",
            [
                make_mail(
                    "Tina Tourist <tina@tour.example>",
                    login,
                    subject="Tour subject",
                    html="<p>Hello from <b>Tina</b></p>",
                ),
            ],
        )
        details = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "login": login,
            "password": password,
            "contact": "Tina Tourist",
            "subject": "Tour subject",
        }
        code = (
            f"sessionStorage.setItem('cmc_mailbox_tour', {json.dumps(json.dumps(details))});"
            "odoo.startTour('crm_mail_channel_mailbox_tour', "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false, startUrl: '/odoo'})"
        )
        self.start_tour("/odoo", "crm_mail_channel_mailbox_tour", login="cmc_tour_sales", code=code)
        mailbox = self.env["crm.mailbox"].search([("login", "=", login)])
        self.assertEqual(mailbox.state, "connected")
        self.assertEqual(mailbox.user_id.login, "cmc_tour_sales")
