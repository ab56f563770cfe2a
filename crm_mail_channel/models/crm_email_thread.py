from datetime import datetime

from markupsafe import Markup
from odoo import api, fields, models

from crm_mail_channel_core.addresses import parse_address_list

# Names shown in the participants column before "+N".
PARTICIPANTS_SHOWN = 3

# Columns kept for the record rules, threading and identity. Odoo offers every stored field in
# custom group-by, sorting and export unless fields_get says otherwise; these mean nothing to
# a person (and the rule keys describe other users' sharing), so fields_get hides them there.
INTERNAL_FIELDS = frozenset(
    {
        "reader_keys",
        "contact_company_keys",
        "thread_key",
        "message_id",
        "fingerprint",
        "in_reply_to",
        "references",
        "lead_company_id",
        "lead_user_id",
        "is_colleague_mail",
        "crm_sender_user_id",
        "content_ids",
        "presence_ids",
        "partner_ancestor_ids",
        "thread_email_ids",
        "sharing_explanation",
        "sharing_thread_state",
    }
)


def _split_addresses(header):
    """``[(name, address)]`` of a From/To/Cc header; an address that is not a valid email
    (a bare mailbox login) is kept as written, lowercased, rather than dropped."""
    pairs = parse_address_list(header or "")
    if not pairs and header and header.strip():
        pairs = [("", header.strip().lower())]
    return pairs


class CrmEmail(models.Model):
    """The conversation: an email shown inside its thread, readable participants, the
    contacts' company, and the guided empty states of email lists."""

    _inherit = "crm.email"

    # Conversation
    thread_email_ids = fields.Many2many(
        "crm.email",
        "crm_email_thread_rel",
        "email_id",
        "thread_email_id",
        string="Conversation",
        compute="_compute_thread_email_ids",
        help="Every email of this conversation you may read, oldest first.",
    )
    # Unread in the viewer's own mailbox only: mail shared by a colleague is never "unread"
    # for the viewer, whatever its state in the colleague's mailbox.
    is_unread = fields.Boolean(
        "Unread",
        compute="_compute_is_unread",
        search="_search_is_unread",
        help="In your own mailbox and not read there yet.",
    )
    is_outgoing = fields.Boolean(
        "Sent by us",
        compute="_compute_participants",
        help="Sent from one of our addresses (a user's or a connected mailbox's).",
    )
    participants = fields.Char(
        compute="_compute_participants",
        help="Sender and recipients, by name where known.",
    )
    # The contacts' company, for grouping: the commercial partner of the sender when a
    # contact, else of the first contact.
    company_partner_id = fields.Many2one(
        "res.partner",
        "Company",
        compute="_compute_company_partner_id",
        store=True,
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The company of the email's contact (the contact itself when it has no company).",
    )

    # ------------------------------------------------------------------ computes
    @api.depends_context("uid")
    @api.depends("thread_key", "message_id")
    def _compute_thread_email_ids(self):
        for email in self:
            if not email.id:
                email.thread_email_ids = email
                continue
            thread = email._crm_thread()
            email.thread_email_ids = thread.sorted(lambda e: (e.date or datetime.min, e.id))

    @api.depends_context("uid")
    @api.depends("presence_ids.is_seen")
    def _compute_is_unread(self):
        for email in self:
            mine = email._my_presences()
            email.is_unread = bool(mine) and not any(mine.mapped("is_seen"))

    def _search_is_unread(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        # Presences are read as the user: their record rule keeps the user's own only.
        unread = ["&", ("is_read", "=", False), ("presence_ids.user_id", "=", self.env.uid)]
        return unread if (operator == "=") == bool(value) else ["!", *unread]

    @api.depends("partner_ids.commercial_partner_id", "partner_ids.partner_share", "email_from")
    def _compute_company_partner_id(self):
        for email in self:
            contacts = email.with_context(active_test=False).partner_ids.filtered("partner_share")
            sender = parse_address_list(email.email_from or "")
            sender = sender[0][1] if sender else None
            first = (
                contacts.filtered(lambda p, s=sender: p.email_normalized == s)[:1]
                or contacts.sorted("id")[:1]
            )
            email.company_partner_id = first.commercial_partner_id

    @api.depends_context("uid")
    @api.depends(
        "email_from", "email_to", "email_cc", "partner_ids", "sent_from_crm", "presence_ids"
    )
    def _compute_participants(self):
        parsed = {
            email.id: [
                _split_addresses(email[name]) for name in ("email_from", "email_to", "email_cc")
            ]
            for email in self
        }
        addresses = {addr for lists in parsed.values() for lst in lists for _name, addr in lst}
        ours = self._crm_our_address_names(addresses)
        you = self.env._("You")
        for email in self:
            known = {
                partner.email_normalized: partner.name
                for partner in email.partner_ids
                if partner.email_normalized
            }

            def label(name, addr, known=known):
                owner = ours.get(addr)
                if owner and owner[0] == self.env.uid:
                    return you
                return name or (owner and owner[1]) or known.get(addr) or addr

            senders, to, cc = parsed[email.id]
            recipients = [label(name, addr) for name, addr in to + cc]
            recipients = list(dict.fromkeys(recipients))
            if len(recipients) > PARTICIPANTS_SHOWN:
                extra = len(recipients) - PARTICIPANTS_SHOWN
                recipients = [*recipients[:PARTICIPANTS_SHOWN], f"+{extra}"]
            # Mail in the user's own Sent folder is theirs even when its From is unusual.
            mine_sent = email.in_sent
            if senders:
                sender = label(*senders[0])
            else:
                sender = you if mine_sent else "?"
            email.participants = f"{sender} → {', '.join(recipients)}" if recipients else sender
            email.is_outgoing = bool(
                email.sent_from_crm or mine_sent or (senders and senders[0][1] in ours)
            )

    @api.model
    def _crm_our_address_names(self, addresses):
        """``{address: (user id, user name)}`` of internal users' and mailboxes' addresses."""
        if not addresses:
            return {}
        addresses = list(addresses)
        result = {}
        # Only the names of internal users (readable by every internal user) and which of them
        # owns a mailbox address, to label the participants of mail already readable.
        Users = self.env["res.users"].sudo()  # sudo: names and addresses only (see above).
        users = Users.search_fetch(
            [("email_normalized", "in", addresses), ("share", "=", False)],
            ["name", "email_normalized"],
        )
        for user in users:
            result.setdefault(user.email_normalized, (user.id, user.name))
        # One mailbox per user, so all of them are few; logins compare case-insensitively.
        Mailboxes = self.env["crm.mailbox"].sudo()  # sudo: a login's owner, for its label only.
        mailboxes = Mailboxes.with_context(active_test=False).search_fetch(
            [("login", "!=", False), ("user_id", "!=", False)], ["login", "user_id"]
        )
        wanted = set(addresses)
        for mailbox in mailboxes:
            login = mailbox.login.strip().lower()
            if login in wanted:
                result.setdefault(login, (mailbox.user_id.id, mailbox.user_id.name))
        return result

    # ------------------------------------------------------------------ field descriptions
    @api.model
    def fields_get(self, allfields=None, attributes=None):
        # See INTERNAL_FIELDS: hidden from custom group-by, sorting and export only; the views,
        # rules and code still use them. "exportable" is set even when not asked for: Odoo
        # 18's export dialog (/web/export/get_fields) filters on it without requesting it.
        result = super().fields_get(allfields=allfields, attributes=attributes)
        for fname in INTERNAL_FIELDS & result.keys():
            result[fname]["exportable"] = False
            for attribute in ("groupable", "sortable"):
                if attributes is None or attribute in attributes:
                    result[fname][attribute] = False
        return result

    # ------------------------------------------------------------------ empty states
    @api.model
    def _crm_has_connected_mailbox(self):
        Mailbox = self.env["crm.mailbox"].sudo()  # sudo: counts the current user's own only.
        return bool(
            Mailbox.search_count(
                [("user_id", "=", self.env.uid), ("state", "!=", "draft")], limit=1
            )
        )

    @api.model
    def _crm_empty_help_texts(self, kind):
        """``(title, explanation)`` of an empty email list, by list kind."""
        shared = self.env._(
            "Colleagues' mail appears here only when they share it with you (their email "
            "sharing settings); mail they keep private is never shown to you."
        )
        texts = {
            "emails": (
                self.env._("No emails here yet"),
                self.env._(
                    "Emails you exchange with your contacts appear here once your mailbox is "
                    "connected: the inbox and Sent folder are read, and only mail with people "
                    "who are contacts in CRM is kept. Filters such as “My emails”, "
                    "“Unread” or “Needs a deal” may hide some: remove them to see all."
                ),
            ),
            "partner": (
                self.env._("No emails with this contact yet"),
                self.env._(
                    "Emails exchanged with this contact (for a company: with any of its "
                    "people) appear here once the mailbox that holds them is connected."
                ),
            ),
            "deal": (
                self.env._("No emails on this deal yet"),
                self.env._(
                    "Mail of a conversation started from this deal, or linked to it by a "
                    "reply, appears here. Link other emails with “Pull recent threads” or "
                    "from the email itself."
                ),
            ),
        }
        title, text = texts.get(kind, texts["emails"])
        return title, text, shared

    @api.model
    def _crm_empty_help(self, kind="emails", help_message=None):
        """HTML help of an empty email list for the current user.

        Odoo's action help is static; a user without a connected mailbox gets a call to
        connect it instead, since nothing of theirs can appear before that.
        """
        title, text, shared = self._crm_empty_help_texts(kind)
        if self._crm_has_connected_mailbox():
            if help_message:
                return help_message
            return Markup('<p class="o_view_nocontent_smiling_face">%s</p><p>%s</p><p>%s</p>') % (
                title,
                text,
                shared,
            )
        paragraphs = [
            self.env._(
                "Your emails with customers appear here, and on their contacts, companies and "
                "deals, once your mailbox is connected. Who else sees them follows your email "
                "sharing settings."
            ),
            shared,
        ]
        if kind == "emails":
            paragraphs.append(
                self.env._(
                    "Mail colleagues share with you is listed once the “My emails” filter "
                    "is removed."
                )
            )
        connect = self.env._("Connect your mailbox")
        return (
            Markup('<p class="o_view_nocontent_smiling_face">%s</p>') % connect
            + Markup().join(Markup("<p>%s</p>") % text for text in paragraphs)
            + Markup(
                '<p><a class="btn btn-primary o_crm_email_connect_mailbox" '
                'href="/odoo/action-crm_mail_channel.crm_mailbox_action_my">%s</a></p>'
            )
            % connect
        )

    @api.model
    def get_empty_list_help(self, help_message):
        # Called by Odoo for every window action read; the action's context names the list.
        kind = self.env.context.get("crm_email_list") or "emails"
        return super().get_empty_list_help(self._crm_empty_help(kind, help_message))

    @api.model
    def crm_email_empty_help(self, kind):
        """The empty-state help of an email page on a form (contact, company, deal)."""
        return self._crm_empty_help(kind if kind in ("partner", "deal") else "emails")
