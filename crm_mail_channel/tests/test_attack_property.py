"""A property-based attacker: random sequences of what a colleague can do never expose content.

The attacker has their own mailbox in the test Dovecot and the RPC calls of a salesman. Each
example runs a random sequence of: append a message carrying a chosen (or one of the victim's)
Message-ID or References to their mailbox and sync it, write fields of emails, post on their
deal with a chosen ``message_id``, open the relink or pull-threads wizard on the victim's mail.
The reference (crm_mail_channel_testing.sharing_reference.content_readers) says who may read
content: only holders of a copy with the same fingerprint, and those they share it with.
Everyone here is in private mode, so the attacker may read no content of the victim's mail.
"""

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tests import tagged

from crm_mail_channel_core import identity, mime
from crm_mail_channel_testing import sharing_reference

from .common import MailboxCommon, make_mail

SECRETS = ["SECRET-ALPHA-1", "SECRET-BRAVO-2", "SECRET-CHARLIE-3"]
FIELDS = ["sent_from_crm", "lead_id", "partner_ids", "subject", "is_read", "thread_key"]

action = st.one_of(
    st.tuples(
        st.just("append"),
        st.sampled_from([None, 0, 1, 2]),  # Message-ID: fresh, or one of the victim's
        st.sampled_from([None, 0, 1, 2]),  # References: none, or one of the victim's
        st.text(alphabet="abcdefgh ", min_size=0, max_size=12),
    ),
    st.tuples(st.just("write"), st.sampled_from(FIELDS), st.sampled_from([0, 1, 2, "own"])),
    st.tuples(st.just("post"), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("relink"), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("pull"), st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=3)),
)


class _Rollback(Exception):
    pass


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttackerProperty(MailboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim, cls.attacker = cls.user_a, cls.user_b
        (cls.victim | cls.attacker).write({"email_sharing_mode": "private"})
        cls.victim_box, login, password = cls.make_mailbox(cls, cls.victim)
        cls.victim_ids = [f"<v{n}-{login}@acme.example>" for n in range(3)]
        raws = [
            make_mail(
                "Joe Customer <joe@acme.example>",
                "alice@ourco.example",
                subject=f"Private {secret}",
                body=f"Body {secret}",
                message_id=message_id,
                attachments=[("s.txt", "text/plain", secret.encode())],
            )
            for secret, message_id in zip(SECRETS, cls.victim_ids, strict=True)
        ]
        cls.victim_copies = [
            (cls.victim.id, parsed.message_id, identity.content_fingerprint(parsed))
            for parsed in map(mime.parse_message, raws)
        ]
        cls.append(cls, login, password, "INBOX", raws)
        cls.victim_box.with_user(cls.victim).action_sync_now()
        Email = cls.env["crm.email"].sudo()
        cls.victim_emails = [Email.search([("message_id", "=", mid)]) for mid in cls.victim_ids]
        cls.victim_deal = cls.env["crm.lead"].create(
            {"name": "V", "partner_id": cls.joe.id, "type": "opportunity", "user_id": cls.victim.id}
        )
        cls.victim_emails[0].write({"lead_id": cls.victim_deal.id, "link_reason": "manual"})
        cls.attacker_deal = cls.env["crm.lead"].create(
            {
                "name": "A",
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.attacker.id,
            }
        )

    def snapshot(self):
        rows = []
        for email in self.victim_emails:
            email.invalidate_recordset()
            rows.append(
                (
                    email.fingerprint,
                    email.reader_keys,
                    email.sent_from_crm,
                    email.lead_id.id,
                    tuple(email.partner_ids.ids),
                    email.subject,
                    tuple(email.presence_ids.user_id.ids),
                )
            )
        return rows

    def run_actions(self, actions):
        mailbox, login, password = self.make_mailbox(self.attacker)
        Email = self.env["crm.email"].with_user(self.attacker)
        copies = list(self.victim_copies)
        for act in actions:
            kind = act[0]
            if kind == "append":
                _kind, mid, ref, text = act
                headers = {}
                if ref is not None:
                    headers = {
                        "References": self.victim_ids[ref],
                        "In-Reply-To": self.victim_ids[ref],
                    }
                raw = make_mail(
                    "Joe Customer <joe@acme.example>",
                    "bob@ourco.example",
                    subject=f"Private {text}",
                    body=text or "x",
                    message_id=self.victim_ids[mid] if mid is not None else True,
                    headers=headers,
                )
                parsed = mime.parse_message(raw)
                copies.append(
                    (self.attacker.id, parsed.message_id, identity.content_fingerprint(parsed))
                )
                self.append(login, password, "INBOX", [raw])
                mailbox.with_user(self.attacker).action_sync_now()
            elif kind == "write":
                _kind, field, target = act
                emails = (
                    Email.search([])
                    if target == "own"
                    else Email.browse(self.victim_emails[target].id)
                )
                value = {
                    "sent_from_crm": True,
                    "lead_id": self.attacker_deal.id,
                    "partner_ids": [Command.set(self.ann.ids)],
                    "subject": "mine now",
                    "is_read": True,
                    "thread_key": self.victim_ids[0],
                }[field]
                if target == "own" and field == "is_read":
                    emails.write({field: value})
                elif emails:
                    with self.assertRaises(AccessError):
                        emails.write({field: value})
            elif kind == "post":
                self.attacker_deal.with_user(self.attacker).message_post(
                    body="hi",
                    message_id=self.victim_ids[act[1]],
                    partner_ids=self.joe.ids,
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                )
            elif kind == "relink":
                with contextlib.suppress(AccessError, UserError):
                    wizard = (
                        self.env["crm.email.relink.wizard"]
                        .with_user(self.attacker)
                        .create({"email_id": self.victim_emails[act[1]].id})
                    )
                    self.assert_no_secret(
                        f"{wizard.current_lead_id.display_name} {wizard.new_lead_name} "
                        f"{wizard.link_reason}"
                    )
                    wizard.write({"action": "move", "lead_id": self.attacker_deal.id})
                    wizard.action_apply()
            elif kind == "pull":
                ids = [self.victim_emails[n].id for n in act[1]]
                with contextlib.suppress(AccessError, UserError):
                    wizard = (
                        self.env["crm.lead.pull.threads.wizard"]
                        .with_user(self.attacker)
                        .create({"lead_id": self.attacker_deal.id, "email_ids": [Command.set(ids)]})
                    )
                    wizard.action_apply()
        return copies

    def assert_no_secret(self, text):
        for secret in SECRETS:
            self.assertNotIn(secret, text or "")

    def readable_text(self, user):
        Email = self.env["crm.email"].with_user(user)
        Email.invalidate_model()
        chunks = []
        for email in Email.search([]):
            chunks += [email.subject or "", email.body_html or "", email.preview or ""]
            chunks += [a.raw.decode(errors="replace") for a in email.attachment_ids]
        for content in self.env["crm.email.content"].with_user(user).search([]):
            chunks += [content.subject or "", content.body_html or ""]
        attachments = (
            self.env["ir.attachment"]
            .with_user(user)
            .search([("res_model", "in", ["crm.email", "crm.email.content"])])
        )
        chunks += [a.raw.decode(errors="replace") for a in attachments]
        return "\n".join(chunks)

    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(actions=st.lists(action, min_size=1, max_size=6))
    def test_attacker_never_reads_what_the_reference_forbids(self, actions):
        before = self.snapshot()
        with contextlib.suppress(_Rollback), self.env.cr.savepoint():
            copies = self.run_actions(actions)
            text = self.readable_text(self.attacker)
            for secret, (_owner, mid, fingerprint) in zip(SECRETS, self.victim_copies, strict=True):
                readers = sharing_reference.content_readers(copies, mid, fingerprint)
                if self.attacker.id not in readers:
                    self.assertNotIn(secret, text, actions)
            self.assertEqual(self.snapshot(), before, actions)
            # The victim still reads all of their own mail.
            victim_text = self.readable_text(self.victim)
            for secret in SECRETS:
                self.assertIn(secret, victim_text)
            raise _Rollback
        self.env.invalidate_all()
