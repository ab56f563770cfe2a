import logging

import psycopg2
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.safe_eval import datetime as safe_datetime
from odoo.tools.safe_eval import dateutil, safe_eval
from odoo.tools.safe_eval import time as safe_time

_logger = logging.getLogger(__name__)

KINDS = [
    ("deals", "Deals"),
    ("contacts", "Contacts"),
    ("not_in_crm", "Not in CRM"),
    ("colleagues", "Colleagues"),
    ("custom", "My filter"),
]
BUILTIN_KINDS = ("deals", "contacts", "not_in_crm", "colleagues")


class CrmSalesInboxColumn(models.Model):
    """One column of a user's SalesInbox: a built-in category or the user's own filter.

    Rows belong to one user (record rule: own rows only) and only ever to the user who
    created them: the owner is set at creation and never changes (not even by its owner).
    """

    _name = "crm.sales.inbox.column"
    _description = "SalesInbox Column"
    _order = "sequence, id"

    user_id = fields.Many2one(
        "res.users",
        "Owner",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
        readonly=True,
    )
    name = fields.Char("Column", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True, default="custom", readonly=True)
    domain = fields.Char(
        "Filter",
        default="[]",
        help="Which of the emails you can see this column shows (a domain on emails).",
    )
    sequence = fields.Integer("Order", default=10)
    hidden = fields.Boolean("Hidden")

    def init(self):
        # One row per built-in column and user: two tabs opening SalesInbox at once create it
        # once (the loser's insert is rolled back to its savepoint, see _crm_columns_of_user).
        self.env.cr.execute(
            SQL(
                """CREATE UNIQUE INDEX IF NOT EXISTS crm_sales_inbox_column_builtin_unique
                   ON crm_sales_inbox_column (user_id, kind) WHERE kind != 'custom'"""
            )
        )

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            owner = vals.setdefault("user_id", self.env.uid)
            if owner != self.env.uid and not self.env.su:
                raise AccessError(self.env._("You can only add columns to your own SalesInbox."))
            if vals.get("kind", "custom") != "custom" and not self.env.su:
                raise AccessError(self.env._("Built-in columns are added by SalesInbox itself."))
        columns = super().create(vals_list)
        columns._crm_check_domain()
        return columns

    def write(self, vals):
        if not self.env.su:
            if "user_id" in vals and any(c.user_id.id != vals["user_id"] for c in self):
                raise AccessError(self.env._("A SalesInbox column stays with its owner."))
            if "kind" in vals and any(c.kind != vals["kind"] for c in self):
                raise AccessError(self.env._("The kind of a SalesInbox column cannot change."))
            if "domain" in vals and self.filtered(lambda c: c.kind != "custom"):
                raise ValidationError(self.env._("Built-in columns have a fixed filter."))
        result = super().write(vals)
        if "domain" in vals:
            self._crm_check_domain()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_builtin(self):
        if not self.env.su and self.filtered(lambda c: c.kind != "custom"):
            raise ValidationError(self.env._("Hide a built-in column instead of deleting it."))

    # ------------------------------------------------------------------ domain
    @api.model
    def _crm_eval_context(self):
        today = fields.Date.context_today(self)
        return {
            "uid": self.env.uid,
            "context_today": lambda: today,
            "datetime": safe_datetime,
            "time": safe_time,
            "relativedelta": dateutil.relativedelta.relativedelta,
        }

    def _crm_domain(self):
        """The column's filter as a domain on crm.email (evaluated now, for the current user)."""
        self.ensure_one()
        value = safe_eval(self.domain or "[]", self._crm_eval_context())
        if not isinstance(value, (list, tuple)):
            raise ValidationError(self.env._("A column filter must be a list of conditions."))
        return list(value)

    def _crm_check_domain(self):
        """Refuse a filter that does not parse, or names a field the user may not read."""
        Email = self.env["crm.email"]
        for column in self.filtered(lambda c: c.kind == "custom"):
            try:
                domain = expression.normalize_domain(column._crm_domain())
                for leaf in domain:
                    if expression.is_leaf(leaf) and isinstance(leaf[0], str):
                        self._crm_check_path(Email, leaf[0])
                Email._search(domain)
            except (ValueError, SyntaxError, NameError, TypeError, KeyError, UserError) as exc:
                raise ValidationError(
                    self.env._(
                        "The filter of column %(name)s is not valid: %(error)s",
                        name=column.name,
                        error=exc,
                    )
                ) from None

    def _crm_check_path(self, model, path):
        """Fields of a filter must be readable by the user (a filter on a field restricted to
        administrators would tell whether its hidden value matches)."""
        for name in path.split("."):
            field = model._fields.get(name)
            if field is None:
                raise ValueError(self.env._("unknown field %s", name))
            if not field.is_accessible(model.env):
                raise ValueError(self.env._("field %s is not available", name))
            if field.relational:
                model = model.env[field.comodel_name]

    # ------------------------------------------------------------------ per user
    @api.model
    def _crm_builtin_defaults(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        return [
            {"kind": kind, "name": labels[kind], "sequence": 10 * (index + 1)}
            for index, kind in enumerate(BUILTIN_KINDS)
        ]

    @api.model
    def _crm_columns_of_user(self):
        """The current user's columns in display order, built-in ones created if missing."""
        columns = self.search([("user_id", "=", self.env.uid)])
        missing = [
            dict(vals, user_id=self.env.uid)
            for vals in self._crm_builtin_defaults()
            if vals["kind"] not in columns.mapped("kind")
        ]
        if missing:
            try:
                with self.env.cr.savepoint():
                    # sudo: the current user's own built-in rows (user_id above), which the
                    # user may not create themselves (create() keeps kinds to SalesInbox).
                    self.sudo().create(missing)
            except psycopg2.IntegrityError:
                # Another request of the same user created them just now.
                _logger.debug("SalesInbox columns of user %s created concurrently", self.env.uid)
            columns = self.search([("user_id", "=", self.env.uid)])
        return columns
