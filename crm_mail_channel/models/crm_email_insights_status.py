import contextvars

from odoo import api, fields, models

from .crm_email_tracking import STATE_RANK, TRACKING_STATES

# The mail template the composer used, for the email its post records. A variable of this
# thread set by the composer itself, not a key of the Odoo context RPC callers fill.
SENDING_TEMPLATE = contextvars.ContextVar("crm_mail_channel_sending_template", default=None)


class CrmEmail(models.Model):
    """Email Insights status of the whole email, and the template it was written from.

    ``insights_state_stored`` aggregates the recipients' tracking rows (the highest state
    reached; Bounced wins: any recipient's bounce shows), stored for filters. It is
    read only through ``insights_state``, which shows it to those who may read the tracking
    rows (the body's readers) and filters through them, so a reader of the subject alone
    learns nothing of opens, replies or bounces.
    """

    _inherit = "crm.email"

    # Kept up to date by crm.email.tracking's create/write (crm_email_tracking_status.py), not
    # a computed field: adding it to a large database then costs no recomputation.
    insights_state_stored = fields.Selection(
        TRACKING_STATES,
        "Insights status (all recipients)",
        readonly=True,
        index=True,
        copy=False,
        groups="base.group_system",
    )
    insights_state = fields.Selection(
        TRACKING_STATES,
        "Status",
        compute="_compute_insights_state",
        search="_search_insights_state",
        help="Email Insights: Sent, Delivered (accepted by the server), Opened, Clicked, "
        "Replied, or Bounced (for any recipient).",
    )
    crm_template_id = fields.Many2one(
        "mail.template",
        "Template",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The mail template this email was written from in CRM (template statistics).",
    )

    def _crm_update_insights_state(self):
        """Aggregate the recipients' states: the highest reached, Bounced for any bounce."""
        emails = self.exists()
        if not emails:
            return
        # sudo: the aggregate counts every recipient; it is shown through the rules only.
        Tracking = self.env["crm.email.tracking"].sudo()
        groups = Tracking._read_group([("email_id", "in", emails.ids)], ["email_id", "state"])
        states = {}
        for email, state in groups:
            states.setdefault(email.id, set()).add(state)
        by_value = {}
        for email in emails:
            found = states.get(email.id)
            if not found:
                value = False
            elif "bounced" in found:
                value = "bounced"
            else:
                value = max(found, key=lambda s: STATE_RANK.get(s, 0))
            by_value.setdefault(value, []).append(email.id)
        for value, ids in by_value.items():
            # sudo: the aggregate written by the tracking code (see the class docstring).
            rows = self.sudo().browse(ids)
            changed = rows.filtered(lambda e, v=value: e.insights_state_stored != v)
            changed.write({"insights_state_stored": value})

    @api.depends_context("uid")
    @api.depends("insights_state_stored")
    def _compute_insights_state(self):
        real = self._origin.filtered("id")
        # Read as the current user: the tracking rules (the body's) decide.
        readable = set(
            self.env["crm.email.tracking"].search([("email_id", "in", real.ids)]).email_id.ids
        )
        for email in self:
            # sudo: the stored aggregate, shown only to readers of the tracking rows.
            stored = email._origin.sudo().insights_state_stored if email._origin.id else False
            email.insights_state = stored if email._origin.id in readable else False

    def _search_insights_state(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise NotImplementedError(operator)
        # sudo: the stored aggregate only; the readable tracking condition below filters.
        stored = self.sudo()._search([("insights_state_stored", operator, value)])
        # Any readable tracking row: the user may read this email's insights.
        return [("id", "in", stored), ("tracking_ids", "any", [])]

    @api.model
    def _crm_record_sent_message(self, record, message):
        email = super()._crm_record_sent_message(record, message)
        # The composer's template; a scheduled message ("Send later", mail_scheduled_message.py)
        # hands its own in the context when its cron posts it. A caller setting that key can
        # only attribute their own email to a template: statistics, no access.
        template_id = SENDING_TEMPLATE.get() or self.env.context.get("crm_mail_template_id")
        if email and isinstance(template_id, int) and template_id:
            # sudo: the row just recorded for the current user's own post, and the template
            # checked to exist (templates may be hidden from the poster by their rules).
            template = self.env["mail.template"].sudo().browse(template_id).exists()
            if template:
                # sudo: same row as above, written by the sending code (write guard).
                email.sudo().crm_template_id = template
        return email
