"""Browser tours in Chromium: My Mailbox the first time and once connected, and the settings
an administrator reviews (with Mailbox Health). A tour fails on any browser console error
(Odoo's runner) or warning (checked here)."""

import json

from odoo.tests import HttpCase, new_test_user, tagged

from crm_mail_channel_testing.dovecot import ensure_dovecot

from .common import make_mail

SALES = "sales_team.group_sale_salesman,base.group_user"


class CleanTourMixin:
    """start_tour that also fails on console warnings (Odoo fails on errors only)."""

    def start_clean_tour(self, url, tour, login, details_key, details):
        code = (
            f"sessionStorage.setItem({json.dumps(details_key)}, "
            f"{json.dumps(json.dumps(details))});"
            f"odoo.startTour({json.dumps(tour)}, "
            "{stepDelay: 0, keepWatchBrowser: false, debug: false})"
        )
        with self.assertNoLogs(self._logger.getChild("browser"), "WARNING"):
            self.start_tour(url, tour, login=login, code=code)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxTour(CleanTourMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = ensure_dovecot()

    def seller(self, login):
        return new_test_user(
            self.env, login=login, password=login, groups=SALES, name="Tour Seller"
        )

    def test_my_mailbox_first_time(self):
        """A new sales user: provider choice, the Dovecot account, Connect, connected."""
        login, password = self.dovecot.new_user("cmctour")
        user = self.seller("cmc_tour_first")
        self.env["res.partner"].create({"name": "Tina Tourist", "email": "tina@tour.example"})
        self.dovecot.append_messages(
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
            "port": self.dovecot.imap_port,
            "login": login,
            "password": password,
            "contact": "Tina Tourist",
            "subject": "Tour subject",
        }
        self.start_clean_tour(
            "/odoo",
            "crm_mail_channel_mailbox_first_time_tour",
            user.login,
            "cmc_mailbox_tour",
            details,
        )
        mailboxes = self.env["crm.mailbox"].search([("user_id", "=", user.id)])
        self.assertEqual(len(mailboxes), 1, "opening and filling the form saved one mailbox")
        self.assertEqual((mailboxes.login, mailboxes.state), (login, "connected"))
        self.assertFalse(mailboxes.ssl_verify)

    def test_my_mailbox_connected(self):
        """A connected mailbox opened by URL: CRM menu, badge, Sync now, preferences."""
        login, password = self.dovecot.new_user("cmctour")
        user = self.seller("cmc_tour_connected")
        self.env["crm.mailbox"].with_user(user).create(
            {
                "preset": "other_imap",
                "host": "127.0.0.1",
                "port": self.dovecot.imap_port,
                "security": "none",
                "login": login,
                "password": password,
                "state": "connected",
            }
        )
        self.start_clean_tour(
            "/odoo/my-mailbox", "crm_mail_channel_mailbox_connected_tour", user.login, "cmc", {}
        )

    def test_settings_and_mailbox_health(self):
        """An administrator: the email settings, then the error of a refused password."""
        login, _password = self.dovecot.new_user("cmctour")
        user = self.seller("cmc_tour_refused")
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(user)
            .create(
                {
                    "preset": "other_imap",
                    "host": "127.0.0.1",
                    "port": self.dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": "not-the-password",
                }
            )
        )
        action = mailbox.with_user(user).action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        details = {
            "domains": "example.org, partner.test",
            "domain_count": 2,
            "login": login,
            "error": "rejected the login",
        }
        self.start_clean_tour(
            "/odoo/settings#crm",
            "crm_mail_channel_settings_tour",
            "admin",
            "cmc_settings_tour",
            details,
        )
        domains = self.env["ir.config_parameter"].get_param("crm_mail_channel.excluded_domains")
        self.assertEqual(domains, "example.org, partner.test")
