"""First sync of a big mailbox: newest first, progress, pause and resume, deal links as if
the mail had been read oldest first (real Dovecot, real sync store)."""

import contextlib
import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.addons.crm_mail_channel.models.crm_mailbox import CrmMailbox
from odoo.addons.crm_mail_channel.sync_store import MailboxStore
from odoo.exceptions import AccessError
from odoo.tests import tagged

from crm_mail_channel_core import errors

from .deal_common import DealCommon, make_mail, new_msgid, with_headers

MAILBOX_LOGGER = "odoo.addons.crm_mail_channel.models.crm_mailbox"


class _Undo(Exception):
    """Leaves a savepoint rolled back: the database as before, the mail still on Dovecot."""


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestFirstSyncBackfill(DealCommon):
    # ------------------------------------------------------------------ helpers
    def _options(self, batch_size=3, newest_first=True):
        """Small batches, fetched one after the other (a kick then stops at a known batch)."""
        real = CrmMailbox._sync_options

        def options(mailbox, max_seconds=None):
            return dataclasses.replace(
                real(mailbox, max_seconds),
                batch_size=batch_size,
                prefetch=False,
                newest_first=newest_first,
            )

        return patch.object(CrmMailbox, "_sync_options", autospec=True, side_effect=options)

    def _sync_dropped_after(self, mailbox, batches):
        """Sync until the connection drops right after ``batches`` stored batches.

        The drop is raised where the driver would meet it (the next command): a server-side
        kick takes effect after an unknown delay, which would make the stopping point vary.
        """
        real = MailboxStore.store_batch
        stored = []

        def dropping(store, folder, messages, failures, new_state):
            real(store, folder, messages, failures, new_state)
            if messages or failures:
                stored.append(len(messages) + len(failures))
                if len(stored) == batches:
                    raise errors.ServerError(detail="connection dropped (test)")

        with (
            patch.object(MailboxStore, "store_batch", autospec=True, side_effect=dropping),
            self.assertLogs(MAILBOX_LOGGER, level="WARNING"),
        ):
            mailbox.sudo()._sync()
        self.assertEqual(mailbox.state, "error")
        self.assertEqual(len(stored), batches)

    def _presences(self, mailbox):
        return self.env["crm.email.presence"].sudo().search([("mailbox_id", "=", mailbox.id)])

    def _assert_each_once(self, mailbox, subjects):
        presences = self._presences(mailbox)
        self.assertEqual(sorted(presences.email_id.mapped("subject")), sorted(subjects))
        self.assertEqual(set(Counter(presences.email_id.mapped("message_id")).values()), {1})
        self.assertEqual(
            self.env["crm.email"].sudo().search_count([("subject", "in", subjects)]),
            len(subjects),
            "each message stored once",
        )

    def _inbox(self, mailbox):
        return mailbox.folder_ids.filtered(lambda f: f.role == "inbox")

    def _joe_mail(self, login, subjects):
        return [make_mail("joe@acme.example", login, subject=s) for s in subjects]

    # ------------------------------------------------------------------ progress and resume
    def test_interrupted_first_sync_shows_progress_then_resumes(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        subjects = [f"Mail {i}" for i in range(10)]
        self.append(login, pw, "INBOX", self._joe_mail(login, subjects))
        with self._options():
            self._sync_dropped_after(mailbox, 2)
        # The two newest batches are in; the rest waits below the backfill cursor.
        self.assertEqual(sorted(self._presences(mailbox).email_id.mapped("subject")), subjects[4:])
        inbox = self._inbox(mailbox)
        self.assertEqual((inbox.last_uid, inbox.backfill_below), (10, 5))
        owner_box = mailbox.with_user(self.user_a)
        self.assertTrue(owner_box.first_sync_running)
        self.assertEqual(owner_box.first_sync_progress, "6 of 10")
        # Administrators see it in Mailbox Health.
        admin_box = mailbox.with_user(self.env.ref("base.user_admin"))
        self.assertEqual(admin_box.first_sync_progress, "6 of 10")

        # New mail arrived meanwhile: the resumed sync takes it and finishes the backfill.
        self.append(login, pw, "INBOX", self._joe_mail(login, ["New 1", "New 2"]))
        with self._options():
            owner_box.action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self._assert_each_once(mailbox, [*subjects, "New 1", "New 2"])
        self.assertEqual((inbox.last_uid, inbox.backfill_below), (12, 0))
        self.assertEqual((inbox.backfill_done, inbox.backfill_total), (10, 10))
        self.assertFalse(owner_box.first_sync_running)
        self.assertFalse(owner_box.first_sync_progress)
        self.assertEqual(mailbox.backlog, 0)
        # Nothing more to do.
        with self._options():
            owner_box.action_sync_now()
        self.assertEqual(mailbox.last_imported, 0)

    def test_new_uidvalidity_during_the_backfill_starts_it_again_without_duplicates(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        subjects = [f"Mail {i}" for i in range(7)]
        self.append(login, pw, "INBOX", self._joe_mail(login, subjects))
        with self._options():
            self._sync_dropped_after(mailbox, 1)
        inbox = self._inbox(mailbox)
        old_validity = inbox.uidvalidity
        self.dovecot.set_uidvalidity(login, "INBOX")
        with self._options():
            mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self.assertNotEqual(inbox.uidvalidity, old_validity)
        self._assert_each_once(mailbox, subjects)
        self.assertEqual(sorted(self._presences(mailbox).mapped("uid")), list(range(1, 8)))
        self.assertEqual(
            (inbox.backfill_below, inbox.backfill_done, inbox.backfill_total), (0, 7, 7)
        )

    def test_progress_uses_the_language_grouping(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        self.env["crm.mailbox.folder"].create(
            {
                "mailbox_id": mailbox.id,
                "name": "INBOX",
                "role": "inbox",
                "last_uid": 60000,
                "backfill_below": 35000,
                "backfill_done": 12400,
                "backfill_total": 48000,
            }
        )
        self.assertEqual(mailbox.with_user(self.user_a).first_sync_progress, "12,400 of 48,000")
        lang = self.env["res.lang"]._activate_lang("fr_FR")
        expected = [lang.format("%d", n, grouping=True) for n in (12400, 48000)]
        self.assertNotEqual(expected[0], "12,400")
        progress = mailbox.with_user(self.user_a).with_context(lang="fr_FR").first_sync_progress
        self.assertIn(expected[0], progress)
        self.assertIn(expected[1], progress)

    def test_paused_first_sync_takes_new_mail_only_until_resumed(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        subjects = [f"Mail {i}" for i in range(9)]
        self.append(login, pw, "INBOX", self._joe_mail(login, subjects))
        with self._options():
            self._sync_dropped_after(mailbox, 1)
        owner_box = mailbox.with_user(self.user_a)
        self.assertEqual(owner_box.first_sync_progress, "3 of 9")
        owner_box.action_pause_first_sync()
        self.assertTrue(mailbox.first_sync_paused)

        self.append(login, pw, "INBOX", self._joe_mail(login, ["While paused"]))
        with self._options():
            owner_box.action_sync_now()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self._assert_each_once(mailbox, [*subjects[6:], "While paused"])
        self.assertEqual(owner_box.first_sync_progress, "3 of 9")
        # A held backfill is no backlog: the scheduled job does not come back for it at once.
        self.assertEqual(mailbox.backlog, 0)

        owner_box.action_resume_first_sync()
        self.assertFalse(mailbox.first_sync_paused)
        with self._options():
            owner_box.action_sync_now()
        self._assert_each_once(mailbox, [*subjects, "While paused"])
        self.assertFalse(owner_box.first_sync_running)

    def test_cron_counts_the_backfill_as_remaining_work(self):
        self.env["crm.mailbox"].sudo().search([]).write({"state": "paused"})
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", self._joe_mail(login, ["One", "Two", "Three"]))
        cron = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        Mailbox = self.env["crm.mailbox"].with_context(ir_cron_progress_id=progress.id)
        # No time at all: the backfill is set up, nothing imported, and it is work left.
        self.assertEqual(Mailbox._cron_sync_mailboxes(max_seconds=0), 1)
        self.assertEqual(mailbox.backlog, 3)
        self.assertEqual((progress.done, progress.remaining), (1, 1))
        self.assertEqual(mailbox.with_user(self.user_a).first_sync_progress, "0 of 3")
        # Paused, it is not.
        mailbox.with_user(self.user_a).action_pause_first_sync()
        self.assertEqual(Mailbox._cron_sync_mailboxes(max_seconds=0), 1)
        self.assertEqual(mailbox.backlog, 0)
        self.assertEqual((progress.done, progress.remaining), (1, 0))

    # ------------------------------------------------------------------ who may pause
    def test_only_owner_or_administrator_pauses_and_nobody_writes_the_cursor(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        folder = self.env["crm.mailbox.folder"].create(
            {"mailbox_id": mailbox.id, "name": "INBOX", "role": "inbox", "backfill_below": 9}
        )
        colleague_box = mailbox.with_user(self.user_b)
        with self.assertRaises(AccessError):
            colleague_box.action_pause_first_sync()
        with self.assertRaises(AccessError):
            colleague_box.action_resume_first_sync()
        with self.assertRaises(AccessError):
            colleague_box.write({"first_sync_paused": True})
        with self.assertRaises(AccessError):
            folder.with_user(self.user_b).write({"backfill_below": 0, "backfill_done": 5})
        # The owner only through the buttons, never by writing the fields.
        owner_box = mailbox.with_user(self.user_a)
        with self.assertRaises(AccessError):
            owner_box.write({"first_sync_paused": True})
        with self.assertRaises(AccessError):
            folder.with_user(self.user_a).write({"backfill_total": 1})
        with self.assertRaises(AccessError):
            self.env["crm.mailbox"].with_user(self.user_b).create(
                {"host": "127.0.0.1", "login": "x@y.example", "first_sync_paused": True}
            )
        owner_box.action_pause_first_sync()
        self.assertTrue(mailbox.first_sync_paused)
        mailbox.with_user(self.env.ref("base.user_admin")).action_resume_first_sync()
        self.assertFalse(mailbox.first_sync_paused)
        self.assertEqual(folder.backfill_below, 9)

    # ------------------------------------------------------------------ deal links
    def _conversations(self, login, sent):
        """Raw mail of several threads, oldest first; and the new reply that arrives later.

        Ann and Carl have one open deal each, Joe several; ``sent`` was sent from deal_2.
        """
        start = datetime.now() - timedelta(days=5)
        ids = {name: new_msgid() for name in ("a1", "a2", "a3", "b1", "b2", "c1", "c2")}
        ids.update({name: new_msgid() for name in ("d1", "d2", "d3", "e")})
        joe, ann, carl = "joe@acme.example", "ann@acme.example", "carl@beta.example"

        def mail(name, sender, hours, parent=None, refs=(), cc=()):
            raw = make_mail(
                sender,
                login,
                subject=f"Thread {name}",
                message_id=ids[name],
                date=start + timedelta(hours=hours),
                cc=cc,
            )
            headers = {}
            if parent:
                headers["In-Reply-To"] = ids.get(parent, parent)
            if refs:
                headers["References"] = " ".join(ids.get(r, r) for r in refs)
            return with_headers(raw, headers) if headers else raw

        ordered = [
            mail("a1", ann, 1),  # Ann's only open deal
            mail("b1", joe, 2),  # Joe: several open deals, a person decides
            mail("d1", carl, 3),  # Carl's only open deal
            mail("a2", joe, 4, "a1", ["a1"], cc=[ann]),  # follows a1
            mail("c1", joe, 5, sent, [sent]),  # answers mail sent from deal_2
            mail("d2", ann, 6, "d1", ["d1"]),  # Ann answering Carl's thread: follows d1
            mail("b2", joe, 7, "b1", ["b1"]),
            mail("a3", joe, 8, "a2"),  # In-Reply-To only: follows a2
            mail("c2", carl, 9, "c1", [sent, "c1"]),
            mail("d3", carl, 10, "d2", ["d1", "d2"]),
        ]
        later = mail("e", ann, 11, "a3")  # arrives during the backfill
        return ids, ordered, later

    def _links(self, ids):
        emails = self.env["crm.email"].sudo().search([("message_id", "in", list(ids.values()))])
        self.assertEqual(len(emails), len(ids), "each message stored once")
        by_id = {e.message_id: (e.lead_id, e.link_reason, e.needs_deal) for e in emails}
        return {name: by_id[mid] for name, mid in ids.items()}

    def test_deal_links_are_those_of_an_oldest_first_sync(self):
        self.set_single_open_deal(True)
        carl = self.env["res.partner"].create({"name": "Carl", "email": "carl@beta.example"})
        deal_carl = self.env["crm.lead"].create(
            {
                "name": "Carl: pilot",
                "partner_id": carl.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
            }
        )
        mailbox, login, pw = self.make_mailbox(self.user_a)
        sent = self.make_email(self.joe, lead=self.deal_2, reason="sent_from_deal", mailbox=mailbox)
        sent.sudo().sent_from_crm = True
        ids, ordered, later = self._conversations(login, sent.message_id)
        self.append(login, pw, "INBOX", ordered)

        # Newest first, stopped after two batches of two, the new reply arrives, resumed.
        with contextlib.suppress(_Undo), self.env.cr.savepoint():
            with self._options(batch_size=2):
                self._sync_dropped_after(mailbox, 2)
            self.append(login, pw, "INBOX", [later])
            with self._options(batch_size=2):
                mailbox.sudo()._sync()
            self.assertEqual(mailbox.state, "connected", mailbox.last_error)
            self.assertFalse(self._inbox(mailbox).backfill_below)
            newest_first = self._links(ids)
            raise _Undo
        self.env.invalidate_all()
        self.assertFalse(self._presences(mailbox).filtered("uid"), "rolled back")

        with self._options(batch_size=2, newest_first=False):
            mailbox.sudo()._sync()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        self.assertFalse(self._inbox(mailbox).backfill_below)
        oldest_first = self._links(ids)

        self.assertEqual(newest_first, oldest_first)
        thread = "thread"
        expected = {
            "a1": (self.deal_ann, "single_open_deal", False),
            "a2": (self.deal_ann, thread, False),
            "a3": (self.deal_ann, thread, False),
            "e": (self.deal_ann, thread, False),
            "b1": (self.env["crm.lead"], False, True),
            "b2": (self.env["crm.lead"], False, True),
            "c1": (self.deal_2, thread, False),
            "c2": (self.deal_2, thread, False),
            "d1": (deal_carl, "single_open_deal", False),
            "d2": (deal_carl, thread, False),
            "d3": (deal_carl, thread, False),
        }
        self.assertEqual(oldest_first, expected)

    def test_manual_link_of_an_answer_stays_when_its_parent_arrives(self):
        self.set_single_open_deal(True)
        mailbox, login, pw = self.make_mailbox(self.user_a)
        root_id, reply_id = new_msgid(), new_msgid()
        root = make_mail("ann@acme.example", login, subject="Root", message_id=root_id)
        reply = with_headers(
            make_mail("joe@acme.example", login, subject="Reply", message_id=reply_id),
            {"In-Reply-To": root_id, "References": root_id},
        )
        self.append(login, pw, "INBOX", [root, reply])
        with self._options(batch_size=1):
            self._sync_dropped_after(mailbox, 1)
        stored = self.env["crm.email"].sudo().search([("message_id", "=", reply_id)])
        self.assertTrue(stored.needs_deal)
        stored._crm_set_deal(self.deal_1)  # a person decided meanwhile
        with self._options(batch_size=1):
            mailbox.sudo()._sync()
        self.assertEqual((stored.lead_id, stored.link_reason), (self.deal_1, "manual"))
        parent = self.env["crm.email"].sudo().search([("message_id", "=", root_id)])
        self.assertEqual(parent.lead_id, self.deal_ann)
