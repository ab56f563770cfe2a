import logging
from email.utils import formataddr

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from crm_mail_channel_core import errors, inbox_preview, mailbox_client, sharing_domains

from ..sync_store import MailboxStore

_logger = logging.getLogger(__name__)

# "Not in CRM": the user's own INBOX as it is now, kept in this process only, per user.
LIVE_CACHE = inbox_preview.PreviewCache(ttl=inbox_preview.CACHE_SECONDS)
LIVE_STATES = ("connected", "syncing", "error")


class CrmEmail(models.Model):
    """SalesInbox's "Not in CRM" column: the user's own newest INBOX mail from senders who are
    not in CRM, read live (headers and a short preview, never \\Seen, never stored) and kept
    in this process's memory for two minutes, for that user only; and Create contact / Create
    lead, which bring the sender's past mail into CRM at once."""

    _inherit = "crm.email"

    # ------------------------------------------------------------------ Not in CRM (live)
    @api.model
    def _sales_inbox_mailbox(self):
        """The current user's own IMAP mailbox, or an empty recordset."""
        return self.env["crm.mailbox"].search(
            [
                ("user_id", "=", self.env.uid),
                ("protocol", "=", "imap"),
                ("state", "in", LIVE_STATES),
            ],
            limit=1,
        )

    @api.model
    def _sales_inbox_cache_key(self, mailbox):
        # sudo: the current user's own mailbox (_sales_inbox_mailbox), its connection details.
        fingerprint = mailbox.sudo()._crm_connection_fingerprint()
        return (self.env.cr.dbname, self.env.uid, mailbox.id, fingerprint)

    @api.model
    def _sales_inbox_drop_cache(self):
        dbname, uid = self.env.cr.dbname, self.env.uid
        LIVE_CACHE.drop(lambda key: key[0] == dbname and key[1] == uid)

    @api.model
    def _sales_inbox_previews(self, refresh=False):
        """``(previews, error)``: the newest INBOX messages of the user's own mailbox, from
        this process's cache when read less than two minutes ago (and ``refresh`` is False)."""
        mailbox = self._sales_inbox_mailbox()
        if not mailbox:
            return [], self.env._(
                "Connect your mailbox (IMAP) in My Mailbox to see here the mail of senders who "
                "are not in CRM yet."
            )
        key = self._sales_inbox_cache_key(mailbox)
        previews = None if refresh else LIVE_CACHE.get(key)
        if previews is None:
            # sudo: the current user's own mailbox (_sales_inbox_mailbox), for its password.
            mailbox = mailbox.sudo()
            with mailbox._crm_connection_slot() as free:
                if not free:
                    # Every connection to the account is in use (push, sync...): what was
                    # read last, however old, or a plain note.
                    stale = LIVE_CACHE.get(key, stale=True)
                    if stale is not None:
                        return stale, False
                    return [], self.env._("Your mailbox is busy; try again in a moment.")
                try:
                    settings = mailbox._mailbox_settings(timeout=15)
                    with mailbox_client.open_session(settings) as session:
                        previews = inbox_preview.fetch_inbox_previews(session)
                except errors.MailChannelError as exc:
                    return [], exc.user_message
                except UserError as exc:
                    return [], exc.args[0]
            LIVE_CACHE.put(key, previews)
        return previews, False

    @api.model
    def _sales_inbox_classify(self, previews):
        """``(not in CRM, between colleagues)`` among previews not already stored in CRM.

        Not in CRM: the sender is no contact and no colleague. Between colleagues: every
        participant is (res.company._crm_colleague_definition); the sync never stores such
        mail, so the Colleagues column shows it from here.
        """
        message_ids = [p.message_id for p in previews if p.message_id]
        stored = set(
            self.search_fetch([("message_id", "in", message_ids)], ["message_id"]).mapped(
                "message_id"
            )
        )
        previews = [p for p in previews if not p.message_id or p.message_id not in stored]
        senders = list({p.sender_email for p in previews if p.sender_email})
        known = set(
            self.env["res.partner"]
            .search_fetch([("email_normalized", "in", senders)], ["email_normalized"])
            .mapped("email_normalized")
        )
        internal, domains = self.env["res.company"]._crm_colleague_definition()

        def is_colleague(addresses):
            return sharing_domains.is_colleague_mail(set(addresses), internal, domains)

        unknown = inbox_preview.unknown_senders(
            previews, lambda address: address in known or is_colleague({address})
        )
        colleagues = [p for p in previews if p.sender_email and is_colleague(p.participants())]
        return unknown, colleagues

    @api.model
    def _sales_inbox_live_card(self, preview, colleague=False):
        return {
            "can_create": not colleague,
            "id": f"live-{preview.uid}",
            "email_id": False,
            "uid": preview.uid,
            "subject": preview.subject,
            "preview": preview.preview,
            "email_from": formataddr((preview.sender_name, preview.sender_email)),
            "sender_name": preview.sender_name or preview.sender_email,
            "sender_email": preview.sender_email,
            "date": fields.Datetime.to_string(preview.date) if preview.date else False,
            "is_mine": False,
            "unread": not preview.seen,
            "lead_id": False,
            "deal": False,
        }

    # ------------------------------------------------------------------ Create contact / lead
    @api.model
    def sales_inbox_create_contact(self, email, name=False, subject=False, create_lead=False):
        """Create a contact (and a lead) for a sender not in CRM, then bring the sender's past
        mail into CRM at once from the address index of the user's own mailbox.

        Runs as the current user: creating the contact and the lead needs their rights.
        Returns ``{partner_id, lead_id, imported, action}``.
        """
        address = tools.email_normalize(email or "")
        if not address:
            raise UserError(self.env._("This sender has no valid address."))
        Partner = self.env["res.partner"]
        partner = Partner.search([("email_normalized", "=", address)], limit=1)
        if not partner:
            partner = Partner.create({"name": (name or "").strip() or address, "email": address})
        lead = self.env["crm.lead"]
        if create_lead:
            lead = lead.create(
                {
                    "name": subject or partner.name,
                    "partner_id": partner.id,
                    "user_id": self.env.uid,
                    "type": "lead"
                    if self.env.user.has_group("crm.group_use_lead")
                    else "opportunity",
                }
            )
        imported = self._sales_inbox_import_past_mail()
        if lead:
            # The sender's mail in the user's own mailbox follows the lead made from it.
            emails = self.search(
                [
                    ("partner_ids", "in", partner.ids),
                    ("lead_id", "=", False),
                    ("presence_ids.user_id", "=", self.env.uid),
                ]
            )
            emails._crm_set_deal(lead)
        self._sales_inbox_drop_cache()
        record = lead or partner
        return {
            "partner_id": partner.id,
            "lead_id": lead.id or False,
            "imported": imported,
            "action": {
                "type": "ir.actions.act_window",
                "res_model": record._name,
                "res_id": record.id,
                "views": [(False, "form")],
                "target": "current",
            },
        }

    @api.model
    def _sales_inbox_import_past_mail(self):
        """Fetch now, from the user's own mailbox, the messages of addresses that just became
        contacts (crm.mailbox.unmatched marked for rescan). Other mailboxes get theirs at their
        next sync. Returns the number of messages imported."""
        mailbox = self._sales_inbox_mailbox()
        # sudo: the current user's own mailbox (_sales_inbox_mailbox); the rescan writes for
        # its owner exactly as the sync does (crm.mailbox._sync).
        mailbox = mailbox.with_user(mailbox.user_id).sudo() if mailbox else mailbox
        if not mailbox or not mailbox._try_lock():
            return 0  # no mailbox, or a sync is running and will import it
        store = MailboxStore(mailbox)
        try:
            with mailbox._crm_connection_slot() as free:
                if not free:
                    return 0  # every connection is in use: the next sync imports it
                settings = mailbox._mailbox_settings(timeout=15)
                with mailbox_client.open_session(settings) as session:
                    store.rescan(session, mailbox._sync_options())
        except (errors.MailChannelError, UserError) as exc:
            _logger.info(
                "SalesInbox: past mail of mailbox %s left to the sync: %s", mailbox.id, exc
            )
            return 0
        return store.imported
