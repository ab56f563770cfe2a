from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

SHARING_MODES = [
    ("private", "Private"),
    ("public", "Public"),
    ("custom", "Custom (chosen contacts)"),
]
SHARING_FIELDS = [
    "email_sharing_mode",
    "email_audience_user_ids",
    "email_audience_group_ids",
    "email_excluded_domains",
]


class ResUsers(models.Model):
    _inherit = "res.users"

    crm_mailbox_ids = fields.One2many("crm.mailbox", "user_id", string="Mailboxes")

    # ------------------------------------------------------------------ sharing
    # Record rules on crm.email only use ``user.id``; everything below is joined in SQL at
    # query time (audience, groups, superiors) or folded into stored presence flags by the
    # write that changes it (mode, excluded domains, shared contacts). No rule goes stale.
    email_sharing_mode = fields.Selection(
        SHARING_MODES,
        "Email sharing",
        default="private",
        required=True,
        help="Private: your synced mail is yours alone. Public: colleagues who can open the "
        "contact or deal see it (except mail with excluded domains only). Custom: shared "
        "only for the contacts you choose.",
    )
    email_sharing_mode_admin = fields.Selection(
        [("user", "User's choice"), *SHARING_MODES],
        "Sharing set by administrator",
        default="user",
        required=True,
        help="An administrator's choice overrides the user's own.",
    )
    email_sharing_mode_locked = fields.Boolean(compute="_compute_email_sharing_mode_locked")
    email_audience_user_ids = fields.Many2many(
        "res.users",
        "res_users_email_audience_user_rel",
        "user_id",
        "audience_user_id",
        string="Share emails with users",
        help="Leave both audiences empty to share with everyone who can open the record.",
    )
    email_audience_group_ids = fields.Many2many(
        "res.groups",
        "res_users_email_audience_group_rel",
        "user_id",
        "group_id",
        string="Share emails with groups",
    )
    email_audience_everyone = fields.Boolean(
        compute="_compute_email_audience_everyone",
        store=True,
        help="No audience chosen: shared mail goes to everyone who can open the record.",
    )
    email_manager_id = fields.Many2one(
        "res.users",
        "Email manager",
        index=True,
        ondelete="set null",
        help="Sees this user's shared mail, like a sales team leader does.",
    )
    email_superior_ids = fields.Many2many(
        "res.users",
        "res_users_email_superior_rel",
        "user_id",
        "superior_id",
        string="Email superiors",
        readonly=True,
        copy=False,
        help="Email managers and sales team leaders above this user, at any depth. "
        "Maintained by the writes that change the hierarchy.",
    )
    email_excluded_domains = fields.Char(
        "My excluded domains",
        help="Mail whose outside participants are all in these domains stays private "
        "(in public mode). Separate domains with commas.",
    )
    email_shared_partner_ids = fields.Many2many(
        "res.partner",
        "res_users_email_shared_partner_rel",
        "user_id",
        "partner_id",
        string="Contacts I share emails with",
        help="Custom mode: your emails with these contacts are shared.",
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return (
            super().SELF_READABLE_FIELDS
            + SHARING_FIELDS
            + [
                "email_sharing_mode_admin",
                "email_sharing_mode_locked",
                "email_manager_id",
                "email_superior_ids",
                "email_shared_partner_ids",
                "email_audience_everyone",
            ]
        )

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + SHARING_FIELDS + ["email_shared_partner_ids"]

    @api.depends("email_sharing_mode_admin")
    def _compute_email_sharing_mode_locked(self):
        for user in self:
            user.email_sharing_mode_locked = user.email_sharing_mode_admin != "user"

    @api.depends("email_audience_user_ids", "email_audience_group_ids")
    def _compute_email_audience_everyone(self):
        for user in self:
            user.email_audience_everyone = not (
                user.email_audience_user_ids or user.email_audience_group_ids
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            admin_mode = vals.get("email_sharing_mode_admin")
            if admin_mode and admin_mode != "user":
                vals["email_sharing_mode"] = admin_mode
        users = super().create(vals_list)
        if any("email_manager_id" in vals for vals in vals_list):
            self._crm_recompute_email_superiors()
        users._crm_colleague_addresses_changed()
        return users

    def write(self, vals):
        admin_mode = vals.get("email_sharing_mode_admin")
        if admin_mode and admin_mode != "user":
            vals = dict(vals, email_sharing_mode=admin_mode)
        elif "email_sharing_mode" in vals and not self.env.su and not self.env.user._is_admin():
            locked = self.filtered(lambda u: u.email_sharing_mode_admin != "user")
            if locked and vals["email_sharing_mode"] not in locked.mapped("email_sharing_mode"):
                raise UserError(
                    self.env._(
                        "Your email sharing is set by your administrator; ask them to change it."
                    )
                )
        res = super().write(vals)
        if "email_manager_id" in vals or "active" in vals:
            self._crm_recompute_email_superiors()
        if {"share", "active", "groups_id", "email", "login"} & set(vals):
            self._crm_colleague_addresses_changed()
        return res

    def _crm_colleague_addresses_changed(self):
        """Mail naming these users is re-evaluated as colleague mail (or no longer)."""
        addresses = [email for email in self.mapped("email") if email]
        if addresses:
            self.env["crm.email"]._crm_recompute_colleague_mail(addresses=addresses)

    @api.model
    def _crm_recompute_email_superiors(self):
        """Rebuild every user's email superiors (transitive, cycle-safe) in one statement.

        Edges: user -> email manager, team member -> team leader (active teams and
        memberships). Called synchronously by every write that changes one of them.
        """
        for model in ("res.users", "crm.team", "crm.team.member"):
            self.env[model].flush_model()
        self.env.cr.execute(
            SQL("""
            WITH RECURSIVE edges(sub, sup) AS (
                SELECT u.id, u.email_manager_id FROM res_users u
                 WHERE u.email_manager_id IS NOT NULL AND u.email_manager_id != u.id
                UNION
                SELECT m.user_id, t.user_id FROM crm_team_member m
                  JOIN crm_team t ON t.id = m.crm_team_id
                 WHERE m.active AND t.active AND t.user_id IS NOT NULL
                   AND t.user_id != m.user_id
            ), closure(sub, sup) AS (
                SELECT sub, sup FROM edges
                UNION
                SELECT c.sub, e.sup FROM closure c JOIN edges e ON e.sub = c.sup
            ), wanted AS (
                SELECT DISTINCT sub, sup FROM closure WHERE sub != sup
            ), dropped AS (
                DELETE FROM res_users_email_superior_rel r
                 WHERE NOT EXISTS (SELECT 1 FROM wanted w
                                    WHERE w.sub = r.user_id AND w.sup = r.superior_id)
                RETURNING r.user_id
            ), added AS (
                INSERT INTO res_users_email_superior_rel (user_id, superior_id)
                SELECT w.sub, w.sup FROM wanted w
                 WHERE NOT EXISTS (SELECT 1 FROM res_users_email_superior_rel r
                                    WHERE r.user_id = w.sub AND r.superior_id = w.sup)
                RETURNING user_id
            )
            SELECT (SELECT count(*) FROM dropped) + (SELECT count(*) FROM added)
        """)
        )
        self.env["res.users"].invalidate_model(["email_superior_ids"])
