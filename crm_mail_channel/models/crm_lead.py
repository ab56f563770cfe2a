from odoo import fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    # ------------------------------------------------------------------ deals and sending
    crm_email_ids = fields.One2many(
        "crm.email",
        "lead_id",
        string="Linked emails",
        readonly=True,
        help="Mail linked to this deal only; the contact shows all of its mail.",
    )
    crm_email_count = fields.Integer("Emails", compute="_compute_crm_email_count")

    def _compute_crm_email_count(self):
        # Same rules as the list the smart button opens, so the numbers agree.
        counts = dict(
            self.env["crm.email"]._read_group(
                [("lead_id", "in", self.ids)], ["lead_id"], ["__count"]
            )
        )
        for lead in self:
            lead.crm_email_count = counts.get(lead._origin, 0) if lead.id else 0

    def action_view_crm_emails(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Emails of %s", self.name),
            "res_model": "crm.email",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": [("lead_id", "=", self.id)],
            "context": {"create": False, "crm_email_of_deal": True},
            "help": self.env["crm.email"]._crm_empty_help("deal"),
        }

    def action_crm_send_email(self):
        self.ensure_one()
        return self._crm_composer_action(partners=self.partner_id)

    def _crm_composer_action(self, partners=None, subject=None, extra_context=None):
        return self.env["res.partner"]._crm_composer_action_for(
            self,
            partners,
            subject=subject,
            extra_context=extra_context,
        )

    def action_crm_pull_threads(self):
        self.ensure_one()
        self.check_access("write")
        # Created here, as the user: the dialog then lists saved emails, read as the user.
        wizard = self.env["crm.lead.pull.threads.wizard"].create({"lead_id": self.id})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Pull recent threads into this deal"),
            "res_model": "crm.lead.pull.threads.wizard",
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_lead_id": self.id},
        }

    def _message_post_after_hook(self, message, msg_values):
        result = super()._message_post_after_hook(message, msg_values)
        if len(self) == 1:
            self.env["crm.email"]._crm_record_sent_message(self, message)
        return result

    def _notify_by_email_get_base_mail_values(self, message, additional_values=None):
        values = super()._notify_by_email_get_base_mail_values(
            message, additional_values=additional_values
        )
        values = self.env["crm.email"]._crm_threading_mail_values(message, values)
        return self.env["res.partner"]._crm_outgoing_cc(values)
