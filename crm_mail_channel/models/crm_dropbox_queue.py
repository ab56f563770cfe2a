import base64

import psycopg2
from odoo import api, fields, models
from odoo.tools import SQL, split_every

from .crm_mailbox import SYNC_BATCH_SIZE


class CrmDropboxQueue(models.Model):
    """Authenticated dropbox mail waiting to be stored.

    Odoo's incoming mail server hands over one message at a time and commits after each; a
    message is authenticated at once and queued here (in that commit, so it is never lost),
    and the queue is stored in batches like a sync batch when the server has read the whole
    catch-all (fetchmail_server_dropbox.py): a dropbox message then costs what a synced one
    does. The mail gateway, which has no "end of the batch", stores its message at once.

    No access rights: only the dropbox code reads and writes it, in superuser mode.
    """

    _name = "crm.dropbox.queue"
    _description = "BCC Dropbox Message Waiting"
    _order = "id"

    dropbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    raw = fields.Binary("Message", attachment=False, required=True)

    @api.model
    def _crm_enqueue(self, dropbox, raw):
        # One INSERT (no ORM create: this runs once per incoming message); the message was
        # authenticated for ``dropbox``'s owner just before.
        self.env.cr.execute(
            SQL(
                """INSERT INTO crm_dropbox_queue (dropbox_id, raw, create_uid, create_date,
                                                  write_uid, write_date)
                   VALUES (%s, %s, %s, now() at time zone 'UTC', %s, now() at time zone 'UTC')""",
                dropbox.id,
                psycopg2.Binary(base64.b64encode(raw)),
                self.env.uid,
                self.env.uid,
            )
        )

    @api.model
    def _crm_import_pending(self, dropboxes=None):
        """Store the waiting messages (of ``dropboxes``, or all), a batch per dropbox."""
        domain = [("dropbox_id", "in", dropboxes.ids)] if dropboxes else []
        self.env.flush_all()
        # sudo: the queue has no access rights; each batch is stored for its owner.
        waiting = self.sudo().search(domain)
        for dropbox in waiting.dropbox_id:
            mine = waiting.filtered(lambda q, d=dropbox: q.dropbox_id == d)
            for ids in split_every(SYNC_BATCH_SIZE, mine.ids):
                batch = self.sudo().browse(ids)  # sudo: same rows as above.
                dropbox._crm_dropbox_store([base64.b64decode(q.raw) for q in batch])
                batch.unlink()
