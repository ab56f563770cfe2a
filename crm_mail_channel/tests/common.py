"""Shared setup for mailbox sync tests: a real Dovecot on loopback, sales users, contacts."""

import contextlib
import logging
import time
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from unittest.mock import patch

from odoo.modules import module as odoo_module
from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase

from crm_mail_channel_testing.dovecot import ensure_dovecot


def make_mail(
    sender,
    to,
    subject="Hello",
    body="Hi there",
    cc=(),
    message_id=True,
    date=None,
    attachments=(),
    html=None,
    headers=None,
):
    """Raw RFC 5322 bytes of a simple message (test fixture)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    if message_id:
        msg["Message-ID"] = (
            message_id
            if isinstance(message_id, str)
            else make_msgid(idstring=uuid.uuid4().hex[:8], domain="test.example")
        )
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


class MailboxCommon(TransactionCase):
    """Base class: Dovecot users, two sales users, a company with two contacts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dovecot = ensure_dovecot()
        groups = "sales_team.group_sale_salesman,base.group_user"
        cls.user_a = new_test_user(
            cls.env,
            login="cmc_sync_a",
            groups=groups,
            name="Alice Seller",
            email="alice@ourco.example",
        )
        cls.user_b = new_test_user(
            cls.env, login="cmc_sync_b", groups=groups, name="Bob Seller", email="bob@ourco.example"
        )
        Partner = cls.env["res.partner"]
        cls.company = Partner.create(
            {"name": "Acme Corp", "is_company": True, "email": "info@acme.example"}
        )
        cls.joe = Partner.create(
            {"name": "Joe Customer", "email": "Joe@Acme.example", "parent_id": cls.company.id}
        )
        cls.ann = Partner.create(
            {"name": "Ann Customer", "email": "ann@acme.example", "parent_id": cls.company.id}
        )

    @contextlib.contextmanager
    def committed_mailbox_locked(self, lock="FOR UPDATE"):
        """A mailbox committed in the database, its row locked by another transaction (a cron
        worker syncing it); yields (mailbox id, Dovecot login, password, a second cursor).
        Everything is removed afterwards."""
        login, pw = self.dovecot.new_user("cmclock")
        with self.registry.cursor() as locker_cr, self.registry.cursor() as other_cr:
            locker_env = self.env(cr=locker_cr)
            locked = locker_env["crm.mailbox"].create(
                {
                    "user_id": locker_env.ref("base.user_admin").id,
                    "host": "127.0.0.1",
                    "port": self.dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": pw,
                    "state": "connected",
                }
            )
            locker_cr.commit()
            try:
                locker_cr.execute(f"SELECT id FROM crm_mailbox WHERE id = %s {lock}", [locked.id])
                yield locked.id, login, pw, other_cr
                other_cr.rollback()
            finally:
                locker_cr.rollback()
                locker_env["crm.mail.secret"].search(
                    [("res_model", "=", "crm.mailbox"), ("res_id", "=", locked.id)]
                ).unlink()
                locker_env["crm.mailbox"].browse(locked.id).unlink()
                locker_cr.commit()

    def make_mailbox(self, user, protocol="imap", **vals):
        """A Dovecot user and a crm.mailbox for ``user`` (created as that user)."""
        login, password = self.dovecot.new_user("cmc")
        port = self.dovecot.imap_port if protocol == "imap" else self.dovecot.pop3_port
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(user)
            .create(
                {
                    "protocol": protocol,
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "login": login,
                    "password": password,
                    "state": "connected",
                    **vals,
                }
            )
        )
        return mailbox, login, password

    def append(self, login, password, folder, raws, flags=()):
        self.dovecot.append_messages(login, password, folder, list(raws), flags=flags)

    def imap(self, login, password):
        return self.dovecot.imap_client(login, password)

    def emails_of(self, user, partner):
        return self.env["crm.email"].with_user(user).search(partner._crm_email_domain())


@contextlib.contextmanager
def no_browser_warnings(case):
    """Fail a tour on any browser console warning, not only on errors: Odoo's HttpCase logs
    console warnings under the test module's logger and lets the tour pass."""
    with case.assertNoLogs(logging.getLogger(type(case).__module__), "WARNING"):
        yield


def really_send():
    """Odoo skips SMTP in test mode (ir.mail_server.connect/send_email check
    ``modules.module.current_test``); lift that guard so mail reaches the loopback sink."""
    return patch.object(odoo_module, "current_test", None)


def send_queued_mail(env, sink, message_id, timeout=5.0):
    """Send the mail queued for ``message_id`` as Odoo's mail cron does; what the sink got of it.

    A browser request queues its mail for after its commit, which test cursors never do.
    """
    queued = env["mail.mail"].sudo().search([("mail_message_id.message_id", "=", message_id)])
    if queued:
        with really_send():
            queued.send()
    needle = message_id.encode()
    deadline = time.monotonic() + timeout
    received = []
    while time.monotonic() < deadline and not received:
        received = [m for m in sink.messages if needle in m["raw"]]
        time.sleep(0.05)
    return queued, received
