from odoo import api, fields, models

from crm_mail_channel_core import sharing_domains


class CrmEmailPresence(models.Model):
    """Where an email sits in one mailbox: folder, UID, flags, owner."""

    _name = "crm.email.presence"
    _inherit = ["crm.mail.write.guard"]
    _description = "Email in a Mailbox"
    _order = "id"

    email_id = fields.Many2one("crm.email", required=True, ondelete="cascade", index=True)
    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(
        "res.users",
        "Owner",
        related="mailbox_id.user_id",
        store=True,
        index=True,
    )
    folder_id = fields.Many2one("crm.mailbox.folder", ondelete="set null", index=True)
    folder_role = fields.Selection(related="folder_id.role", store=True)
    uid = fields.Integer("Server UID", index=True)
    pop_uidl = fields.Char("POP3 UIDL", index=True)
    is_seen = fields.Boolean("Read")
    seen_pending = fields.Boolean(
        help="Read state changed in CRM and not yet pushed to the server.",
    )

    _sql_constraints = [
        (
            "presence_unique",
            "unique(mailbox_id, folder_id, email_id)",
            "An email sits once in a mailbox folder.",
        ),
    ]

    # ------------------------------------------------------------------ sharing
    # Stored flags read by the record rules of crm.email. Each is recomputed by the write
    # that changes its inputs (mode, override, share switch, contacts), so the next query in
    # any worker sees the new value. is_excluded is fixed at import; an administrator's
    # "apply to synced mail" choice recomputes it (see res.config.settings).
    share_override = fields.Selection(
        [
            ("default", "As the owner's mode"),
            ("shared", "Thread shared"),
            ("private", "Thread private"),
        ],
        default="default",
        required=True,
        readonly=True,
    )
    is_excluded = fields.Boolean(
        "Excluded domain",
        compute="_compute_is_excluded",
        store=True,
        readonly=True,
        help="Every outside participant is in an excluded domain (organisation or owner).",
    )
    contact_shared = fields.Boolean(
        compute="_compute_contact_shared",
        store=True,
        readonly=True,
        help="Custom mode: the owner shares their emails with one of this email's contacts.",
    )
    is_shared = fields.Boolean(
        compute="_compute_is_shared",
        store=True,
        readonly=True,
        index=True,
    )

    @api.depends(
        "email_id.email_from",
        "email_id.email_to",
        "email_id.email_cc",
        "user_id.email_excluded_domains",
    )
    def _compute_is_excluded(self):
        org_domains = self.env["res.config.settings"]._crm_email_org_excluded_domains()
        for presence in self:
            email, owner = presence.email_id, presence.user_id
            domains = org_domains + sharing_domains.parse_domain_list(owner.email_excluded_domains)
            participants = sharing_domains.addresses_of(
                email.email_from, email.email_to, email.email_cc
            )
            own = sharing_domains.addresses_of(owner.email, presence.mailbox_id.login)
            presence.is_excluded = sharing_domains.is_excluded(participants, own, domains)

    @api.depends("email_id.partner_ids", "user_id.email_shared_partner_ids")
    def _compute_contact_shared(self):
        for presence in self:
            presence.contact_shared = bool(
                presence.email_id.partner_ids & presence.user_id.email_shared_partner_ids
            )

    @api.depends(
        "share_override",
        "is_excluded",
        "contact_shared",
        "user_id.email_sharing_mode",
        "email_id.is_colleague_mail",
    )
    def _compute_is_shared(self):
        for presence in self:
            if presence.email_id.is_colleague_mail:
                # Mail between colleagues stays with its owner, whatever else is chosen.
                presence.is_shared = False
                continue
            override = presence.share_override
            mode = presence.user_id.email_sharing_mode
            if override != "default":
                presence.is_shared = override == "shared"
            elif mode == "public":
                presence.is_shared = not presence.is_excluded
            elif mode == "custom":
                presence.is_shared = presence.contact_shared
            else:
                presence.is_shared = False

    def _sharing_reason(self):
        self.ensure_one()
        if self.email_id.is_colleague_mail:
            return self.env._("mail between colleagues is never shared")
        if self.share_override == "shared":
            return self.env._("thread shared")
        if self.share_override == "private":
            return self.env._("thread made private")
        mode = self.user_id.email_sharing_mode
        if mode == "public":
            return (
                self.env._("public mode, but every outside participant is in an excluded domain")
                if (self.is_excluded)
                else self.env._("public mode")
            )
        if mode == "custom":
            return (
                self.env._("custom mode, contact shared")
                if self.contact_shared
                else self.env._("custom mode, no shared contact")
            )
        return self.env._("private mode")

    @api.model_create_multi
    def create(self, vals_list):
        presences = super().create(vals_list)
        inherit = self.browse(
            [
                presence.id
                for presence, vals in zip(presences, vals_list, strict=False)
                if not vals.get("share_override")
            ]
        )
        inherit._inherit_thread_override()
        return presences

    def _inherit_thread_override(self):
        """New mail in a thread the owner shared or made private follows that choice."""
        # sudo: only the new presences' own owners' choices are read and copied.
        records = self.sudo()
        if not records:
            return
        keys = {p.id: p.email_id.thread_key or p.email_id.message_id for p in records}
        previous = records.search(
            [
                ("id", "not in", records.ids),
                ("user_id", "in", records.user_id.ids),
                ("share_override", "!=", "default"),
                "|",
                ("email_id.thread_key", "in", list(set(keys.values()))),
                ("email_id.message_id", "in", list(set(keys.values()))),
            ],
            order="id desc",
        )
        latest = {}
        for prev in previous:
            key = prev.email_id.thread_key or prev.email_id.message_id
            latest.setdefault((prev.user_id.id, key), prev.share_override)
        for presence in records:
            choice = latest.get((presence.user_id.id, keys[presence.id]))
            if choice:
                presence.share_override = choice

    @api.model
    def _crm_recompute_exclusions(self, users=None):
        """Re-apply the excluded domains to already-synced mail (all owners or ``users``)."""
        domain = [("user_id", "in", users.ids)] if users else []
        # sudo: recomputes stored flags after an administrator's settings change.
        presences = self.sudo().search(domain)
        # The organisation's list is not a field, so nothing marked is_excluded when it
        # changed. Queue it, then mark everything that depends on it, transitively (is_shared,
        # and the email-level sets the record rules read): queuing only the presence flags
        # left crm.email's stored sets stale, and the mail visible to the old audience.
        self.env.add_to_compute(self._fields["is_excluded"], presences)
        presences.modified(["is_excluded"])
        self.env.flush_all()
