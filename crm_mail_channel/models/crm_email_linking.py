from odoo import api, fields, models

from crm_mail_channel_core import linking

LINK_REASONS = [
    ("thread", "Same thread"),
    ("sent_from_deal", "Sent from the deal"),
    ("single_open_deal", "Only open deal"),
    ("manual", "Set by a user"),
]


class CrmEmail(models.Model):
    """Deal linking: which deal an email belongs to, and why."""

    _inherit = "crm.email"

    # Deal link
    lead_id = fields.Many2one("crm.lead", "Deal", index=True, ondelete="set null", readonly=True)
    link_reason = fields.Selection(LINK_REASONS, "Linked because", readonly=True)
    needs_deal = fields.Boolean(
        "Needs a deal",
        readonly=True,
        index=True,
        help="Its contacts have several open deals: a person chooses which one it belongs to.",
    )
    # The deal's company and salesperson, read by the record rules (see crm_email_sharing.py)
    lead_company_id = fields.Many2one(
        "res.company",
        "Deal company",
        related="lead_id.company_id",
        store=True,
        readonly=True,
    )
    lead_user_id = fields.Many2one(
        "res.users",
        "Deal salesperson",
        related="lead_id.user_id",
        store=True,
        readonly=True,
    )

    def _crm_open_deals_by_partner(self, partners):
        """Open deals (active opportunities not won) of the given contacts, by contact id."""
        result = {}
        if not partners:
            return result
        leads = (
            self.env["crm.lead"]
            # sudo: the organisation's "only open deal" rule looks at every deal of the
            # contact; the email stays readable only as its own rules say.
            .sudo()
            .with_context(active_test=True)
            .search_fetch(
                [
                    ("partner_id", "in", partners.ids),
                    ("type", "=", "opportunity"),
                    ("stage_id.is_won", "=", False),
                ],
                ["partner_id"],
            )
        )
        for lead in leads:
            result.setdefault(lead.partner_id.id, set()).add(lead.id)
        return result

    def _crm_thread_links(self, parents):
        """``{Message-ID: deal id}`` of the parents the importing user may follow.

        The importing user is the owner of the mailbox being synced or the user sending from
        CRM (``self.env.uid``). A References header is written by the sender, so a parent
        counts only when that user may read it, and its deal only when they may open it: a
        forged header pulls nothing onto a deal its sender cannot see.
        """
        links = {}
        if not parents:
            return links
        as_user = self.env(su=False)
        parents_found = self.with_env(as_user).search_fetch(
            [("message_id", "in", list(parents)), ("lead_id", "!=", False)],
            ["message_id", "lead_id"],
            order="date, id",
        )
        openable = parents_found.lead_id._filtered_access("read")
        for parent in parents_found:
            if parent.lead_id in openable:
                links.setdefault(parent.message_id, parent.lead_id.id)
        return links

    def _apply_deal_links(self):
        """Link freshly imported emails to a deal where the link is certain (superuser mode).

        Called by the sync store after each batch of new emails and after recording mail sent
        from CRM. Emails already linked, or whose link a user set, are left alone.
        """
        # sudo: links are decisions of the sync itself; thread parents are followed only as
        # far as the importing user may see them (_crm_thread_links).
        emails = self.sudo().filtered(lambda e: not e.lead_id and e.link_reason != "manual")
        if not emails:
            return
        emails = emails.sorted(lambda e: (e.date or fields.Datetime.now(), e.id))
        parents = {
            ref
            for email in emails
            for ref in linking.ancestors(email.in_reply_to, email.references)
        }
        thread_links = self._crm_thread_links(parents)
        single_open_deal = self._crm_link_single_open_deal()
        open_deals = self._crm_open_deals_by_partner(emails.partner_ids)
        groups = {}
        for email in emails:
            open_ids = set()
            for partner in email.partner_ids:
                open_ids |= open_deals.get(partner.id, set())
            decision = linking.decide_deal(
                message_id=email.message_id,
                in_reply_to=email.in_reply_to,
                references=email.references,
                thread_links=thread_links,
                open_lead_ids=open_ids,
                single_open_deal=single_open_deal,
            )
            if decision.lead_id:
                # A later email of the same batch may answer this one.
                thread_links[email.message_id] = decision.lead_id
            key = (decision.lead_id or False, decision.reason or False, decision.needs_deal)
            groups.setdefault(key, []).append(email.id)
            if not email.thread_key:
                email.thread_key = linking.thread_key(
                    email.message_id, email.in_reply_to, email.references
                )
        for (lead_id, reason, needs_deal), ids in groups.items():
            vals = {"lead_id": lead_id, "link_reason": reason, "needs_deal": needs_deal}
            batch = emails.browse(ids).filtered(
                lambda e, v=vals: (
                    (e.lead_id.id or False, e.link_reason, e.needs_deal)
                    != (v["lead_id"], v["link_reason"], v["needs_deal"])
                )
            )
            if batch:
                batch.write(vals)

    def _crm_relink_descendants(self, mailbox):
        """Answers stored before the mail they answer follow it, as an oldest-first sync gives.

        A first sync runs newest first while new mail keeps arriving, so a reply can be stored
        before its parent. ``self`` are emails just stored in ``mailbox``: the mailbox's emails
        answering the linked ones are decided again with the whole thread known, nearest
        linked ancestor first (and in turn their own answers). Only a thread link is taken
        from that: the other decisions depend on the contacts' deals when the email was
        stored, and stay. Links set by a user or sent from a deal are left alone.
        """
        # sudo: links are decisions of the sync itself; parents are followed as the mailbox
        # owner (self.env.uid) may see them (_crm_thread_links), in that owner's mailbox only.
        Email = self.sudo()
        done = set(self.ids)
        linked = Email.browse(self.ids).filtered("lead_id")
        while linked:
            answered = set(linked.mapped("message_id"))
            keys = answered | {key for key in linked.mapped("thread_key") if key}
            candidates = Email.search(
                [
                    ("thread_key", "in", list(keys)),
                    ("presence_ids.mailbox_id", "=", mailbox.id),
                    ("id", "not in", list(done)),
                ]
            ).filtered(
                lambda e, answered=answered: (
                    e.link_reason not in ("manual", "sent_from_deal")
                    and answered & set(linking.ancestors(e.in_reply_to, e.references))
                )
            )
            done.update(candidates.ids)
            candidates = candidates.sorted(lambda e: (e.date or fields.Datetime.now(), e.id))
            parents = {
                ref for e in candidates for ref in linking.ancestors(e.in_reply_to, e.references)
            }
            thread_links = self._crm_thread_links(parents)
            linked = Email.browse()
            for email in candidates:
                decision = linking.decide_deal(
                    message_id=email.message_id,
                    in_reply_to=email.in_reply_to,
                    references=email.references,
                    thread_links=thread_links,
                )
                if decision.reason != linking.REASON_THREAD:
                    continue
                thread_links[email.message_id] = decision.lead_id
                if (email.lead_id.id, email.link_reason) != (decision.lead_id, "thread"):
                    email.write(
                        {"lead_id": decision.lead_id, "link_reason": "thread", "needs_deal": False}
                    )
                    linked |= email

    @api.model
    def _crm_link_single_open_deal(self):
        return bool(
            self.env["ir.config_parameter"]
            .sudo()  # sudo: reading one configuration flag.
            .get_param("crm_mail_channel.link_single_open_deal")
        )

    def _crm_email_thread_domain(self):
        self.ensure_one()
        key = self.thread_key or self.message_id
        return ["|", ("thread_key", "=", key), ("message_id", "=", key)]

    def _crm_thread(self):
        """Every email of this email's thread that the current user may read."""
        self.ensure_one()
        return self.search(self._crm_email_thread_domain()) | self

    def _crm_set_deal(self, lead):
        """Link these emails to ``lead`` (or unlink them), as a person decided.

        Callers check first: read access to every email, write access to the deals.
        """
        # sudo: the guarded fields are written after the caller's checks (see docstring).
        self.sudo().write(
            {
                "lead_id": lead.id or False,
                "link_reason": "manual",
                "needs_deal": False,
            }
        )

    def action_open_relink_wizard(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Deal of this email"),
            "res_model": "crm.email.relink.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_email_id": self.id},
        }
