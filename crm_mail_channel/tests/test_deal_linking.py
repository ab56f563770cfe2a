"""Deal linking of synced mail: thread, sent from deal, only open deal, ambiguity."""

from odoo.tests import tagged

from .deal_common import DealCommon, make_mail, new_msgid, with_headers


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestDealLinking(DealCommon):
    def test_reply_in_a_linked_thread_joins_its_deal(self):
        root = self.make_email(self.joe, lead=self.deal_2, reason="manual")
        reply = self.make_email(
            self.joe,
            in_reply_to=root.message_id,
            references=root.message_id,
        )
        self.assertEqual(reply.lead_id, self.deal_2)
        self.assertEqual(reply.link_reason, "thread")
        self.assertFalse(reply.needs_deal)
        # A later forward that only keeps References still finds the thread.
        forward = self.make_email(self.joe, references=f"{root.message_id} {reply.message_id}")
        self.assertEqual((forward.lead_id, forward.link_reason), (self.deal_2, "thread"))

    def test_batch_links_answers_to_mail_of_the_same_batch(self):
        root = self.make_email(self.joe, lead=self.deal_1, reason="manual")
        first = self.make_email(
            self.joe, in_reply_to=root.message_id, references=root.message_id, link=False
        )
        second = self.make_email(
            self.joe, in_reply_to=first.message_id, references=f"{first.message_id}", link=False
        )
        (first | second)._apply_deal_links()
        self.assertEqual(first.lead_id, self.deal_1)
        self.assertEqual(second.lead_id, self.deal_1)
        self.assertEqual(second.link_reason, "thread")

    def test_several_open_deals_are_never_guessed(self):
        email = self.make_email(self.joe)
        self.assertFalse(email.lead_id)
        self.assertTrue(email.needs_deal)
        self.set_single_open_deal(True)
        other = self.make_email(self.joe)
        self.assertFalse(other.lead_id)
        self.assertTrue(other.needs_deal)
        needs = (
            self.env["crm.email"]
            .with_user(self.user_a)
            .search([("needs_deal", "=", True), ("lead_id", "=", False)])
        )
        self.assertEqual(needs, email | other)

    def test_single_open_deal_setting(self):
        # Setting off (the default): a contact with one open deal is not linked.
        email = self.make_email(self.ann)
        self.assertFalse(email.lead_id)
        self.assertFalse(email.needs_deal)
        self.set_single_open_deal(True)
        email = self.make_email(self.ann)
        self.assertEqual(email.lead_id, self.deal_ann)
        self.assertEqual(email.link_reason, "single_open_deal")
        # A won deal is not open.
        won_stage = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        self.deal_ann.stage_id = won_stage
        later = self.make_email(self.ann)
        self.assertFalse(later.lead_id)
        self.assertFalse(later.needs_deal)

    def test_settings_field_writes_the_parameter(self):
        settings = self.env["res.config.settings"].create({"crm_link_single_open_deal": True})
        settings.execute()
        self.assertTrue(self.env["crm.email"]._crm_link_single_open_deal())
        settings = self.env["res.config.settings"].create({"crm_link_single_open_deal": False})
        settings.execute()
        self.assertFalse(self.env["crm.email"]._crm_link_single_open_deal())

    def test_manual_links_are_kept(self):
        root = self.make_email(self.joe, lead=self.deal_1, reason="manual")
        unlinked = self.make_email(self.joe, in_reply_to=root.message_id, link=False)
        unlinked._crm_set_deal(self.env["crm.lead"])
        unlinked._apply_deal_links()
        self.assertFalse(unlinked.lead_id, "a user's unlink is not undone by automatic links")
        self.assertEqual(unlinked.link_reason, "manual")

    def test_sync_links_a_reply_to_mail_sent_from_a_deal(self):
        """Through the real sync: Dovecot INBOX -> store -> _apply_deal_links."""
        mailbox, login, password = self.make_mailbox(self.user_a)
        sent = self.make_email(self.joe, lead=self.deal_1, reason="sent_from_deal", mailbox=mailbox)
        sent.sudo().sent_from_crm = True
        reply_id = new_msgid()
        raw = make_mail(
            "Joe Customer <joe@acme.example>",
            "alice@ourco.example",
            subject="Re: Hello",
            message_id=reply_id,
        )
        raw = with_headers(raw, {"In-Reply-To": sent.message_id, "References": sent.message_id})
        self.append(login, password, "INBOX", [raw])
        mailbox.sudo()._sync()
        self.assertEqual(mailbox.state, "connected", mailbox.last_error)
        reply = self.env["crm.email"].with_user(self.user_a).search([("message_id", "=", reply_id)])
        self.assertEqual(reply.lead_id, self.deal_1)
        self.assertEqual(reply.link_reason, "thread")

    def test_deal_counts_agree_with_lists(self):
        mine = self.make_email(self.joe, lead=self.deal_1, reason="manual")
        self.make_email(self.joe, lead=self.deal_2, reason="manual")
        # Bob's private mail on the same deal: Alice cannot read it, so it is not counted.
        bobs = self.make_email(self.joe, owner=self.user_b, lead=self.deal_1, reason="manual")
        Email = self.env["crm.email"].with_user(self.user_a)
        deal = self.deal_1.with_user(self.user_a)
        action = deal.action_view_crm_emails()
        listed = Email.search(action["domain"])
        self.assertEqual(deal.crm_email_count, len(listed))
        self.assertEqual(listed, deal.crm_email_ids)
        self.assertIn(mine, listed)
        self.assertEqual(
            bool(bobs in listed),
            bool(Email.search([("id", "=", bobs.id)])),
            "the deal list shows exactly what the user may read",
        )
        # The contact shows all of its mail, linked to deals or not.
        joe = self.joe.with_user(self.user_a)
        contact_list = Email.search(joe.action_view_crm_emails()["domain"])
        self.assertEqual(joe.crm_email_count, len(contact_list))
        self.assertIn(mine, contact_list)
