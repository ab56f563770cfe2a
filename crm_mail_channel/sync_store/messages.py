"""Storing a batch of messages: emails and presences, the address index, quarantine.

A batch that cannot be stored is stored again one message at a time, so one bad message is
quarantined alone and never holds back the mail after it.
"""

import logging
from typing import NamedTuple

import psycopg2
from odoo.tools import SQL

from crm_mail_channel_core import mime, sync

_logger = logging.getLogger(__name__)

# Failures of the database connection or the worker: storing message by message would only
# fail again (and quarantine good mail), so these stop the sync as a whole.
SYSTEMIC_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, MemoryError)


class StoreItem(NamedTuple):
    """One parsed message to store: IMAP uid or POP3 uidl, server flags, parsed content."""

    uid: int | None
    uidl: str | None
    flags: tuple
    parsed: mime.ParsedMessage
    # Addresses the message is also about, beyond From/To/Cc (the header block an inline
    # forward quotes, see models/crm_dropbox_import.py): matched to contacts like them.
    extra_addresses: tuple = ()

    def key(self):
        return (None, str(self.uidl)) if self.uidl is not None else (int(self.uid), None)


def _participants(parsed, extra=()):
    found = []
    for addr in [*parsed.participants(), *extra]:
        addr = (addr or "").strip().lower()
        if addr and addr not in found:
            found.append(addr)
    return found


def _failure_key(failure, pop):
    """(uid, uidl) of a failure, as ``StoreItem.key``."""
    return (None, str(failure.key)) if pop else (int(failure.key), None)


class MessageImport:
    """Batch storing members of ``MailboxStore`` (see the core's protocols)."""

    def store_batch(self, folder, messages, failures, new_state):
        folder = self._folder(folder.role, folder.name)
        items = [StoreItem(m.uid, None, m.flags, m.parsed) for m in messages]
        self._import_isolated(folder, items, failures, new_state=new_state)

    def store_batch_pop3(self, messages, failures):
        folder = self._folder("inbox", "INBOX")
        items = [StoreItem(None, str(m.uidl), (), m.parsed) for m in messages]
        self._import_isolated(folder, items, failures, pop=True)

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
                key = item.uidl if pop else item.uid
                _logger.warning(
                    "Mailbox %s: message %s could not be stored",
                    self.mailbox.id,
                    key,
                    exc_info=True,
                )
                reason = f"The message could not be stored: {type(exc).__name__}: {exc}"
                failures.append(sync.Failure(key, reason[:2000]))
        with self.cr.savepoint():
            self._import(folder, [], failures, pop)
            self._save_state(folder, new_state)

    def _import(self, folder, messages, failures, pop=False):
        """Persist one batch: emails, presences, unmatched addresses, quarantine.

        ``messages`` are ``StoreItem``; ``failures`` the core's ``Failure``.
        """
        mailbox = self.mailbox
        self.env.flush_all()
        # 0. Email Insights: replies to tracked mail become events; a delivery report becomes
        # a bounce event and is never customer mail (only its key is kept, as unmatched).
        is_report = self.env["crm.email.tracking"]._crm_sync_evidence(
            mailbox, [item.parsed for item in messages]
        )
        # 1. Which addresses are customers' (one query for the whole batch).
        addresses = set()
        participants = []
        for item, report in zip(messages, is_report, strict=True):
            found = [] if report else _participants(item.parsed, item.extra_addresses)
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

        keys = [item.key() for item in messages] + [_failure_key(f, pop) for f in failures]
        uids = [uid for uid, _uidl in keys if uid is not None]
        uidls = [uidl for _uid, uidl in keys if uidl is not None]
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
        # 3. Emails (one per Message-ID and content, across every mailbox) and presences.
        if matched:
            self._store_matched(folder, matched)
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
                    [uid for uid, _uidl, _addr in rows],
                    [uidl for _uid, uidl, _addr in rows],
                    [addr for _uid, _uidl, addr in rows],
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
                    [uid for uid, _uidl in handled if uid is not None],
                    [uidl for _uid, uidl in handled if uidl is not None],
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

    def _quarantine(self, folder, failures, pop):
        if not failures:
            return
        Quarantine = self.env["crm.mailbox.quarantine"]
        key_field = "pop_uidl" if pop else "uid"
        keys = [str(f.key) if pop else int(f.key) for f in failures]
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
        for key, failure in zip(keys, failures, strict=True):
            if key in existing:
                quarantine = existing[key]
                if quarantine.state != "skipped":
                    quarantine.write(
                        {
                            "reason": failure.reason,
                            "attempts": quarantine.attempts + 1,
                            "state": "pending",
                        }
                    )
            else:
                new.append(
                    {
                        "mailbox_id": self.mailbox.id,
                        "folder_id": folder.id,
                        key_field: key,
                        "reason": failure.reason,
                    }
                )
        if new:
            Quarantine.create(new)
