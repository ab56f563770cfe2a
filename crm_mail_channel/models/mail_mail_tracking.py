import re

import lxml.html
from markupsafe import Markup
from odoo import fields, models, tools
from odoo.addons.link_tracker.tools.html import find_links_with_urls_and_labels
from odoo.tools.mail import URL_SKIP_PROTOCOL_REGEX

from crm_mail_channel_core import identity

# Popped by ir.mail_server.build_email (ir_mail_server_tracking.py): the untracked values of a
# tracked copy, from which the copy stored in the sender's Sent folder is built.
UNTRACKED_MARKER = "X-Crm-Mail-Untracked-Copy"
TRACK_PREFIX = "/crm_mail/t/"
PIXEL = (
    '<img src="%s" alt="" width="1" height="1" border="0" '
    'style="display:block;height:1px;width:1px;border:0;margin:0;padding:0"/>'
)


class MailMail(models.Model):
    """Email Insights on the outgoing side: per external recipient, a pixel and tracked links.

    ``_prepare_outgoing_list`` returns one email per recipient (Odoo's own split). For mail
    sent from CRM each copy shows the whole message's To (reply-all works), and each copy to
    an outside contact who may be tracked gets its own tracking row: a pixel and links to
    ``/crm_mail/t/<token>/...``. Colleagues' copies, Bcc copies, the chatter message, the
    ``crm.email`` body and the Sent-folder copy stay untracked.
    """

    _inherit = "mail.mail"

    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        emails = super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status
        )
        email = self._crm_insights_email()
        if not email:
            return emails
        # sudo: the message this mail sends, read by the sending code.
        message = self.mail_message_id.sudo()
        visible_to = ", ".join(p.email_formatted for p in message.partner_ids if p.email)
        for values in emails:
            headers = dict(values.get("headers") or {})
            if visible_to and not headers.get("X-Forge-To"):
                # Odoo addresses each copy to its recipient only; show everyone's To.
                headers["X-Forge-To"] = visible_to
            values["headers"] = headers
        if not email.insights_tracked:
            return emails
        visible = set(
            tools.mail.email_normalize_all(
                ", ".join(filter(None, [visible_to, headers.get("Cc") or "", email.email_cc]))
            )
        )
        base_url = self.get_base_url()
        shortened = None
        for values in emails:
            recipient = self._crm_tracked_recipient(values, visible)
            if not recipient:
                continue
            partner, address = recipient
            if shortened is None:
                shortened = self._crm_shorten_links(values["body"], base_url)
            tracking = self._crm_tracking_for(email, partner, address, values["message_id"])
            untracked = dict(values, headers=dict(values["headers"]))
            untracked.pop("partner_id", None)
            untracked.pop("email_to_normalized", None)
            values["headers"] = dict(values["headers"], **{UNTRACKED_MARKER: untracked})
            values["body"] = self._crm_tracked_body(shortened, tracking, base_url)
            values["body_alternative"] = tools.html2plaintext(values["body"])
        return emails

    # ------------------------------------------------------------------ helpers
    def _crm_insights_email(self):
        """The ``crm.email`` recorded for the message this mail sends (superuser), if any."""
        self.ensure_one()
        # sudo: the sending code reads the message and the email row of what it sends.
        message = self.mail_message_id.sudo()
        if not message or not message.message_id:
            return self.env["crm.email"]
        message_id = identity.shorten_message_id(message.message_id)
        return (
            self.env["crm.email"]
            .sudo()  # sudo: the row of this very message, found by its placeholder fingerprint.
            .search(
                [
                    ("message_id", "=", message_id),
                    ("fingerprint", "=", identity.posted_fingerprint(message_id, message.id)),
                    ("sent_from_crm", "=", True),
                ],
                limit=1,
            )
        )

    def _crm_tracked_recipient(self, values, visible):
        """``(partner, address)`` when this copy goes to a contact who may be tracked."""
        addresses = values.get("email_to_normalized") or []
        if len(addresses) != 1 or addresses[0] not in visible:
            return None  # several addresses, no address, or a Bcc copy: never tracked
        address = addresses[0]
        partner = values.get("partner_id") or self.env["res.partner"]
        # sudo: the sending code matches the recipient's address to its contact.
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        if not partner:
            partner = Partner.search([("email_normalized", "=", address)], limit=1)
        partner = partner.sudo()  # sudo: same matching, reading the contact's tracking choice.
        if partner.crm_do_not_track:
            return None
        # Colleagues are never tracked: by their contact, or by their address.
        if partner.user_ids.filtered(lambda u: not u.share):
            return None
        if not partner.user_ids and (
            self.env["res.users"]
            .sudo()  # sudo: same matching, for an address of a colleague's other contact.
            .with_context(active_test=False)
            .search_count([("email_normalized", "=", address), ("share", "=", False)], limit=1)
        ):
            return None
        return partner, address

    def _crm_tracking_for(self, email, partner, address, message_id):
        """The recipient's tracking row (reused when the same mail is sent again)."""
        # sudo: tracking rows are written by the sending code only.
        Tracking = self.env["crm.email.tracking"].sudo()
        tracking = Tracking.search(
            [
                ("email_id", "=", email.id),
                ("email_address", "=", address),
                ("mail_mail_id", "=", self.id),
            ],
            limit=1,
        )
        if tracking:
            return tracking
        return Tracking.create(
            {
                "email_id": email.id,
                "partner_id": partner.id or False,
                "email_address": address,
                "mail_message_id": message_id,
                "mail_mail_id": self.id,
                "sent_date": fields.Datetime.now(),
            }
        )

    def _crm_shorten_links(self, body, base_url):
        """``body`` with its links replaced by link_tracker codes (``<base>/r/<code>``).

        Done once per mail; each recipient's copy then points the codes at its own token.
        The page title is not fetched from the web at sending time: the URL stands for it.
        """
        if not body or tools.is_html_empty(body):
            return body
        root = lxml.html.fromstring(body)
        nodes, urls_and_labels = find_links_with_urls_and_labels(
            root,
            base_url,
            skip_regex=rf"^{URL_SKIP_PROTOCOL_REGEX}",
            skip_prefix=base_url + TRACK_PREFIX,
        )
        if not nodes:
            return body
        codes = self._crm_link_codes(urls_and_labels)
        for node, item in zip(nodes, urls_and_labels, strict=True):
            node.set("href", f"{base_url}/r/{codes[item['url'], item['label'] or False]}")
        return lxml.html.tostring(root, encoding="unicode", method="xml")

    def _crm_link_codes(self, urls_and_labels):
        """``{(url, label): code}``: link_tracker's codes, found in one query when they exist
        (plain links, no campaign), else created by ``link.tracker.search_or_create``."""
        # sudo: link codes are technical records shared by every sender.
        LinkTracker = self.env["link.tracker"].sudo()
        wanted = {(item["url"], item["label"] or False) for item in urls_and_labels}
        codes = {}
        found = LinkTracker.search_fetch(
            [
                ("url", "in", list({url for url, _label in wanted})),
                ("campaign_id", "=", False),
                ("medium_id", "=", False),
                ("source_id", "=", False),
            ],
            ["url", "label", "code"],
        )
        for tracker in found:
            codes.setdefault((tracker.url, tracker.label or False), tracker.code)
        missing = [key for key in wanted if key not in codes]
        if missing:
            # search_or_create normalises the values it is given: keep our own keys apart.
            values = [{"url": url, "label": label, "title": url} for url, label in missing]
            for key, tracker in zip(missing, LinkTracker.search_or_create(values), strict=True):
                codes[key] = tracker.code
        return codes

    def _crm_tracked_body(self, body, tracking, base_url):
        token = tracking.token
        prefix = f"{base_url}{TRACK_PREFIX}{token}"
        body = re.sub(
            re.escape(f"{base_url}/r/") + r"([A-Za-z0-9]+)",
            lambda match: f"{prefix}/c/{match.group(1)}",
            body or "",
        )
        pixel = Markup(PIXEL) % f"{prefix}/o.gif"
        if re.search(r"</body>", body, re.IGNORECASE):
            return re.sub(r"</body>", lambda _m: pixel + "</body>", body, count=1, flags=re.I)
        return body + pixel
