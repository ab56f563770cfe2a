"""Shared set-up for the BCC dropbox tests: Odoo's own fetchmail.server reading a catch-all
mailbox in the real Dovecot, sender domains whose DKIM keys are in the real Knot."""

import contextlib
import uuid
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from unittest.mock import patch

from odoo.tests import new_test_user

from crm_mail_channel_core import dkim_sign
from crm_mail_channel_testing.knot import ensure_knot

from .common import MailboxCommon


def crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class DropboxCommon(MailboxCommon):
    """Alice and Bob at a sender domain with a published DKIM key; a catch-all mailbox."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.knot = ensure_knot()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("crm_mail_channel.dns_nameservers", cls.knot.nameserver)
        params.set_param("crm_mail_channel.dns_timeout", "2")
        cls.domain = f"h12{uuid.uuid4().hex[:10]}.example.test"
        cls.private_pem, public_b64 = dkim_sign.generate_key_pair()
        cls.knot.set_txt(
            dkim_sign.dkim_record_name("s1", cls.domain), dkim_sign.dkim_txt_value(public_b64)
        )
        cls.alias_domain = cls.env["mail.alias.domain"].create({"name": "crm-h12.example.test"})
        cls.env.company.alias_domain_id = cls.alias_domain
        groups = "sales_team.group_sale_salesman,base.group_user"
        cls.alice = new_test_user(
            cls.env,
            login="h12_alice",
            groups=groups,
            name="Alice Dropbox",
            email=f"alice@{cls.domain}",
        )
        cls.bob = new_test_user(
            cls.env, login="h12_bob", groups=groups, name="Bob Dropbox", email=f"bob@{cls.domain}"
        )
        cls.catchall_login, cls.catchall_password = cls.dovecot.new_user("h12catchall")
        cls.server = cls.env["fetchmail.server"].create(
            {
                "name": "Catch-all",
                "server_type": "imap",
                "server": "127.0.0.1",
                "port": cls.dovecot.imap_port,
                "is_ssl": False,
                "user": cls.catchall_login,
                "password": cls.catchall_password,
                "state": "done",
                # Mail no alias takes would become a lead: dropbox mail must never.
                "object_id": cls.env.ref("crm.model_crm_lead").id,
            }
        )

    # ---- helpers ---------------------------------------------------------------------------

    def dropbox_of(self, user):
        # The user opens My Mailbox, which gives them their dropbox the first time.
        self.env["crm.mailbox"].with_user(user).action_open_my_mailbox()
        return user.with_user(user).crm_dropbox_email

    def message(
        self,
        sender,
        to,
        subject="Chairs",
        body="We need 12 chairs.",
        cc=(),
        headers=None,
        message_id=None,
    ):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(timezone.utc).replace(microsecond=0))
        msg["Message-ID"] = message_id or make_msgid(domain=self.domain)
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        return crlf(msg.as_bytes())

    def sign(self, raw, domain=None, private_pem=None):
        return dkim_sign.sign_message(
            crlf(raw), "s1", domain or self.domain, private_pem or self.private_pem
        )

    def deliver(self, raw, envelope_to=None):
        """What the receiving server does: Delivered-To on top, into the catch-all mailbox."""
        if envelope_to:
            raw = f"Delivered-To: {envelope_to}\r\n".encode() + raw
        self.append(self.catchall_login, self.catchall_password, "INBOX", [raw])

    def fetch(self):
        """Odoo's own incoming mail server reads the catch-all (it commits per message)."""
        with patch.object(self.env.cr, "commit", lambda: None):
            self.server.fetch_mail()
        self.env.invalidate_all()

    def emails_with_id(self, message_id):
        return self.env["crm.email"].sudo().search([("message_id", "=", message_id)])

    def message_id_of(self, raw):
        return message_from_bytes(raw)["Message-ID"].strip()

    def notifications_of(self, user):
        return (
            self.env["mail.message"]
            .sudo()
            .search(
                [
                    ("message_type", "=", "user_notification"),
                    ("partner_ids", "in", user.partner_id.ids),
                ]
            )
        )

    @contextlib.contextmanager
    def counting_notifications(self, user):
        before = self.notifications_of(user)
        result = {}
        yield result
        result["new"] = self.notifications_of(user) - before
