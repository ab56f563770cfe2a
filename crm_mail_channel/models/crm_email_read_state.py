from odoo import api, fields, models


class CrmEmail(models.Model):
    """Read state: each user's own copy, following the mail server both ways."""

    _inherit = "crm.email"

    # Read state of the current user's own copies
    is_read = fields.Boolean(
        "Read",
        compute="_compute_is_read",
        inverse="_inverse_is_read",
        search="_search_is_read",
        help="Read in your own mailbox. Changing it here changes it on the mail server too.",
    )
    my_mailbox_info = fields.Char("In my mailbox", compute="_compute_my_mailbox_info")
    in_sent = fields.Boolean(
        "Sent by me",
        compute="_compute_my_mailbox_info",
        search="_search_in_sent",
    )

    def _my_presences(self):
        # sudo: presences are filtered to the current user's own right here.
        return self.sudo().presence_ids.filtered(lambda p: p.user_id.id == self.env.uid)

    @api.depends_context("uid")
    @api.depends("presence_ids.is_seen")
    def _compute_is_read(self):
        for email in self:
            email.is_read = any(email._my_presences().mapped("is_seen"))

    def _search_is_read(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        read = (operator == "=") == bool(value)
        seen_ids = (
            self.env["crm.email.presence"]
            .sudo()  # sudo: restricted to the current user's presences by the domain.
            ._search([("user_id", "=", self.env.uid), ("is_seen", "=", True)])
            .subselect("email_id")
        )
        return [("id", "in" if read else "not in", seen_ids)]

    @api.depends_context("uid")
    @api.depends("presence_ids")
    def _compute_my_mailbox_info(self):
        for email in self:
            presences = email._my_presences()
            email.my_mailbox_info = (
                ", ".join(f"{p.mailbox_id.name} ({p.folder_id.name or 'INBOX'})" for p in presences)
                or False
            )
            email.in_sent = any(p.folder_role == "sent" for p in presences)

    def _search_in_sent(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        sent_ids = (
            self.env["crm.email.presence"]
            .sudo()  # sudo: restricted to the current user's presences by the domain.
            ._search([("user_id", "=", self.env.uid), ("folder_role", "=", "sent")])
            .subselect("email_id")
        )
        return [("id", "in" if (operator == "=") == bool(value) else "not in", sent_ids)]

    def _inverse_is_read(self):
        for email in self:
            email._set_read_state(email.is_read)

    def _set_read_state(self, seen):
        """Set the current user's read state and push \\Seen to the server right away.

        Only the current user's own copies change, whoever else can read the email. If the
        server cannot be reached the change is kept (seen_pending) and pushed at the next sync.
        """
        presences = self._my_presences().filtered(lambda p: p.is_seen != seen or p.seen_pending)
        if not presences:
            return
        presences.write({"is_seen": seen, "seen_pending": True})
        for mailbox in presences.mailbox_id:
            mine = presences.filtered(lambda p, m=mailbox: p.mailbox_id == m and p.uid)
            if mailbox.protocol != "imap" or not mine:
                (presences.filtered(lambda p, m=mailbox: p.mailbox_id == m)).seen_pending = False
                continue
            mailbox._push_seen(mine)

    def action_mark_read(self):
        self.check_access("read")
        self._set_read_state(True)

    def action_mark_unread(self):
        self.check_access("read")
        self._set_read_state(False)
