"""Shared setup: crm_mail_channel's real Dovecot and users, and the sync jobs' records."""

from odoo.addons.crm_mail_channel.tests.common import MailboxCommon

SYNC_KEY = "crm_mailbox_sync:%s"


class QueueJobCommon(MailboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Mailbox = cls.env["crm.mailbox"]
        cls.Job = cls.env["queue.job"]

    def jobs_of(self, mailboxes, states=("pending", "enqueued", "started")):
        """The sync jobs stored for ``mailboxes`` (real queue.job records)."""
        keys = [SYNC_KEY % mailbox.id for mailbox in mailboxes]
        return self.Job.search([("identity_key", "in", keys), ("state", "in", list(states))])

    def make_due(self, *mailboxes):
        for mailbox in mailboxes:
            mailbox.sudo().write({"last_sync_date": False})  # sudo: test fixture
