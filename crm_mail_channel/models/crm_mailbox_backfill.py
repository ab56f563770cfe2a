from dataclasses import replace

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools.misc import formatLang


class CrmMailbox(models.Model):
    """First sync of a big mailbox: newest first, its progress, pause and resume.

    The driver keeps two cursors per folder (``crm_mail_channel_core.sync.FolderState``): new
    mail above ``last_uid`` is imported at every sync, the window below the backfill cursor
    as far as the time budget goes. Pausing holds the backfill only.
    """

    _inherit = "crm.mailbox"

    first_sync_paused = fields.Boolean(
        "First sync paused",
        readonly=True,
        copy=False,
        help="The import of older mail waits; new mail keeps arriving.",
    )
    first_sync_running = fields.Boolean(
        "First sync running", compute="_compute_first_sync_progress"
    )
    first_sync_progress = fields.Char(
        "First sync",
        compute="_compute_first_sync_progress",
        help="Messages of the first sync window imported so far, newest first.",
    )

    @api.depends_context("lang")
    @api.depends(
        "folder_ids.backfill_below", "folder_ids.backfill_done", "folder_ids.backfill_total"
    )
    def _compute_first_sync_progress(self):
        for mailbox in self:
            folders = mailbox.folder_ids
            running = any(folder.backfill_below for folder in folders)
            mailbox.first_sync_running = running
            if not running:
                mailbox.first_sync_progress = False
                continue
            done = sum(folders.mapped("backfill_done"))
            total = max(sum(folders.mapped("backfill_total")), done)
            mailbox.first_sync_progress = self.env._(
                "%(done)s of %(total)s",
                done=formatLang(self.env, done, digits=0),
                total=formatLang(self.env, total, digits=0),
            )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any("first_sync_paused" in vals for vals in vals_list):
            raise AccessError(self.env._("Use the first sync buttons of the mailbox."))
        return super().create(vals_list)

    def write(self, vals):
        # Only the buttons below (which check who clicks) hold or release the backfill.
        if "first_sync_paused" in vals and not self.env.su:
            raise AccessError(self.env._("Use the first sync buttons of the mailbox."))
        return super().write(vals)

    def action_pause_first_sync(self):
        # The owner, or an administrator from Mailbox Health: it moves no mail.
        self._crm_check_owner(allow_admin=True)
        # sudo: first_sync_paused is written by these buttons only, after the check above.
        self.sudo().write({"first_sync_paused": True})

    def action_resume_first_sync(self):
        self._crm_check_owner(allow_admin=True)
        # sudo: first_sync_paused is written by these buttons only, after the check above.
        self.sudo().write({"first_sync_paused": False})

    def _sync_options(self, max_seconds=None):
        options = super()._sync_options(max_seconds)
        return replace(options, backfill=not self.first_sync_paused)
