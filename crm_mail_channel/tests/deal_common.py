"""Shared setup for deal linking, relink and sending tests."""

import email
import email.policy
import os
import time
import uuid
from email.utils import make_msgid

from odoo import Command, fields

from .common import MailboxCommon, make_mail


def with_headers(raw, headers):
    """``raw`` with extra headers (e.g. In-Reply-To, References)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for name, value in headers.items():
        del msg[name]
        msg[name] = value
    return msg.as_bytes()


def new_msgid():
    return make_msgid(idstring=uuid.uuid4().hex[:8], domain="acme.example")


class DealCommon(MailboxCommon):
    """Alice and Bob (sales, own documents only), Joe's company, deals, Alice's mailbox."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Lead = cls.env["crm.lead"]
        cls.deal_1 = Lead.create(
            {
                "name": "Joe: 10 licences",
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.user_a.id,
            }
        )
        cls.deal_2 = Lead.create(
            {
                "name": "Joe: support contract",
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.user_a.id,
            }
        )
        cls.deal_ann = Lead.create(
            {
                "name": "Ann: training",
                "partner_id": cls.ann.id,
                "type": "opportunity",
                "user_id": cls.user_a.id,
            }
        )
        cls.deal_bob = Lead.create(
            {
                "name": "Joe: Bob's deal",
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.user_b.id,
            }
        )
        cls.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.link_single_open_deal", False
        )

    def make_mailbox(self, user, protocol="imap", **vals):
        mailbox, login, password = super().make_mailbox(user, protocol=protocol, **vals)
        self._wait_for_login(login, password)
        return mailbox, login, password

    def _wait_for_login(self, login, password, timeout=5.0):
        """Dovecot re-reads its passwd-file when the file's mtime (seconds) changes; two users
        added within the same second can leave the second one unknown. Bump the mtime until
        the new user can log in (test fixture only)."""
        path = self.dovecot.users_path
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.dovecot.imap_client(login, password).logout()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                stamp = os.stat(path).st_mtime + 1
                os.utime(path, (stamp, stamp))
                time.sleep(0.1)

    def set_single_open_deal(self, value):
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.link_single_open_deal", "True" if value else False
        )

    def make_email(
        self,
        partners,
        owner=None,
        lead=False,
        reason=False,
        message_id=None,
        in_reply_to=False,
        references=False,
        subject="Hello",
        date=None,
        link=True,
        mailbox=None,
    ):
        """A crm.email as the sync store creates it (sudo), owned by ``owner``'s mailbox."""
        message_id = message_id or new_msgid()
        refs = references.split() if references else []
        email = (
            self.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": message_id,
                    "fingerprint": "test",
                    "subject": subject,
                    "date": date or fields.Datetime.now(),
                    "email_from": partners[:1].email,
                    "partner_ids": [Command.set(partners.ids)],
                    "body_html": "<p>Body</p>",
                    "in_reply_to": in_reply_to,
                    "references": references,
                    "thread_key": (refs[0] if refs else None) or in_reply_to or message_id,
                    "lead_id": lead and lead.id,
                    "link_reason": reason,
                }
            )
        )
        owner = owner or self.user_a
        mailbox = mailbox or self._owner_mailbox(owner)
        folder = mailbox.folder_ids.filtered(lambda f: f.role == "inbox")[:1] or self.env[
            "crm.mailbox.folder"
        ].sudo().create({"mailbox_id": mailbox.id, "name": "INBOX", "role": "inbox"})
        self.env["crm.email.presence"].sudo().create(
            {
                "email_id": email.id,
                "mailbox_id": mailbox.id,
                "folder_id": folder.id,
                "uid": 0,
            }
        )
        if link:
            email._apply_deal_links()
        return email

    def _owner_mailbox(self, user):
        mailboxes = getattr(self, "_mailboxes", None)
        if mailboxes is None:
            mailboxes = self._mailboxes = {}
        if user.id not in mailboxes:
            mailboxes[user.id] = (
                self.env["crm.mailbox"]
                .sudo()
                .create(
                    {
                        "user_id": user.id,
                        "host": "127.0.0.1",
                        "login": f"offline-{user.login}",
                        "security": "none",
                        "port": 1,
                        "store_sent_on_server": False,
                    }
                )
            )
        return mailboxes[user.id]


__all__ = ["DealCommon", "make_mail", "new_msgid", "with_headers"]
