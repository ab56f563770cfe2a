"""Folders, sync cursors and server flags of one mailbox; the POP3 UIDLs already handled."""

from collections import defaultdict

from odoo.tools import SQL

from crm_mail_channel_core import sync

SEEN = "\\seen"


def _flag_text(flag):
    return (flag.decode() if isinstance(flag, bytes) else str(flag)).lower()


def is_seen(flags):
    return any(_flag_text(flag) == SEEN for flag in flags or ())


class FolderCursors:
    """Cursor and flag members of ``MailboxStore`` (see the core's ``SyncStore``)."""

    def _folder(self, role, name):
        """The crm.mailbox.folder of this role, created on first use, renamed with the server."""
        found = self.mailbox.folder_ids.filtered(lambda f: f.role == role)[:1]
        if not found:
            found = self.env["crm.mailbox.folder"].create(
                {"mailbox_id": self.mailbox.id, "name": name, "role": role}
            )
            self.mailbox.invalidate_recordset(["folder_ids"])
        elif found.name != name:
            found.name = name  # the Sent folder was renamed on the server
        return found

    @staticmethod
    def _state(folder):
        """The core's cursor of a crm.mailbox.folder."""
        return sync.FolderState(
            name=folder.name,
            role=folder.role,
            uidvalidity=int(folder.uidvalidity) or None,
            last_uid=folder.last_uid or 0,
            highest_modseq=int(folder.highest_modseq) or None,
            backfill_below=folder.backfill_below or 0,
            backfill_since=folder.backfill_since or None,
            backfill_total=folder.backfill_total or 0,
            backfill_done=folder.backfill_done or 0,
        )

    def folder_state(self, role, name):
        return self._state(self._folder(role, name))

    def _save_state(self, folder, state):
        if state is None:
            return
        folder.write(
            {
                "uidvalidity": state.uidvalidity or 0,
                "last_uid": state.last_uid or 0,
                "highest_modseq": state.highest_modseq or 0,
                "backfill_below": state.backfill_below or 0,
                "backfill_since": state.backfill_since or False,
                "backfill_total": state.backfill_total or 0,
                "backfill_done": state.backfill_done or 0,
            }
        )

    def known_uids(self, folder):
        folder = self._folder(folder.role, folder.name)
        self.cr.execute(
            SQL(
                """SELECT uid FROM crm_email_presence WHERE folder_id = %(f)s AND uid > 0
               UNION SELECT uid FROM crm_mailbox_unmatched WHERE folder_id = %(f)s
               UNION SELECT uid FROM crm_mailbox_quarantine WHERE folder_id = %(f)s""",
                f=folder.id,
            )
        )
        return {row[0] for row in self.cr.fetchall()}

    def uidvalidity_changed(self, folder, new_uidvalidity):
        """UIDs of the folder mean nothing anymore: forget them, keep the emails.

        The driver then reads the folder again; ``store_batch`` finds each email by its
        Message-ID and content and only gives its presence the new UID: nothing is duplicated.
        """
        folder = self._folder(folder.role, folder.name)
        self.env.flush_all()
        self.cr.execute(
            SQL("UPDATE crm_email_presence SET uid = 0 WHERE folder_id = %s", folder.id)
        )
        self.cr.execute(SQL("DELETE FROM crm_mailbox_unmatched WHERE folder_id = %s", folder.id))
        self.cr.execute(
            SQL(
                "DELETE FROM crm_mailbox_quarantine WHERE folder_id = %s AND state = 'pending'",
                folder.id,
            )
        )
        self.env.invalidate_all()
        folder.write(
            {
                "uidvalidity": new_uidvalidity or 0,
                "last_uid": 0,
                "highest_modseq": 0,
                "backfill_below": 0,
                "backfill_since": False,
                "backfill_total": 0,
                "backfill_done": 0,
            }
        )

    def apply_flags(self, folder, flags, new_state):
        folder = self._folder(folder.role, folder.name)
        if flags:
            uids = [int(uid) for uid in flags]
            seen = [int(uid) for uid, values in flags.items() if is_seen(values)]
            self.env.flush_all()
            # A read state changed in CRM and not yet pushed (seen_pending) wins.
            self.cr.execute(
                SQL(
                    """UPDATE crm_email_presence SET is_seen = (uid = ANY(%(seen)s))
                   WHERE folder_id = %(f)s AND uid = ANY(%(uids)s)
                     AND seen_pending IS NOT TRUE
                     AND is_seen IS DISTINCT FROM (uid = ANY(%(seen)s))""",
                    seen=seen,
                    f=folder.id,
                    uids=uids,
                )
            )
            self.env["crm.email.presence"].invalidate_model(["is_seen"])
        self._save_state(folder, new_state)

    def push_pending_flags(self, session):
        """Push read/unread changes made in CRM that could not reach the server yet."""
        Presence = self.env["crm.email.presence"]
        pending = Presence.search(
            [
                ("mailbox_id", "=", self.mailbox.id),
                ("seen_pending", "=", True),
                ("uid", ">", 0),
            ]
        )
        groups = defaultdict(lambda: Presence)
        for presence in pending:
            groups[(presence.folder_id, presence.is_seen)] |= presence
        for (folder, seen), presences in groups.items():
            session.set_seen(folder.name, presences.mapped("uid"), seen)
            presences.write({"seen_pending": False})

    # POP3: INBOX only, keyed by UIDL.

    def seen_uidls(self):
        self.cr.execute(
            SQL(
                """SELECT pop_uidl FROM crm_email_presence WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL
               UNION SELECT pop_uidl FROM crm_mailbox_unmatched WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL
               UNION SELECT pop_uidl FROM crm_mailbox_quarantine WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL""",
                m=self.mailbox.id,
            )
        )
        return {row[0] for row in self.cr.fetchall()}

    def skip_uidls(self, uidls):
        """POP3 messages older than the first sync window: remember them, import nothing."""
        folder = self._folder("inbox", "INBOX")
        self.cr.execute(
            SQL(
                """INSERT INTO crm_mailbox_unmatched
                       (mailbox_id, folder_id, pop_uidl, address, rescan)
               SELECT %s, %s, l, '-', false FROM unnest(%s::varchar[]) AS t(l)""",
                self.mailbox.id,
                folder.id,
                list(uidls),
            )
        )
