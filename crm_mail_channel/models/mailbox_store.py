"""The Odoo side of the core sync driver: persists what ``crm_mail_channel_core.sync`` fetched.

Thin adapter implementing the core's SyncStore protocol on one ``crm.mailbox`` (in superuser
mode, the owner as user). Every method works on a whole batch with a constant number of
queries; a batch that cannot be stored is stored again one message at a time, so one bad
message is quarantined alone and never holds back the mail after it.
"""

import logging
import re
from collections import defaultdict
from typing import NamedTuple

import psycopg2
from odoo import Command, fields
from odoo.tools import SQL, plaintext2html

from crm_mail_channel_core import identity, mime, sync

_logger = logging.getLogger(__name__)

SEEN = "\\seen"
# Failures of the database connection or the worker: storing message by message would only
# fail again (and quarantine good mail), so these stop the sync as a whole.
SYSTEMIC_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, MemoryError)
# Characters that make a display name need quotes (as email.utils.formataddr decides).
_SPECIALS_RE = re.compile(r'[][\\()<>@,:;".]')


def _flag_text(flag):
    return (flag.decode() if isinstance(flag, bytes) else str(flag)).lower()


def _is_seen(flags):
    return any(_flag_text(flag) == SEEN for flag in flags or ())


class StoreItem(NamedTuple):
    """One parsed message to store: IMAP uid or POP3 uidl, server flags, parsed content."""

    uid: int | None
    uidl: str | None
    flags: tuple
    parsed: mime.ParsedMessage

    def key(self):
        return (None, str(self.uidl)) if self.uidl is not None else (int(self.uid), None)


def _format_address(pair):
    """``"Name" <addr>`` for display; internationalised (UTF-8) addresses kept as they are."""
    if not pair:
        return ""
    if isinstance(pair, str):
        return identity.clean_text(pair)
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


def _participants(parsed):
    found = []
    for addr in parsed.participants():
        addr = addr[1] if isinstance(addr, tuple) else addr
        addr = (addr or "").strip().lower()
        if addr and addr not in found:
            found.append(addr)
    return found


class MailboxStore:
    """SyncStore of one mailbox (see ``crm_mail_channel_core.sync``)."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env
        self.cr = mailbox.env.cr
        self.imported = 0  # new presences created during this sync

    # ---------------------------------------------------------------- folders and cursors
    def _folder(self, folder, role=None):
        """crm.mailbox.folder for a core FolderState, a role or a server name."""
        name = getattr(folder, "name", folder)
        role = role or getattr(folder, "role", None)
        folders = self.mailbox.folder_ids
        found = (
            folders.filtered(lambda f: f.role == role)
            if role
            else folders.filtered(lambda f: f.name == name)
        )
        if not found:
            found = self.env["crm.mailbox.folder"].create(
                {"mailbox_id": self.mailbox.id, "name": name or "INBOX", "role": role or "inbox"}
            )
            self.mailbox.invalidate_recordset(["folder_ids"])
        elif name and found.name != name:
            found.name = name  # the Sent folder was renamed on the server
        return found[:1]

    def folder_state(self, role, name):
        folder = self._folder(name, role=role)
        return sync.FolderState(
            name=folder.name,
            role=folder.role,
            uidvalidity=int(folder.uidvalidity) or None,
            last_uid=folder.last_uid or 0,
            highest_modseq=int(folder.highest_modseq) or None,
        )

    def _save_state(self, folder, state):
        if state is None:
            return
        folder.write(
            {
                "uidvalidity": state.uidvalidity or 0,
                "last_uid": state.last_uid or 0,
                "highest_modseq": state.highest_modseq or 0,
            }
        )

    def known_uids(self, folder):
        folder = self._folder(folder)
        self.cr.execute(
            SQL(
                """SELECT uid FROM crm_email_presence WHERE folder_id = %(f)s AND uid > 0
               UNION SELECT uid FROM crm_mailbox_unmatched WHERE folder_id = %(f)s
               UNION SELECT uid FROM crm_mailbox_quarantine WHERE folder_id = %(f)s""",
                f=folder.id,
            )
        )
        return {row[0] for row in self.cr.fetchall()}

    def uidvalidity_changed(self, folder, new_uidvalidity):
        """UIDs of the folder mean nothing anymore: forget them, keep the emails.

        The driver then reads the folder again; ``store_batch`` finds each email by its
        Message-ID and only gives its presence the new UID, so nothing is duplicated.
        """
        folder = self._folder(folder)
        self.env.flush_all()
        self.cr.execute(
            SQL(
                "UPDATE crm_email_presence SET uid = 0 WHERE folder_id = %s",
                folder.id,
            )
        )
        self.cr.execute(
            SQL(
                "DELETE FROM crm_mailbox_unmatched WHERE folder_id = %s",
                folder.id,
            )
        )
        self.cr.execute(
            SQL(
                "DELETE FROM crm_mailbox_quarantine WHERE folder_id = %s AND state = 'pending'",
                folder.id,
            )
        )
        self.env.invalidate_all()
        folder.write({"uidvalidity": new_uidvalidity or 0, "last_uid": 0, "highest_modseq": 0})

    def apply_flags(self, folder, flags_by_uid, new_state):
        folder = self._folder(folder)
        if flags_by_uid:
            uids = [int(uid) for uid in flags_by_uid]
            seen = [int(uid) for uid, flags in flags_by_uid.items() if _is_seen(flags)]
            self.env.flush_all()
            self.cr.execute(
                SQL(
                    """UPDATE crm_email_presence SET is_seen = (uid = ANY(%(seen)s))
                   WHERE folder_id = %(f)s AND uid = ANY(%(uids)s)
                     AND seen_pending IS NOT TRUE
                     AND is_seen IS DISTINCT FROM (uid = ANY(%(seen)s))""",
                    seen=seen,
                    f=folder.id,
                    uids=uids,
                )
            )
            self.env["crm.email.presence"].invalidate_model(["is_seen"])
        self._save_state(folder, new_state)

    # ---------------------------------------------------------------- storing messages
    def store_batch(self, folder, messages, failures, new_state):
        folder = self._folder(folder)
        items = [
            StoreItem(fetched.uid, None, fetched.flags, parsed) for fetched, parsed in messages
        ]
        self._import_isolated(folder, items, failures, new_state=new_state)

    # POP3: INBOX only, keyed by UIDL.

    def seen_uidls(self):
        self.cr.execute(
            SQL(
                """SELECT pop_uidl FROM crm_email_presence WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL
               UNION SELECT pop_uidl FROM crm_mailbox_unmatched WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL
               UNION SELECT pop_uidl FROM crm_mailbox_quarantine WHERE mailbox_id = %(m)s
                 AND pop_uidl IS NOT NULL""",
                m=self.mailbox.id,
            )
        )
        return {row[0] for row in self.cr.fetchall()}

    def store_batch_pop3(self, messages, failures):
        folder = self._folder("INBOX", role="inbox")
        items = [StoreItem(None, str(uidl), (), parsed) for uidl, _size, parsed in messages]
        self._import_isolated(folder, items, failures, pop=True)

    def skip_uidls(self, uidls):
        """POP3 messages older than the first sync window: remember them, import nothing."""
        folder = self._folder("INBOX", role="inbox")
        self.cr.execute(
            SQL(
                """INSERT INTO crm_mailbox_unmatched
                       (mailbox_id, folder_id, pop_uidl, address, rescan)
               SELECT %s, %s, l, '-', false FROM unnest(%s::varchar[]) AS t(l)""",
                self.mailbox.id,
                folder.id,
                list(uidls),
            )
        )

    def _import_isolated(self, folder, items, failures, pop=False, new_state=None):
        """Store a batch; if it fails, store each message alone and quarantine the failures.

        Parse errors arrive as ``failures``; this catches what goes wrong while storing (a
        value the database refuses, a broken attachment, a bug), so one message never stops
        the mailbox: the cursor moves over it and it waits in quarantine with its reason.
        """
        try:
            with self.cr.savepoint():
                self._import(folder, items, failures, pop)
                self._save_state(folder, new_state)
            return
        except SYSTEMIC_ERRORS:
            raise  # the database or the worker, not a message: the sync stops and retries
        except Exception:
            _logger.info(
                "Mailbox %s: a batch of %s could not be stored at once, storing one by one",
                self.mailbox.id,
                len(items),
                exc_info=True,
            )
        failures = list(failures)
        for item in items:
            try:
                with self.cr.savepoint():
                    self._import(folder, [item], [], pop)
            except SYSTEMIC_ERRORS:
                raise
            except Exception as exc:
                _logger.warning(
                    "Mailbox %s: message %s could not be stored",
                    self.mailbox.id,
                    item.uidl if pop else item.uid,
                    exc_info=True,
                )
                reason = f"The message could not be stored: {type(exc).__name__}: {exc}"
                failures.append((item.uidl if pop else item.uid, reason[:2000]))
        with self.cr.savepoint():
            self._import(folder, [], failures, pop)
            self._save_state(folder, new_state)

    def _import(self, folder, messages, failures, pop=False):
        """Persist one batch: emails, presences, unmatched addresses, quarantine.

        ``messages`` are ``StoreItem``; ``failures`` ``(uid or uidl, reason)``.
        """
        mailbox = self.mailbox
        self.env.flush_all()
        # 1. Which addresses are customers' (one query for the whole batch).
        addresses = set()
        participants = []
        for item in messages:
            found = _participants(item.parsed)
            participants.append(found)
            addresses.update(found)
        partners_by_address = self._partners_by_address(addresses)

        matched, unmatched = [], []
        for item, found in zip(messages, participants, strict=True):
            partner_ids = sorted(
                {pid for addr in found for pid in partners_by_address.get(addr, ())}
            )
            if partner_ids:
                matched.append((item, partner_ids))
            else:
                unmatched.append((item, found))

        keys = [item.key() for item in messages]
        keys += [(None, str(uid)) if pop else (int(uid), None) for uid, _reason in failures]
        uids = [k[0] for k in keys if k[0] is not None]
        uidls = [k[1] for k in keys if k[1] is not None]
        # 2. Forget the address index of these messages (a rescan re-adds what still misses).
        if keys:
            self.cr.execute(
                SQL(
                    """DELETE FROM crm_mailbox_unmatched WHERE mailbox_id = %s AND folder_id = %s
                   AND (uid = ANY(%s) OR pop_uidl = ANY(%s))""",
                    mailbox.id,
                    folder.id,
                    uids,
                    uidls,
                )
            )
        # 3. Emails (deduplicated by Message-ID across every mailbox) and presences.
        if matched:
            self._store_matched(folder, matched, pop)
        # 4. Address index of the messages no contact matched (no content kept).
        rows = [(*item.key(), addr) for item, found in unmatched for addr in (found or ["?"])]
        if rows:
            self.cr.execute(
                SQL(
                    """INSERT INTO crm_mailbox_unmatched
                       (mailbox_id, folder_id, uid, pop_uidl, address, rescan)
                   SELECT %s, %s, u, l, a, false
                   FROM unnest(%s::int[], %s::varchar[], %s::varchar[]) AS t(u, l, a)""",
                    mailbox.id,
                    folder.id,
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                )
            )
        # 5. Quarantine: new failures in, handled messages out.
        self._quarantine(folder, failures, pop)
        handled = [item.key() for item in messages]
        if handled:
            self.cr.execute(
                SQL(
                    """UPDATE crm_mailbox_quarantine SET state = 'done'
                   WHERE mailbox_id = %s AND folder_id = %s AND state != 'done'
                     AND (uid = ANY(%s) OR pop_uidl = ANY(%s))""",
                    mailbox.id,
                    folder.id,
                    [k[0] for k in handled if k[0] is not None],
                    [k[1] for k in handled if k[1] is not None],
                )
            )
        self.env.invalidate_all()

    def _partners_by_address(self, addresses):
        """Customer contacts (not internal users) by normalized address."""
        if not addresses:
            return {}
        self.cr.execute(
            SQL(
                """SELECT p.email_normalized, array_agg(p.id) FROM res_partner p
               WHERE p.email_normalized = ANY(%s) AND p.active
                 AND NOT EXISTS (SELECT 1 FROM res_users u
                                 WHERE u.partner_id = p.id AND u.share IS NOT TRUE)
               GROUP BY p.email_normalized""",
                list(addresses),
            )
        )
        return dict(self.cr.fetchall())

    def _email_vals(self, parsed, partner_ids, fingerprint):
        clean = identity.clean_text
        references = parsed.references or []
        if isinstance(references, str):
            references = references.split()
        thread_root = (references[0] if references else None) or parsed.in_reply_to
        body = parsed.body_html or (plaintext2html(parsed.body_text) if parsed.body_text else "")
        attachments = [a for a in parsed.attachments or () if not a.inline or not a.content_id]
        return {
            "message_id": parsed.message_id,
            "fingerprint": fingerprint,
            "subject": clean(parsed.subject),
            "date": parsed.date or fields.Datetime.now(),
            "email_from": _format_address(parsed.email_from),
            "email_to": _format_addresses(parsed.to),
            "email_cc": _format_addresses(parsed.cc),
            "partner_ids": [Command.set(partner_ids)],
            "body_html": clean(body),
            "preview": clean(parsed.preview or "")[:300],
            "has_attachments": bool(attachments),
            "in_reply_to": parsed.in_reply_to,
            "references": " ".join(references) or False,
            "thread_key": thread_root or parsed.message_id,
        }

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

    def _store_matched(self, folder, matched, pop):
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
                    for att in parsed.attachments or ()
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
                    [link[0] for link in existing_links],
                    [link[1] for link in existing_links],
                )
            )
            # Contact-based sharing follows the new links at once.
            self.env["crm.email"].browse(
                {link[0] for link in existing_links}
            )._crm_sharing_partners_changed()
        # Presences: one per mailbox folder and email.
        wanted = {}
        for (item, _partner_ids), (_email_id, fingerprint) in zip(matched, resolved, strict=True):
            email_id = email_ids[(item.parsed.message_id, fingerprint)]
            uid, uidl = item.key()
            wanted[email_id] = (uid, uidl, _is_seen(item.flags))
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
        moved = [
            (present[email_id][0], vals[0])
            for email_id, vals in wanted.items()
            if email_id in present and vals[0] and present[email_id][1] != vals[0]
        ]
        if moved:
            self.cr.execute(
                SQL(
                    """UPDATE crm_email_presence p SET uid = t.uid
                   FROM unnest(%s::int[], %s::int[]) AS t(id, uid) WHERE p.id = t.id""",
                    [m[0] for m in moved],
                    [m[1] for m in moved],
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

    def _quarantine(self, folder, failures, pop):
        if not failures:
            return
        Quarantine = self.env["crm.mailbox.quarantine"]
        key_field = "pop_uidl" if pop else "uid"
        keys = [str(uid) if pop else int(uid) for uid, _reason in failures]
        existing = {
            q[key_field]: q
            for q in Quarantine.search(
                [
                    ("mailbox_id", "=", self.mailbox.id),
                    ("folder_id", "=", folder.id),
                    (key_field, "in", keys),
                ]
            )
        }
        new = []
        for key, (_uid, reason) in zip(keys, failures, strict=True):
            reason = getattr(reason, "user_message", None) or str(reason)
            if key in existing:
                quarantine = existing[key]
                if quarantine.state != "skipped":
                    quarantine.write(
                        {"reason": reason, "attempts": quarantine.attempts + 1, "state": "pending"}
                    )
            else:
                new.append(
                    {
                        "mailbox_id": self.mailbox.id,
                        "folder_id": folder.id,
                        key_field: key,
                        "reason": reason,
                    }
                )
        if new:
            Quarantine.create(new)

    # ---------------------------------------------------------------- fetch again by UID
    def import_uids(self, session, folder, uids, options=None):
        """Fetch given UIDs of a folder again and import them (rescan, quarantine retry).

        Returns the UIDs the server no longer has.
        """
        if not uids:
            return set()
        options = options or sync.SyncOptions()
        fetched_list = session.fetch_messages(folder.name, sorted(uids), options.max_message_size)
        messages, failures = sync.parse_fetched(fetched_list, options)
        items = [
            StoreItem(fetched.uid, None, fetched.flags, parsed) for fetched, parsed in messages
        ]
        self._import_isolated(folder, items, failures)
        return set(uids) - {int(f.uid) for f in fetched_list}

    def rescan(self, session, options=None):
        """Fetch and import messages whose address now belongs to a contact."""
        self.env.flush_all()
        self.cr.execute(
            SQL(
                """SELECT DISTINCT folder_id, uid FROM crm_mailbox_unmatched
               WHERE mailbox_id = %s AND rescan AND folder_id IS NOT NULL AND uid > 0""",
                self.mailbox.id,
            )
        )
        by_folder = defaultdict(list)
        for folder_id, uid in self.cr.fetchall():
            by_folder[folder_id].append(uid)
        for folder_id, uids in by_folder.items():
            folder = self.env["crm.mailbox.folder"].browse(folder_id)
            for start in range(0, len(uids), 200):
                missing = self.import_uids(session, folder, uids[start : start + 200], options)
                if missing:
                    self.cr.execute(
                        SQL(
                            "DELETE FROM crm_mailbox_unmatched"
                            " WHERE folder_id = %s AND uid = ANY(%s)",
                            folder_id,
                            list(missing),
                        )
                    )

    def push_pending_flags(self, session):
        """Push read/unread changes made in CRM that could not reach the server yet."""
        Presence = self.env["crm.email.presence"]
        pending = Presence.search(
            [
                ("mailbox_id", "=", self.mailbox.id),
                ("seen_pending", "=", True),
                ("uid", ">", 0),
            ]
        )
        groups = defaultdict(lambda: Presence)
        for presence in pending:
            groups[(presence.folder_id, presence.is_seen)] |= presence
        for (folder, seen), presences in groups.items():
            session.set_seen(folder.name, presences.mapped("uid"), seen)
            presences.write({"seen_pending": False})
