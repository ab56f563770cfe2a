from odoo import api, fields, models

from .orm_seams import check_access_in_sql

PARTS = [("subject", "Subject"), ("body", "Body and attachments")]
LEVEL_PARTS = {"full": ("subject", "body"), "subject": ("subject",), "metadata": ()}
LEVEL_PARAM = "crm_mail_channel.email_visibility_level"


class CrmEmailContent(models.Model):
    """The confidential parts of a synced email, split off so record rules guard them.

    ``crm.email`` holds what every reader of an email may see (participants, date, links).
    Its subject and its body (with preview and attachments) live here, one row per part, and
    the record rules of this model add the organisation's visibility level to the rules of
    ``crm.email``: non-owners read the subject row at level "subject" or "full" and the body
    row at level "full" only. Attachments of synced mail belong to the body row, so
    ``ir.attachment`` and ``/web/content`` inherit the same decision.
    Users have read access only; the sync code writes with sudo.
    """

    _name = "crm.email.content"
    _inherit = ["crm.mail.write.guard"]
    _description = "CRM Email Content"
    _order = "email_id, part"
    _rec_name = "part"

    # auto_join: rule conditions on the email become a join, evaluated per row.
    email_id = fields.Many2one(
        "crm.email",
        required=True,
        ondelete="cascade",
        index=True,
        auto_join=True,
    )
    part = fields.Selection(PARTS, required=True)
    subject = fields.Char()
    body_html = fields.Html("Body", sanitize=True, sanitize_style=True)
    preview = fields.Char()
    has_attachments = fields.Boolean()
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        domain=[("res_model", "=", "crm.email.content")],
        string="Attachments",
    )
    audience_may_read = fields.Boolean(
        compute="_compute_audience_may_read",
        search="_search_audience_may_read",
        help="Whether the organisation's visibility level lets non-owners read this part. "
        "Used by the record rules; resolved when each query is built, never cached per user.",
    )

    _sql_constraints = [
        ("part_unique", "unique(email_id, part)", "One row per email and part."),
    ]

    def _check_access(self, operation):
        # Same rules, evaluated in SQL rather than in Python (see crm.email._check_access).
        return check_access_in_sql(self, operation, super()._check_access)

    @api.model
    def _audience_parts(self):
        # sudo: one configuration value, the same for everyone.
        level = self.env["ir.config_parameter"].sudo().get_param(LEVEL_PARAM) or "full"
        return LEVEL_PARTS.get(level, ())

    def _compute_audience_may_read(self):
        parts = self._audience_parts()
        for content in self:
            content.audience_may_read = content.part in parts

    def _search_audience_may_read(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        parts = list(self._audience_parts())
        positive = (operator == "=") == bool(value)
        if positive:
            return [("part", "in", parts)] if parts else [(0, "=", 1)]
        return [("part", "not in", parts)] if parts else []

    @api.model
    def _crm_body_rows(self, email_ids):
        """``{email id: body row id}``, creating missing body rows."""
        rows = self.search([("email_id", "in", list(email_ids)), ("part", "=", "body")])
        found = {row.email_id.id: row.id for row in rows}
        missing = [eid for eid in email_ids if eid not in found]
        if missing:
            for row in self.create([{"email_id": eid, "part": "body"} for eid in missing]):
                found[row.email_id.id] = row.id
        return found
