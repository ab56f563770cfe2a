import json
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError

_logger = logging.getLogger(__name__)


class MailScheduledMessage(models.Model):
    """Odoo's "Send later", made safe for mail written from CRM.

    Odoo 18 posts a scheduled message without its subject and, when more than 50 messages are
    due at once, its cron calls ``self.env('mail.ir_cron_post_scheduled_message')`` (a
    TypeError) instead of re-triggering itself. Here the subject is posted, the cron works in
    batches and re-triggers through ``env.ref``, one failing message does not stop the others,
    and the composer's template is kept for statistics (``crm_template_id``, handed to
    ``message_post`` in the ``crm_mail_template_id`` context key).
    """

    _inherit = "mail.scheduled.message"

    crm_template_id = fields.Many2one(
        "mail.template", "Template", ondelete="set null", readonly=True, index="btree_not_null"
    )

    @api.model_create_multi
    def create(self, vals_list):
        template_id = self.env.context.get("crm_scheduled_template_id")
        if template_id:
            for vals in vals_list:
                vals.setdefault("crm_template_id", template_id)
        return super().create(vals_list)

    def _post_message(self, raise_exception=True):
        """Odoo's posting, with the subject and the template; each message on its own."""
        whitelist = self._notification_parameters_whitelist()
        for scheduled in self:
            creator = scheduled.create_uid
            try:
                scheduled.with_user(creator)._check()
            except AccessError:
                if raise_exception:
                    raise
                _logger.info(
                    "Posting of scheduled message %s failed: user %s cannot post on the record",
                    scheduled.id,
                    creator.id,
                )
                continue
            try:
                with self.env.cr.savepoint():
                    scheduled._crm_post_one(creator, whitelist)
            except Exception:
                if raise_exception:
                    raise
                _logger.exception("Posting of scheduled message %s failed", scheduled.id)
        self.unlink()

    def _crm_post_one(self, creator, whitelist):
        parameters = json.loads(self.notification_parameters or "{}")
        record = self.env[self.model].browse(self.res_id).with_user(creator)
        if self.crm_template_id:
            record = record.with_context(crm_mail_template_id=self.crm_template_id.id)
        record.message_post(
            attachment_ids=list(self.attachment_ids.ids),
            author_id=self.author_id.id,
            body=self.body,
            subject=self.subject or False,
            partner_ids=list(self.partner_ids.ids),
            subtype_xmlid="mail.mt_note" if self.is_note else "mail.mt_comment",
            **{k: v for k, v in parameters.items() if k in whitelist and k != "subject"},
        )

    @api.model
    def _post_messages_cron(self, limit=50):
        """Post every due message, ``limit`` at a time (at most 20 batches a call).

        Run by the cron runner, the progress goes to the runner (which calls again while some
        remain); called otherwise, the cron is triggered through ``env.ref`` for any rest.
        """
        domain = [("scheduled_date", "<=", fields.Datetime.now())]
        done = 0
        for _batch in range(20):
            messages = self.search(domain, limit=limit)
            if not messages:
                break
            _logger.info("Posting %s scheduled messages", len(messages))
            done += len(messages)
            messages._post_message(raise_exception=False)
        remaining = self.search_count(domain)
        if self.env.context.get("ir_cron_progress_id"):
            self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        elif remaining:
            self.env.ref("mail.ir_cron_post_scheduled_message")._trigger()
        return remaining
