import logging

from markupsafe import Markup
from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from crm_mail_channel_core import dropbox_auth, mime, sharing_domains, sync
from crm_mail_channel_core.errors import MessageParseError

from ..sync_store import MailboxStore, StoreItem
from .crm_dropbox_mailbox import DROPBOX_FOLDER
from .crm_mailbox import SYNC_BATCH_SIZE

_logger = logging.getLogger(__name__)

# System parameter: authserv-ids (comma-separated) of receiving servers whose
# Authentication-Results header is trusted (see dropbox_auth).
PARAM_TRUSTED_AUTHSERV = "crm_mail_channel.dropbox_trusted_authserv_ids"
RAW_ATTACHMENT_NAME = "dropbox-message.eml"
# DKIM keys found in DNS, kept a minute in this worker: a batch of mail from one sender's
# domain looks its key up once.
_KEY_CACHE = dropbox_auth.TxtCache(ttl=60)


class CrmMailbox(models.Model):
    """Mail arriving for a BCC dropbox: who it is for, whether it may enter, storing it.

    Called from ``mail.thread.message_process`` (mail_thread_dropbox.py) before Odoo's own
    routing and Message-ID check, for every message that names a dropbox address. Stored
    through ``MailboxStore`` exactly like synced mail (crm_dropbox_mailbox.py says why).
    """

    _inherit = "crm.mailbox"

    # ------------------------------------------------------------------ routing
    @api.model
    def _crm_dropbox_route(self, raw):
        """Handle ``raw`` if it is dropbox mail: True when it was (stored, refused or dropped),
        False when it is none of the dropboxes' business."""
        candidates = dropbox_auth.dropbox_candidates(raw)
        if not candidates:
            return False
        # One query: which candidates are on an alias domain, and the dropbox of each token
        # (only of an active internal user).
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT t.token, m.id
                     FROM unnest(%s::varchar[], %s::varchar[]) AS t(token, domain)
                     JOIN mail_alias_domain d ON lower(d.name) = t.domain
                LEFT JOIN crm_mailbox m ON m.protocol = 'dropbox' AND m.crm_dropbox_token = t.token
                          AND EXISTS (SELECT 1 FROM res_users u WHERE u.id = m.user_id
                                         AND u.active AND u.share IS NOT TRUE)""",
                [token for token, _domain, _visible in candidates],
                [domain for _token, domain, _visible in candidates],
            )
        )
        rows = self.env.cr.fetchall()
        if not rows:
            return False  # dropbox-like addresses, but on no alias domain of ours
        handled = set()
        for token, mailbox_id in rows:
            if not mailbox_id:
                # A regenerated (or mistyped) address: it stops working at once, silently;
                # Odoo's routing must not turn it into a lead or a bounce either.
                _logger.info("Mail for an unknown BCC dropbox address dropped")
            elif token not in handled:
                handled.add(token)
                # sudo: routing incoming mail; the token itself is the proof of the address.
                self.sudo().browse(mailbox_id)._crm_dropbox_receive(raw)
        return True

    def _crm_dropbox_receive(self, raw):
        """Authenticate ``raw`` for this dropbox's owner, then store it (or refuse it)."""
        self.ensure_one()
        owner = self.user_id
        decision = self._crm_dropbox_authenticate(raw)
        if not decision.ok:
            _logger.info("Dropbox of user %s refused a message: %s", owner.id, decision.code)
            self._crm_dropbox_notify_refusal(raw, decision)
            return
        # Queued, then stored in batches like synced mail: by the incoming mail server once
        # it has read the whole catch-all (fetchmail_server_dropbox.py), at once otherwise.
        Queue = self.env["crm.dropbox.queue"]
        Queue._crm_enqueue(self, raw)
        if not self.env.context.get("fetchmail_cron_running"):
            Queue._crm_import_pending(self)

    def _crm_dropbox_authenticate(self, raw):
        self.ensure_one()
        # sudo: reading which users claim an address and the system settings, to decide.
        Server = self.env["ir.mail_server"].sudo()
        Senders = self.env["crm.dropbox.sender"].sudo()  # sudo: same, verified addresses.

        def claims_of(address):
            return Server._crm_address_claims(address) + Senders._crm_verified_claims(address)

        params = self.env["ir.config_parameter"].sudo()  # sudo: a setting, read to decide.
        trusted = (params.get_param(PARAM_TRUSTED_AUTHSERV) or "").replace(";", ",").split(",")
        try:
            resolver = self.env["crm.mail.domain"]._get_resolver()
        except UserError:  # DNS settings not usable: no key can be checked, as if no answer
            dnsfunc = _no_dns
        else:
            dnsfunc = dropbox_auth.resolver_dnsfunc(resolver, _KEY_CACHE)
        return dropbox_auth.authenticate(raw, self.user_id.id, claims_of, trusted, dnsfunc)

    # ------------------------------------------------------------------ storing
    def _crm_dropbox_store(self, raws, uids=None):
        """Store authenticated messages for the owner, as one batch (like a sync batch);
        failures go to their quarantine, with the message kept for Retry.

        ``uids``: the quarantine keys of a retry (one per message), else new ones are taken.
        """
        self.ensure_one()
        # sudo: the messages were authenticated for this dropbox's owner (or come back from
        # their own quarantine); the store writes for the owner, as the sync does.
        mailbox = self.with_user(self.user_id).sudo()
        store = MailboxStore(mailbox)
        folder = store._folder("inbox", DROPBOX_FOLDER)
        limit = max(mailbox.max_message_size_mb, 1) * 1024 * 1024
        parts = [_split_forward(raw, limit) for raw in raws]
        sizes = [len(messages) + len(reasons) for messages, reasons in parts]
        if uids:
            keys = [[uid] * size for uid, size in zip(uids, sizes, strict=True)]
        else:
            flat = iter(mailbox._crm_dropbox_next_uids(folder, sum(sizes)))
            keys = [[next(flat) for _i in range(size)] for size in sizes]
        items, failures, raw_of = [], [], {}
        for raw, (messages, reasons), own_keys in zip(raws, parts, keys, strict=True):
            for key, (parsed, extra) in zip(own_keys, messages, strict=False):
                items.append(StoreItem(key, None, ("\\Seen",), parsed, extra))
                raw_of[key] = raw
            for key, reason in zip(own_keys[len(messages) :], reasons, strict=False):
                failures.append(sync.Failure(key, reason))
                raw_of[key] = raw
        mailbox._crm_dropbox_create_contacts(items)
        for start in range(0, max(len(items), 1), SYNC_BATCH_SIZE):
            chunk = items[start : start + SYNC_BATCH_SIZE]
            store._import_isolated(folder, chunk, failures if start == 0 else [])
        mailbox._crm_dropbox_after_import(folder, raw_of)
        return store.imported

    def _crm_dropbox_next_uids(self, folder, count):
        """``count`` new keys in the dropbox folder (its last_uid is the counter)."""
        if not count:
            return []
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE crm_mailbox_folder SET last_uid = last_uid + %s WHERE id = %s"
                " RETURNING last_uid",
                count,
                folder.id,
            )
        )
        last = self.env.cr.fetchone()[0]
        folder.invalidate_recordset(["last_uid"])
        return list(range(last - count + 1, last + 1))

    def _crm_dropbox_create_contacts(self, items):
        """Owner's choice "also create contacts": unknown outside people become contacts."""
        if self.user_id.crm_dropbox_contact_policy != "create" or not items:
            return
        domains = self._crm_dropbox_domains()
        internal, own_domains = self.env["res.company"]._crm_colleague_definition()
        wanted = {}
        for item in items:
            pairs = [*item.parsed.to, *item.parsed.cc]
            if item.parsed.email_from:
                pairs.append(item.parsed.email_from)
            pairs += [("", addr) for addr in item.extra_addresses]
            for name, addr in pairs:
                if (
                    addr
                    and addr not in wanted
                    and not dropbox_auth.is_dropbox_address(addr, domains)
                    and not sharing_domains.is_colleague_mail([addr], internal, own_domains)
                ):
                    wanted[addr] = name
        if not wanted:
            return
        Partner = self.env["res.partner"]
        known = set(
            Partner.search([("email_normalized", "in", list(wanted))]).mapped("email_normalized")
        )
        new = [
            {"name": name or addr, "email": addr}
            for addr, name in wanted.items()
            if addr not in known
        ]
        if new:
            # sudo: the owner's own choice, for mail authenticated as theirs; created as them.
            Partner.with_user(self.user_id).sudo().create(new)

    def _crm_dropbox_after_import(self, folder, raw_of):
        """Keep each message waiting in quarantine for Retry; say which matched no contact.

        ``raw_of``: ``{key: raw message}`` of the keys just handled.
        """
        keys = list(raw_of)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT q.id, q.uid FROM crm_mailbox_quarantine q
                    WHERE q.folder_id = %s AND q.uid = ANY(%s) AND q.state = 'pending'
                      AND NOT EXISTS (SELECT 1 FROM ir_attachment a
                                       WHERE a.res_model = 'crm.mailbox.quarantine'
                                         AND a.res_id = q.id)""",
                folder.id,
                keys,
            )
        )
        kept = [
            {
                "name": RAW_ATTACHMENT_NAME,
                "raw": raw_of[uid],
                "mimetype": "message/rfc822",
                "res_model": "crm.mailbox.quarantine",
                "res_id": quarantine_id,
            }
            for quarantine_id, uid in self.env.cr.fetchall()
        ]
        if kept:
            self.env["ir.attachment"].create(kept)
        # Unmatched mail cannot be fetched again later (no server): keep no address index.
        self.env.cr.execute(
            SQL(
                """DELETE FROM crm_mailbox_unmatched WHERE folder_id = %s AND uid = ANY(%s)
                   RETURNING uid""",
                folder.id,
                keys,
            )
        )
        unmatched = sorted({uid for (uid,) in self.env.cr.fetchall()})
        if unmatched:
            subjects = [mime.decode_header_value(_subject(raw_of[uid])) or "-" for uid in unmatched]
            self._crm_dropbox_notify(
                self.env._("Not imported from your BCC dropbox"),
                Markup("<p>%s</p>")
                % self.env._(
                    "Messages you sent to your BCC dropbox name no contact in CRM, so they were "
                    "not imported: %(subjects)s",
                    subjects=", ".join(subjects),
                ),
            )

    # ------------------------------------------------------------------ notifications
    def _crm_dropbox_notify_refusal(self, raw, decision):
        reasons = {
            dropbox_auth.REFUSED_NO_FROM: self.env._("it has no sender address"),
            dropbox_auth.REFUSED_SEVERAL_FROM: self.env._("it has several sender addresses"),
            dropbox_auth.REFUSED_NOT_OWN: self.env._(
                "%(address)s is not one of your addresses (your email, your mailbox login, or "
                "an address you verified for the dropbox)",
                address=decision.sender,
            ),
            dropbox_auth.REFUSED_UNAUTHENTICATED: self.env._(
                "it does not prove that it comes from %(address)s (no valid DKIM signature of "
                "its domain, no SPF or DKIM pass from a trusted receiving server)",
                address=decision.sender,
            ),
            dropbox_auth.REFUSED_DNS: self.env._(
                "its signature could not be checked: the DNS did not answer. Send it again later."
            ),
        }
        body = Markup("<p>%s</p><p>%s</p>") % (
            self.env._(
                "A message sent to your BCC dropbox was refused and nothing of it was stored: "
                "%(reason)s.",
                reason=reasons.get(decision.code, decision.code),
            ),
            self.env._(
                "From: %(sender)s, subject: %(subject)s",
                sender=decision.sender or "-",
                subject=mime.decode_header_value(_subject(raw)) or "-",
            ),
        )
        self._crm_dropbox_notify(self.env._("Message refused by your BCC dropbox"), body)

    def _crm_dropbox_notify(self, subject, body):
        """An Odoo notification to the owner (never a reply to the message's sender)."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                # sudo: a notification from OdooBot to the dropbox's owner only. Mail copies
                # of it are queued, not sent while the incoming mail is being processed.
                self.env["mail.thread"].sudo().with_context(
                    mail_notify_force_send=False
                ).message_notify(
                    partner_ids=self.user_id.partner_id.ids,
                    author_id=self.env.ref("base.partner_root").id,
                    subject=subject,
                    body=body,
                )
        except Exception:
            # Telling the owner must not make Odoo's incoming server fail the message.
            _logger.warning(
                "Dropbox notification to user %s failed", self.user_id.id, exc_info=True
            )


def _no_dns(name, timeout=5):
    raise dropbox_auth.DnsUnavailable()


def _split_forward(raw, limit):
    """``([(parsed, extra addresses)], [failure reasons])`` of one dropbox message.

    A forward of complete messages (attached as message/rfc822) stands for those messages:
    the original conversation is stored. An inline forward is the owner's own mail, also
    matched to the contacts its quoted header block names.
    """
    try:
        parsed = mime.parse_message(raw, max_attachment_size=limit)
    except MessageParseError as exc:
        return [], [f"The message could not be read: {exc}"]
    forwarded = dropbox_auth.attached_messages(raw)
    if not forwarded:
        block = dropbox_auth.inline_forward(parsed.body_text)
        return [(parsed, tuple(block.addresses()) if block else ())], []
    messages, reasons = [], []
    for inner in forwarded:
        try:
            messages.append((mime.parse_message(inner, max_attachment_size=limit), ()))
        except MessageParseError as exc:
            reasons.append(f"The forwarded message could not be read: {exc}")
    return messages, reasons


def _subject(raw):
    return dropbox_auth.header_value(raw, "subject")
