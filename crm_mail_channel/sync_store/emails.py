"""Which email a synced message is, and its crm.email record.

An email is identified by its Message-ID and a fingerprint of its content
(``crm_mail_channel_core.identity``): a Message-ID alone never joins another person's email.
"""

import re
from collections import defaultdict

from odoo import Command, fields
from odoo.tools import SQL

from crm_mail_channel_core import dropbox_auth, identity

from .cursors import is_seen

# Characters that make a display name need quotes (as email.utils.formataddr decides).
_SPECIALS_RE = re.compile(r'[][\\()<>@,:;".]')


def _format_address(pair):
    """``"Name" <addr>`` for display; internationalised (UTF-8) addresses kept as they are."""
    if not pair:
        return ""
    name, addr = (identity.clean_text(part or "") for part in pair)
    if not addr:
        return name
    if not name:
        return addr
    if _SPECIALS_RE.search(name):
        name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    return f"{name} <{addr}>"


def _format_addresses(pairs):
    return ", ".join(filter(None, (_format_address(p) for p in pairs or ())))


class EmailRecords:
    """Email identity and record members of ``MailboxStore``."""

    def _email_vals(self, parsed, partner_ids, fingerprint):
        """Values of a new crm.email for a parsed message (names found by the tests)."""
        clean = identity.clean_text
        references = parsed.references
        thread_root = (references[0] if references else None) or parsed.in_reply_to
        attachments = [a for a in parsed.attachments if not a.inline or not a.content_id]
        return {
            "message_id": parsed.message_id,
            "fingerprint": fingerprint,
            "subject": clean(parsed.subject),
            "date": parsed.date or fields.Datetime.now(),
            "crm_date_utc_offset": parsed.date_utc_offset,  # best time: the sender's zone
            "email_from": _format_address(parsed.email_from),
            "email_to": _format_addresses(self._shown_addresses(parsed.to)),
            "email_cc": _format_addresses(self._shown_addresses(parsed.cc)),
            "partner_ids": [Command.set(partner_ids)],
            "body_html": clean(parsed.body_html),
            "preview": clean(parsed.preview or "")[:300],
            "has_attachments": bool(attachments),
            "in_reply_to": parsed.in_reply_to,
            "references": " ".join(references) or False,
            "thread_key": thread_root or parsed.message_id,
        }

    def _shown_addresses(self, pairs):
        """Recipients as stored, without BCC dropbox addresses: whoever reads the email must
        not learn a dropbox address (its owner may have put it in To or Cc)."""
        if not any(dropbox_auth.DROPBOX_PREFIX in addr for _name, addr in pairs or ()):
            return pairs
        domains = self.env["crm.mailbox"]._crm_dropbox_domains()
        return [p for p in pairs if not dropbox_auth.is_dropbox_address(p[1], domains)]

    def _known_emails(self, message_ids):
        """Emails carrying these Message-IDs: ``{message_id: [row dict]}``."""
        self.cr.execute(
            SQL(
                """SELECT e.id, e.message_id, e.fingerprint, e.sent_from_crm,
                          e.crm_sender_user_id,
                          EXISTS (SELECT 1 FROM crm_email_presence p
                                   WHERE p.email_id = e.id AND p.mailbox_id = %(m)s) AS held
                     FROM crm_email e WHERE e.message_id = ANY(%(ids)s)
                    ORDER BY e.id""",
                m=self.mailbox.id,
                ids=list(message_ids),
            )
        )
        known = defaultdict(list)
        for row in self.cr.dictfetchall():
            known[row["message_id"]].append(row)
        return known

    def _claimable(self, row):
        """Whether this mailbox's copy becomes ``row`` although their fingerprints differ.

        Only two kinds of rows are claimed, and only by their own holder: mail this mailbox's
        owner sent from CRM (its fingerprint is a placeholder until the copy that left comes
        back), and emails stored before fingerprints existed that this mailbox already holds.
        """
        owner = self.mailbox.user_id.id
        fingerprint = row["fingerprint"] or identity.LEGACY_FINGERPRINT
        placeholder = fingerprint == identity.LEGACY_FINGERPRINT or fingerprint.startswith(
            identity.POSTED_PREFIX
        )
        if not placeholder:
            return False
        if row["sent_from_crm"] and row["crm_sender_user_id"] == owner:
            return True
        return fingerprint == identity.LEGACY_FINGERPRINT and row["held"]

    def _resolve_emails(self, matched):
        """Email id (or None: to create) and fingerprint of each matched item.

        Same Message-ID and same fingerprint: the same email. A claimable row takes the
        fingerprint of the copy that claims it. Anything else is a separate email, logged as a
        collision: a Message-ID alone never joins another person's email.
        """
        fingerprints = [identity.content_fingerprint(item.parsed) for item, _p in matched]
        known = self._known_emails({item.parsed.message_id for item, _p in matched})
        resolved, claimed = [], {}
        for (item, _partner_ids), fingerprint in zip(matched, fingerprints, strict=True):
            rows = known.get(item.parsed.message_id, [])
            email_id = next((r["id"] for r in rows if r["fingerprint"] == fingerprint), None)
            if email_id is None:
                row = next((r for r in rows if self._claimable(r)), None)
                if row is not None:
                    email_id = row["id"]
                    claimed[email_id] = fingerprint
                    row["fingerprint"] = fingerprint
                elif rows:
                    self.env["crm.email"]._crm_log_identity_collision(
                        item.parsed.message_id, self.mailbox.display_name
                    )
            resolved.append((email_id, fingerprint))
        if claimed:
            self.cr.execute(
                SQL(
                    """UPDATE crm_email e SET fingerprint = t.f
                         FROM unnest(%s::int[], %s::varchar[]) AS t(id, f) WHERE e.id = t.id""",
                    list(claimed),
                    list(claimed.values()),
                )
            )
            self.env["crm.email"].invalidate_model(["fingerprint"])
        return resolved

    def _store_matched(self, folder, matched):
        """Emails, contact links and presences of the messages matched to contacts.

        ``matched`` is ``[(StoreItem, partner ids)]``.
        """
        Email = self.env["crm.email"]
        email_ids = {}  # (message_id, fingerprint) -> email id
        existing_links = []
        to_create = {}
        resolved = self._resolve_emails(matched)
        for (item, partner_ids), (email_id, fingerprint) in zip(matched, resolved, strict=True):
            key = (item.parsed.message_id, fingerprint)
            if email_id is not None:
                email_ids[key] = email_id
                existing_links += [(email_id, pid) for pid in partner_ids]
            elif key not in to_create:
                to_create[key] = item.parsed, partner_ids
        if to_create:
            new_emails = Email._create_from_sync(
                [
                    self._email_vals(parsed, partner_ids, key[1])
                    for key, (parsed, partner_ids) in to_create.items()
                ]
            )
            attachment_vals = []
            for new_email, (key, (parsed, _partner_ids)) in zip(
                new_emails, to_create.items(), strict=True
            ):
                email_ids[key] = new_email.id
                attachment_vals += [
                    {
                        "name": identity.clean_text(att.filename) or "attachment",
                        "raw": att.data,
                        "mimetype": att.content_type or "application/octet-stream",
                        "res_model": "crm.email",
                        "res_id": new_email.id,
                    }
                    for att in parsed.attachments
                ]
            if attachment_vals:
                self.env["ir.attachment"].create(attachment_vals)
            new_emails._apply_deal_links()
            self.env.flush_all()
        if existing_links:
            # A contact found later (or another mailbox's copy) adds its links to the email.
            self.cr.execute(
                SQL(
                    """INSERT INTO crm_email_res_partner_rel (email_id, partner_id)
                   SELECT e, p FROM unnest(%s::int[], %s::int[]) AS t(e, p)
                   ON CONFLICT DO NOTHING""",
                    [email_id for email_id, _partner_id in existing_links],
                    [partner_id for _email_id, partner_id in existing_links],
                )
            )
            # Contact-based sharing follows the new links at once.
            self.env["crm.email"].browse(
                {email_id for email_id, _partner_id in existing_links}
            )._crm_sharing_partners_changed()
        # Presences: one per mailbox folder and email.
        wanted = {}
        for (item, _partner_ids), (_email_id, fingerprint) in zip(matched, resolved, strict=True):
            email_id = email_ids[(item.parsed.message_id, fingerprint)]
            uid, uidl = item.key()
            wanted[email_id] = (uid, uidl, is_seen(item.flags))
        self.cr.execute(
            SQL(
                """SELECT email_id, id, uid FROM crm_email_presence
               WHERE mailbox_id = %s AND folder_id = %s AND email_id = ANY(%s)""",
                self.mailbox.id,
                folder.id,
                list(wanted),
            )
        )
        present = {email_id: (pid, uid) for email_id, pid, uid in self.cr.fetchall()}
        # A message whose UID changed (UIDVALIDITY reset, moved back) keeps its presence.
        moved = {}  # presence id -> new uid
        for email_id, (uid, _uidl, _seen) in wanted.items():
            if email_id in present and uid and present[email_id][1] != uid:
                moved[present[email_id][0]] = uid
        if moved:
            self.cr.execute(
                SQL(
                    """UPDATE crm_email_presence p SET uid = t.uid
                   FROM unnest(%s::int[], %s::int[]) AS t(id, uid) WHERE p.id = t.id""",
                    list(moved),
                    list(moved.values()),
                )
            )
        new_presences = [
            {
                "email_id": email_id,
                "mailbox_id": self.mailbox.id,
                "folder_id": folder.id,
                "uid": uid or 0,
                "pop_uidl": uidl or False,
                "is_seen": seen,
            }
            for email_id, (uid, uidl, seen) in wanted.items()
            if email_id not in present
        ]
        if new_presences:
            self.env["crm.email.presence"].create(new_presences)
            self.imported += len(new_presences)
        # Older mail stored after its answers (a first sync runs newest first): they follow it.
        Email.browse(list(wanted))._crm_relink_descendants(self.mailbox)
