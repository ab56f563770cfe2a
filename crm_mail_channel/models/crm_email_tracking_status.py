from odoo import api, fields, models, tools

from crm_mail_channel_core import bounces

from .crm_email_tracking import STATE_RANK


class CrmEmailTracking(models.Model):
    """Email Insights status: Sent, Delivered, Opened, Clicked, Replied, Bounced.

    The highest state reached counts, and Bounced wins over everything. Delivered comes from
    the SMTP server accepting the recipient's copy (``mail.mail._postprocess_sent_message``);
    Replied from synced mail answering the sent Message-ID, written by the recipient; Bounced
    from a delivery report in the sender's own synced mailbox or from Odoo's bounce handling.
    Replies and bounces are events of the sent email's tracking: whoever may read the sent
    email's body sees that a reply or bounce came, never the reply itself.
    """

    _inherit = "crm.email.tracking"

    # ------------------------------------------------------------------ state
    @api.model_create_multi
    def create(self, vals_list):
        trackings = super().create(vals_list)
        trackings.email_id._crm_update_insights_state()
        return trackings

    def write(self, vals):
        emails = self.email_id if "email_id" in vals else self.env["crm.email"]
        result = super().write(vals)
        if "state" in vals or "email_id" in vals:
            (emails | self.email_id)._crm_update_insights_state()
        return result

    def unlink(self):
        emails = self.email_id
        result = super().unlink()
        emails._crm_update_insights_state()
        return result

    def _crm_state_after_event(self, event):
        if self.state == "bounced":
            return None  # Bounced wins
        if event.event_type == "bounce":
            return "bounced"
        if event.event_type == "reply":
            return "replied" if STATE_RANK["replied"] > STATE_RANK.get(self.state, 0) else None
        return super()._crm_state_after_event(event)

    def _crm_address(self):
        self.ensure_one()
        return self.email_address or self.partner_id.email_normalized or False

    @api.model
    def _crm_mark_delivered(self, mail, partner_ids):
        """The SMTP server accepted ``mail``'s copies to ``partner_ids``: Sent → Delivered."""
        # Odoo hands partner records (or ids) of the accepted copies.
        partner_ids = [getattr(p, "id", p) for p in partner_ids or ()]
        if not partner_ids:
            return self.browse()
        # sudo: bookkeeping of the mail the sending code has just handed to the server.
        trackings = self.sudo().search(
            [
                ("state", "=", "sent"),
                ("partner_id", "in", partner_ids),
                "|",
                ("mail_mail_id", "=", mail.id),
                ("mail_message_id", "=", mail.message_id or "-"),
            ]
        )
        trackings.write({"state": "delivered"})
        return trackings

    def _crm_add_evidence(self, event_type, source_message_id, date, origin, reasons):
        """One ``event_type`` event per tracking and source message (sync may bring a reply
        or a report twice: another mailbox, a rescan, a renumbered folder)."""
        # sudo: events are written by the addon's own code only (callers found the rows).
        trackings = self.sudo()
        done = (
            self.env["crm.email.tracking.event"]
            # sudo: same bookkeeping, reading the events already recorded for these rows.
            .sudo()
            .search(
                [
                    ("tracking_id", "in", trackings.ids),
                    ("event_type", "=", event_type),
                    ("source_message_id", "=", source_message_id),
                ]
            )
        )
        events = self.env["crm.email.tracking.event"]
        now = fields.Datetime.now()
        for tracking in trackings - done.tracking_id:
            when = min(date or now, now)
            if tracking.sent_date and when < tracking.sent_date:
                when = tracking.sent_date  # a wrong Date header never predates the mail
            events |= tracking._crm_record_event(
                {
                    "event_type": event_type,
                    "event_date": when,
                    "origin": origin,
                    "reasons": reasons,
                    "source_message_id": source_message_id,
                }
            )
        return events

    # ------------------------------------------------------------------ from synced mail
    @api.model
    def _crm_sync_evidence(self, mailbox, parsed_messages):
        """Replies and delivery reports among messages a mailbox sync is storing.

        Returns, per message, whether it is a delivery report: those are never stored as
        customer mail (the sync keeps only their key). Runs inside the sync (superuser).
        """
        is_report = [p.delivery_report is not None for p in parsed_messages]
        reports = [p for p, report in zip(parsed_messages, is_report, strict=True) if report]
        if reports:
            self._crm_bounces_from_reports(mailbox, reports)
        others = [p for p, report in zip(parsed_messages, is_report, strict=True) if not report]
        if others:
            self._crm_replies_from_sync(others)
        return is_report

    @api.model
    def _crm_replies_from_sync(self, parsed_messages):
        """A synced message answering a tracked mail, written by its recipient: Replied.

        Automatic answers (out of office) name the mail they answer but say nothing of its
        reader: they are no reply.
        """
        wanted = {}
        for parsed in parsed_messages:
            if getattr(parsed, "auto_reply", False):
                continue
            sender = parsed.email_from and tools.email_normalize(parsed.email_from[1])
            ids = {parsed.in_reply_to, *parsed.references} - {None, ""}
            if sender and ids:
                wanted[parsed.message_id] = (parsed, sender, ids)
        if not wanted:
            return
        all_ids = sorted({i for _p, _s, ids in wanted.values() for i in ids})
        # sudo: matching replies to tracked mail, whoever's mailbox brought them.
        trackings = self.sudo().search([("mail_message_id", "in", all_ids)])
        if not trackings:
            return
        for parsed, sender, ids in wanted.values():
            answered = trackings.filtered(
                lambda t, ids=ids, sender=sender: (
                    t.mail_message_id in ids and t._crm_address() == sender
                )
            )
            if answered:
                answered._crm_add_evidence(
                    "reply", parsed.message_id, parsed.date, "human", "reply received"
                )

    @api.model
    def _crm_bounces_from_reports(self, mailbox, parsed_reports):
        """Delivery reports in a sender's own mailbox: Bounced for the recipients they name.

        Only mail the mailbox's owner sent from CRM is concerned: a report in someone else's
        mailbox says nothing about mail they did not send.
        """
        owner = mailbox.user_id
        for parsed in parsed_reports:
            report = parsed.delivery_report
            if not report.failed or not report.original_message_ids:
                continue
            # sudo: the mailbox owner's own sent mail, found by the Message-ID it reports on.
            trackings = self.sudo().search(
                [
                    ("mail_message_id", "in", list(report.original_message_ids)),
                    ("email_id.crm_sender_user_id", "=", owner.id),
                ]
            )
            self._crm_bounce_matching(trackings, report, parsed.message_id)

    @api.model
    def _crm_bounce_matching(self, trackings, report, source_message_id):
        for message_id in set(trackings.mapped("mail_message_id")):
            rows = trackings.filtered(lambda t, m=message_id: t.mail_message_id == m)
            bounced = bounces.bounced_recipients(report, {t._crm_address() for t in rows})
            rows = rows.filtered(lambda t, b=bounced: t._crm_address() in b)
            if rows:
                rows._crm_add_evidence(
                    "bounce", source_message_id, None, "system", report.reason or "bounced"
                )

    # ------------------------------------------------------------------ Odoo's bounce alias
    @api.model
    def _crm_bounce_from_routing(self, email_message, message_dict):
        """A bounce Odoo's mail gateway recognised (``mail.thread._routing_handle_bounce``)."""
        report = None
        try:
            report = bounces.read_report(email_message)
        except Exception:  # Odoo recognised a bounce our reader does not: use Odoo's values
            report = None
        ids = set(message_dict.get("bounced_msg_ids") or ())
        bounced_message = message_dict.get("bounced_message")
        if bounced_message:
            ids.update(bounced_message.mapped("message_id"))
        if report:
            ids.update(report.original_message_ids)
        ids.discard(False)
        if not ids:
            return
        # sudo: bounces reach Odoo through its own bounce alias, trusted as Odoo trusts it.
        trackings = self.sudo().search([("mail_message_id", "in", sorted(ids))])
        if not trackings:
            return
        bounced_email = tools.email_normalize(message_dict.get("bounced_email") or "")
        if bounced_email:
            reason = (report and report.reason) or message_dict.get("subject") or "bounced"
            report = bounces.DeliveryReport(
                original_message_ids=tuple(sorted(ids)),
                recipients=(bounces.RecipientStatus(bounced_email, "failed", "", reason),),
                text_addresses=(),
                failed=True,
                reason=reason,
            )
        if report:
            source = message_dict.get("message_id") or "odoo-bounce"
            self._crm_bounce_matching(trackings, report, source)
