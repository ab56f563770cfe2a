"""Mail fetched again by UID: messages whose address became a contact, quarantine retries.

Fetching, parsing and storing go through the core's ``sync.import_uids``, the path of the
sync itself; only which UIDs to fetch is decided here.
"""

from collections import defaultdict

from odoo.tools import SQL

from crm_mail_channel_core import sync

RESCAN_BATCH = 200  # UIDs fetched and stored together


class Rescans:
    """Rescan members of ``MailboxStore``."""

    def import_uids(self, session, folder, uids, options=None):
        """Fetch these UIDs of a crm.mailbox.folder again and import them.

        Returns the UIDs the server no longer has.
        """
        options = options or sync.SyncOptions()
        return sync.import_uids(session, self, self._state(folder), uids, options)

    def rescan(self, session, options=None):
        """Fetch and import messages whose address now belongs to a contact."""
        self.env.flush_all()
        self.cr.execute(
            SQL(
                """SELECT DISTINCT folder_id, uid FROM crm_mailbox_unmatched
               WHERE mailbox_id = %s AND rescan AND folder_id IS NOT NULL AND uid > 0""",
                self.mailbox.id,
            )
        )
        by_folder = defaultdict(list)
        for folder_id, uid in self.cr.fetchall():
            by_folder[folder_id].append(uid)
        for folder_id, uids in by_folder.items():
            folder = self.env["crm.mailbox.folder"].browse(folder_id)
            for start in range(0, len(uids), RESCAN_BATCH):
                chunk = uids[start : start + RESCAN_BATCH]
                missing = self.import_uids(session, folder, chunk, options)
                if missing:
                    self.cr.execute(
                        SQL(
                            "DELETE FROM crm_mailbox_unmatched"
                            " WHERE folder_id = %s AND uid = ANY(%s)",
                            folder_id,
                            list(missing),
                        )
                    )
