"""SalesInbox: columns as the current user, counts, custom columns and who may change them,
the live "Not in CRM" column against Dovecot, and Create contact / Create lead."""

from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..models import crm_email_sales_inbox_live as crm_email_sales_inbox
from .deal_common import DealCommon, make_mail, new_msgid

LIVE = crm_email_sales_inbox.LIVE_CACHE


def by_key(inbox):
    return {column["key"]: column for column in inbox}


def card_ids(column):
    return [card["email_id"] for card in column["cards"]]


class SalesInboxCommon(DealCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.won_stage = cls.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        cls.deal_won = cls.env["crm.lead"].create(
            {
                "name": "Joe: won last year",
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.user_a.id,
                "stage_id": cls.won_stage.id,
            }
        )

    def setUp(self):
        super().setUp()
        LIVE.clear()
        self.addCleanup(LIVE.clear)

    def colleague_mail(self, owner, subject="Lunch?", date=None):
        email = (
            self.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": new_msgid(),
                    "fingerprint": "test",
                    "subject": subject,
                    "date": date or fields.Datetime.now(),
                    "email_from": self.user_b.email,
                    "email_to": self.user_a.email,
                    "body_html": "<p>Inside talk</p>",
                    "preview": "Inside talk",
                }
            )
        )
        mailbox = self._owner_mailbox(owner)
        self.env["crm.email.presence"].sudo().create(
            {"email_id": email.id, "mailbox_id": mailbox.id, "uid": 0}
        )
        self.assertTrue(email.is_colleague_mail)
        return email

    def inbox(self, user, **kwargs):
        return self.env["crm.email"].with_user(user).get_sales_inbox(**kwargs)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSalesInbox(SalesInboxCommon):
    def setUp(self):
        super().setUp()
        now = fields.Datetime.now()
        self.e_deal = self.make_email(
            self.joe, lead=self.deal_1, reason="manual", subject="Quote", date=now, link=False
        )
        self.e_old_deal = self.make_email(
            self.joe,
            lead=self.deal_2,
            reason="manual",
            subject="Support",
            date=now - timedelta(days=2),
            link=False,
        )
        self.e_contact = self.make_email(self.ann, subject="Training", date=now, link=False)
        self.e_won = self.make_email(
            self.joe, lead=self.deal_won, reason="manual", subject="Won thanks", link=False
        )
        self.e_colleague = self.colleague_mail(self.user_a)
        # Bob's private mail with Joe, on Alice's deal: never Alice's.
        self.e_bob_private = self.make_email(
            self.joe,
            owner=self.user_b,
            lead=self.deal_1,
            reason="manual",
            subject="Bob private",
            link=False,
        )
        self.e_bob_colleague = self.colleague_mail(self.user_b, subject="Bob's lunch")

    def test_builtin_columns_and_cards(self):
        inbox = self.inbox(self.user_a)
        self.assertEqual(
            [c["key"] for c in inbox], ["deals", "contacts", "not_in_crm", "colleagues"]
        )
        columns = by_key(inbox)
        # Deals: open deals only, newest first.
        self.assertEqual(card_ids(columns["deals"]), [self.e_deal.id, self.e_old_deal.id])
        self.assertEqual(set(card_ids(columns["contacts"])), {self.e_contact.id, self.e_won.id})
        self.assertEqual(card_ids(columns["colleagues"]), [self.e_colleague.id])
        card = columns["deals"]["cards"][0]
        self.assertEqual(card["subject"], "Quote")
        self.assertEqual(card["lead_id"], self.deal_1.id)
        self.assertEqual(card["deal"]["name"], self.deal_1.name)
        self.assertEqual(card["deal"]["stage"], self.deal_1.stage_id.name)
        self.assertTrue(card["unread"])
        self.assertTrue(card["is_mine"])
        self.assertEqual(card["email_from"], self.joe.email)
        contact_cards = {c["email_id"]: c for c in columns["contacts"]["cards"]}
        self.assertFalse(contact_cards[self.e_contact.id]["deal"])
        # Mail on a won deal is no deal card, but still shows its deal.
        self.assertEqual(contact_cards[self.e_won.id]["deal"]["stage"], self.won_stage.name)
        # No mailbox that can be read live: the column says what to do.
        self.assertEqual(columns["not_in_crm"]["cards"], [])
        self.assertIn("Connect your mailbox", columns["not_in_crm"]["error"])

    def test_counts_are_what_the_user_may_see(self):
        Email = self.env["crm.email"]
        for user in (self.user_a, self.user_b):
            for column in self.inbox(user, limit=1):
                if column["kind"] == "not_in_crm":
                    continue
                domain = Email._sales_inbox_builtin_domain(column["kind"])
                self.assertEqual(
                    column["count"], Email.with_user(user).search_count(domain), column["key"]
                )
        columns = by_key(self.inbox(self.user_a, limit=1))
        self.assertEqual(columns["deals"]["count"], 2)
        self.assertEqual(len(columns["deals"]["cards"]), 1)

    def test_attack_colleague_never_sees_private_mail(self):
        for user, foreign in (
            (self.user_a, self.e_bob_private | self.e_bob_colleague),
            (self.user_b, self.e_deal | self.e_contact | self.e_colleague),
        ):
            inbox = self.inbox(user, limit=200)
            shown = {card["email_id"] for column in inbox for card in column["cards"]}
            self.assertFalse(shown & set(foreign.ids), user.login)
            # Also not through a filter of one's own.
            self.env["crm.sales.inbox.column"].with_user(user).create(
                {"name": "Everything", "domain": "[]"}
            )
            inbox = self.inbox(user, limit=200)
            shown = {card["email_id"] for column in inbox for card in column["cards"]}
            self.assertFalse(shown & set(foreign.ids), user.login)
        columns = by_key(self.inbox(self.user_b))
        self.assertEqual(card_ids(columns["colleagues"]), [self.e_bob_colleague.id])
        # Bob cannot open Alice's deal: his mail on it is not a deal card for him, and he
        # reads none of the deal.
        self.assertNotIn(self.e_bob_private.id, card_ids(columns["deals"]))

    def test_shared_mail_card_has_no_read_state(self):
        self.user_b.sudo().write({"email_sharing_mode": "public"})
        self.user_a.sudo().write(
            {"groups_id": [(4, self.env.ref("sales_team.group_sale_salesman_all_leads").id)]}
        )
        columns = by_key(self.inbox(self.user_a))
        card = next(c for c in columns["deals"]["cards"] if c["email_id"] == self.e_bob_private.id)
        self.assertFalse(card["is_mine"])
        self.assertFalse(card["unread"])

    def test_custom_columns_order_and_hidden(self):
        Column = self.env["crm.sales.inbox.column"].with_user(self.user_a)
        self.inbox(self.user_a)
        builtin = Column.search([])
        self.assertEqual(builtin.mapped("kind"), ["deals", "contacts", "not_in_crm", "colleagues"])
        mine = Column.create({"name": "Quotes", "domain": "[('subject', 'ilike', 'quote')]"})
        builtin.filtered(lambda c: c.kind == "colleagues").write({"hidden": True})
        mine.sequence = 1
        inbox = self.inbox(self.user_a)
        self.assertEqual([c["key"] for c in inbox], [mine.id, "deals", "contacts", "not_in_crm"])
        self.assertEqual(card_ids(inbox[0]), [self.e_deal.id])
        self.assertEqual(inbox[0]["label"], "Quotes")
        # A hidden column is still loaded when asked for.
        asked = self.inbox(self.user_a, columns=["colleagues", mine.id])
        self.assertEqual([c["key"] for c in asked], ["colleagues", mine.id])
        self.assertTrue(asked[0]["hidden"])
        # Built-in rows exist once per user.
        self.inbox(self.user_a)
        self.assertEqual(len(Column.search([("kind", "=", "deals")])), 1)

    def test_preset_columns(self):
        Email = self.env["crm.email"].with_user(self.user_a)
        presets = {p["name"]: p["domain"] for p in Email.get_sales_inbox_presets()}
        self.assertIn("Closing this month", presets)
        self.assertIn("Awaiting my reply", presets)
        self.assertEqual("Opened but not answered" in presets, "crm.email.tracking" in self.env)
        self.deal_1.date_deadline = fields.Date.today()
        self.deal_2.date_deadline = fields.Date.today() + timedelta(days=62)
        Column = self.env["crm.sales.inbox.column"].with_user(self.user_a)
        columns = Column.create(
            [{"name": name, "domain": domain} for name, domain in presets.items()]
        )
        inbox = {c["label"]: c for c in self.inbox(self.user_a, columns=columns.ids)}
        self.assertEqual(card_ids(inbox["Closing this month"]), [self.e_deal.id])
        self.assertEqual(
            set(card_ids(inbox["Awaiting my reply"])),
            {self.e_deal.id, self.e_old_deal.id, self.e_contact.id, self.e_won.id},
        )
        # Alice answers Joe's quote from her mailbox: no longer awaiting her reply.
        reply = self.make_email(
            self.joe,
            subject="Re: Quote",
            in_reply_to=self.e_deal.message_id,
            references=self.e_deal.message_id,
            link=False,
        )
        reply.sudo().presence_ids.folder_id = (
            self.env["crm.mailbox.folder"]
            .sudo()
            .create(
                {"mailbox_id": self._owner_mailbox(self.user_a).id, "name": "Sent", "role": "sent"}
            )
        )
        inbox = {c["label"]: c for c in self.inbox(self.user_a, columns=columns.ids)}
        self.assertNotIn(self.e_deal.id, card_ids(inbox["Awaiting my reply"]))

    def test_column_filter_refused_when_invalid_or_restricted(self):
        Column = self.env["crm.sales.inbox.column"].with_user(self.user_a)
        for domain in ("[('nope', '=', 1)]", "[('fingerprint', '=', 'x')]", "not a domain"):
            with self.assertRaises(ValidationError, msg=domain):
                Column.create({"name": "Bad", "domain": domain})
        builtin = Column._crm_columns_of_user()[:1]
        with self.assertRaises(ValidationError):
            builtin.write({"domain": "[]"})
        with self.assertRaises(ValidationError):
            builtin.unlink()

    def test_attack_columns_of_another_user(self):
        alices = (
            self.env["crm.sales.inbox.column"]
            .with_user(self.user_a)
            .create({"name": "Alice's", "domain": "[('subject', 'ilike', 'quote')]"})
        )
        Bob = self.env["crm.sales.inbox.column"].with_user(self.user_b)
        self.assertFalse(Bob.search([("id", "=", alices.id)]))
        with self.assertRaises(AccessError):
            alices.with_user(self.user_b).write({"name": "Mine now", "domain": "[]"})
        with self.assertRaises(AccessError):
            alices.with_user(self.user_b).unlink()
        with self.assertRaises(AccessError):
            alices.with_user(self.user_b).read(["domain"])
        with self.assertRaises(AccessError):
            Bob.create({"name": "Planted", "domain": "[]", "user_id": self.user_a.id})
        bobs = Bob.create({"name": "Bob's", "domain": "[]"})
        with self.assertRaises(AccessError):
            bobs.write({"user_id": self.user_a.id})
        with self.assertRaises(AccessError):
            Bob.create({"name": "Fake deals", "kind": "deals"})
        # Asking for Alice's column by id loads nothing.
        self.assertEqual(self.inbox(self.user_b, columns=[alices.id]), [])
        self.assertEqual(alices.sudo().user_id, self.user_a)
        self.assertEqual(alices.sudo().name, "Alice's")


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSalesInboxLive(SalesInboxCommon):
    """Not in CRM against Dovecot: never \\Seen, cached, never another user's."""

    def setUp(self):
        super().setUp()
        self.mailbox, self.login, self.password = self.make_mailbox(self.user_a)
        self.append(
            self.login,
            self.password,
            "INBOX",
            [
                make_mail(
                    "Nora New <nora@newco.example>",
                    self.login,
                    subject="Interested in your product",
                    body="Hello, we would like a demo next week.",
                    date=datetime.now(timezone.utc) - timedelta(days=3),
                ),
                make_mail("Joe Customer <joe@acme.example>", self.login, subject="From Joe"),
                make_mail("Bob Seller <bob@ourco.example>", self.login, subject="Internal"),
                make_mail(
                    "Nora New <nora@newco.example>",
                    self.login,
                    subject="Following up",
                    body="Any news?",
                ),
            ],
        )
        self.append(
            self.login,
            self.password,
            "Sent",
            [make_mail(self.user_a.email, "nora@newco.example", subject="Re: Interested")],
            flags=[b"\\Seen"],
        )

    def server_flags(self):
        client = self.imap(self.login, self.password)
        try:
            client.select_folder("INBOX", readonly=True)
            data = client.fetch(client.search(["ALL"]), ["FLAGS"])
            return {uid: tuple(item[b"FLAGS"]) for uid, item in data.items()}
        finally:
            client.logout()

    def live(self, user, **kwargs):
        return by_key(self.inbox(user, columns=["not_in_crm"], **kwargs))["not_in_crm"]

    def test_live_column_unknown_senders_only_never_seen(self):
        before = self.server_flags()
        column = self.live(self.user_a)
        self.assertFalse(column["error"])
        self.assertEqual(
            [c["subject"] for c in column["cards"]], ["Following up", "Interested in your product"]
        )
        self.assertEqual(column["count"], 2)
        card = column["cards"][0]
        self.assertFalse(card["email_id"])
        self.assertFalse(card["lead_id"])
        self.assertTrue(card["unread"])
        self.assertEqual(card["sender_email"], "nora@newco.example")
        self.assertEqual(card["preview"], "Any news?")
        self.assertEqual(self.server_flags(), before)
        # Nothing stored.
        self.assertFalse(
            self.env["crm.email"].sudo().search([("email_from", "ilike", "nora@newco")])
        )

    def test_live_column_says_why_the_mailbox_cannot_be_read(self):
        self.mailbox.sudo().password = "not the password"
        column = self.live(self.user_a)
        self.assertEqual(column["cards"], [])
        self.assertEqual(column["count"], 0)
        self.assertTrue(column["error"])
        # The stored columns still load.
        self.assertIn("deals", by_key(self.inbox(self.user_a)))

    def test_live_colleague_mail_in_colleagues(self):
        stored = self.colleague_mail(
            self.user_a,
            subject="Stored between us",
            date=fields.Datetime.now() - timedelta(days=1),
        )
        columns = by_key(self.inbox(self.user_a))
        colleagues = columns["colleagues"]
        self.assertEqual([c["subject"] for c in colleagues["cards"]], ["Internal", stored.subject])
        self.assertEqual(colleagues["count"], 2)
        live = colleagues["cards"][0]
        self.assertFalse(live["email_id"])
        self.assertFalse(live["can_create"])
        self.assertEqual(live["sender_email"], "bob@ourco.example")
        # Bob's view of his own (no mailbox): only what is stored and his.
        self.assertEqual(by_key(self.inbox(self.user_b))["colleagues"]["cards"], [])

    def test_live_column_cached_per_user(self):
        real = crm_email_sales_inbox.inbox_preview.fetch_inbox_previews
        with patch.object(
            crm_email_sales_inbox.inbox_preview, "fetch_inbox_previews", side_effect=real
        ) as fetch:
            self.live(self.user_a)
            self.append(
                self.login,
                self.password,
                "INBOX",
                [make_mail("Paul Prospect <paul@prospect.example>", self.login, subject="Hi")],
            )
            self.assertEqual(len(self.live(self.user_a)["cards"]), 2)  # from the cache
            self.assertEqual(fetch.call_count, 1)
            # Two minutes later, read again.
            with patch.object(LIVE, "clock", return_value=LIVE.clock() + 121):
                self.assertEqual(len(self.live(self.user_a)["cards"]), 3)
            self.assertEqual(fetch.call_count, 2)
            self.assertEqual(len(self.live(self.user_a, refresh=True)["cards"]), 3)
            self.assertEqual(fetch.call_count, 3)
            # Bob has no mailbox: Alice's cached mail is never his.
            column = self.live(self.user_b)
            self.assertEqual(column["cards"], [])
            self.assertEqual(fetch.call_count, 3)
            # An administrator neither.
            self.assertEqual(self.live(self.env.ref("base.user_admin"))["cards"], [])

    def test_create_contact_brings_past_mail(self):
        self.mailbox.with_user(self.user_a).action_sync_now()
        Email = self.env["crm.email"].with_user(self.user_a)
        self.assertFalse(Email.search([("email_from", "ilike", "nora@newco")]))
        before = self.server_flags()
        self.live(self.user_a)  # cached
        result = Email.sales_inbox_create_contact("Nora@NewCo.example", "Nora New")
        partner = self.env["res.partner"].browse(result["partner_id"])
        self.assertEqual(partner.name, "Nora New")
        self.assertEqual(partner.email, "nora@newco.example")
        self.assertEqual(result["imported"], 3)
        emails = Email.search([("partner_ids", "in", partner.ids)])
        self.assertEqual(
            sorted(emails.mapped("subject")),
            ["Following up", "Interested in your product", "Re: Interested"],
        )
        self.assertEqual(self.server_flags(), before)
        # Nora is now a contact: her mail is in Contacts, no longer in Not in CRM.
        columns = by_key(self.inbox(self.user_a))
        self.assertEqual(columns["not_in_crm"]["cards"], [])
        self.assertTrue(set(emails.ids) <= set(card_ids(columns["contacts"])))
        # Bob does not see Alice's private mail with Nora.
        self.assertFalse(
            self.env["crm.email"].with_user(self.user_b).search([("id", "in", emails.ids)])
        )

    def test_create_lead_links_the_past_mail(self):
        self.mailbox.with_user(self.user_a).action_sync_now()
        Email = self.env["crm.email"].with_user(self.user_a)
        result = Email.sales_inbox_create_contact(
            "nora@newco.example", "Nora New", "Interested in your product", True
        )
        lead = self.env["crm.lead"].browse(result["lead_id"])
        self.assertEqual(lead.name, "Interested in your product")
        self.assertEqual(lead.partner_id.id, result["partner_id"])
        self.assertEqual(lead.user_id, self.user_a)
        self.assertEqual(result["action"]["res_model"], "crm.lead")
        emails = Email.search([("partner_ids", "in", lead.partner_id.ids)])
        self.assertEqual(len(emails), 3)
        self.assertEqual(emails.lead_id, lead)
