"""The relink wizard and "Pull recent threads"."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .deal_common import DealCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestRelinkWizard(DealCommon):
    def _thread(self, lead):
        root = self.make_email(self.joe, lead=lead, reason="manual", subject="Quote")
        reply = self.make_email(
            self.joe, in_reply_to=root.message_id, references=root.message_id, subject="Re: Quote"
        )
        self.assertEqual(reply.lead_id, lead)
        return root, reply

    def _wizard(self, email, user=None, **values):
        email = email.with_user(user or self.user_a)
        action = email.action_open_relink_wizard()
        self.assertEqual(action["res_model"], "crm.email.relink.wizard")
        wizard_form = Form(
            self.env["crm.email.relink.wizard"]
            .with_user(user or self.user_a)
            .with_context(**action["context"])
        )
        for name, value in values.items():
            setattr(wizard_form, name, value)
        return wizard_form.save()

    def test_move_one_email(self):
        root, reply = self._thread(self.deal_1)
        wizard = self._wizard(reply, action="move", lead_id=self.deal_2)
        self.assertIn(self.deal_2, wizard.allowed_lead_ids)
        self.assertNotIn(
            self.deal_ann,
            wizard.allowed_lead_ids.filtered(
                lambda lead: lead.partner_id.commercial_partner_id != self.company
            ),
        )
        wizard.action_apply()
        self.assertEqual((reply.lead_id, reply.link_reason), (self.deal_2, "manual"))
        self.assertEqual(root.lead_id, self.deal_1, "only the email moved")

    def test_move_whole_thread(self):
        root, reply = self._thread(self.deal_1)
        wizard = self._wizard(reply, scope="thread", action="move", lead_id=self.deal_2)
        self.assertEqual(wizard.thread_count, 2)
        wizard.action_apply()
        self.assertEqual((root | reply).lead_id, self.deal_2)
        self.assertEqual(set((root | reply).mapped("link_reason")), {"manual"})
        # Mail of the thread arriving later follows the move.
        later = self.make_email(
            self.joe,
            in_reply_to=reply.message_id,
            references=f"{root.message_id} {reply.message_id}",
        )
        self.assertEqual(later.lead_id, self.deal_2)

    def test_move_to_a_new_deal(self):
        email = self.make_email(self.joe, subject="Re: Fwd: New project")
        self.assertTrue(email.needs_deal)
        # Mail without a deal: linked to a deal or to a new one, nothing to move or unlink.
        wizard = self._wizard(email, link_choice="new")
        self.assertEqual(wizard.action, "new")
        self.assertEqual(wizard.contact_id, self.joe)
        self.assertEqual(wizard.new_lead_name, "New project", "no reply prefix")
        wizard.action_apply()
        self.assertTrue(email.lead_id)
        self.assertEqual(email.lead_id.partner_id, self.joe)
        self.assertEqual(email.lead_id.name, "New project")
        self.assertEqual(email.lead_id.user_id, self.user_a)
        self.assertEqual(email.link_reason, "manual")
        self.assertFalse(email.needs_deal)

    def test_choices_follow_the_email_state(self):
        Wizard = self.env["crm.email.relink.wizard"].with_user(self.user_a)
        without = self.make_email(self.joe, subject="Question")
        form = Form(Wizard.with_context(default_email_id=without.id))
        self.assertTrue(form._get_modifier("action", "invisible"))
        self.assertFalse(form._get_modifier("link_choice", "invisible"))
        self.assertEqual(
            [label for _value, label in Wizard._fields["link_choice"].selection],
            ["Link to a deal", "Link to a new deal"],
        )
        _root, reply = self._thread(self.deal_1)
        form = Form(Wizard.with_context(default_email_id=reply.id))
        self.assertFalse(form._get_modifier("action", "invisible"))
        self.assertTrue(form._get_modifier("link_choice", "invisible"))
        # Every field shown in the dialog has its own label, in one column.
        arch = self.env.ref("crm_mail_channel.crm_email_relink_wizard_view_form").arch_db
        self.assertEqual(arch.count("<group>"), 1)

    def test_move_lists_the_company_open_deals(self):
        won = self.env["crm.stage"].search([("is_won", "=", True)], limit=1)
        won_deal = self.env["crm.lead"].create(
            {
                "name": "Joe: won last year",
                "partner_id": self.joe.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
                "stage_id": won.id,
            }
        )
        email = self.make_email(self.ann, lead=self.deal_ann, reason="manual")
        wizard = self._wizard(email, action="move", lead_id=self.deal_1)
        # Ann's company's other open deals, Joe's included; not the current one, not won ones.
        self.assertIn(self.deal_1, wizard.allowed_lead_ids)
        self.assertIn(self.deal_2, wizard.allowed_lead_ids)
        self.assertNotIn(self.deal_ann, wizard.allowed_lead_ids)
        self.assertNotIn(won_deal, wizard.allowed_lead_ids)
        wizard.action_apply()
        self.assertEqual(email.lead_id, self.deal_1)

    def test_unlink(self):
        _root, reply = self._thread(self.deal_1)
        self._wizard(reply, action="unlink").action_apply()
        self.assertFalse(reply.lead_id)
        self.assertEqual(reply.link_reason, "manual")
        reply._apply_deal_links()
        self.assertFalse(reply.lead_id)

    def test_cannot_relink_into_a_deal_one_cannot_write(self):
        _root, reply = self._thread(self.deal_1)
        Wizard = self.env["crm.email.relink.wizard"].with_user(self.user_a)
        # Bob's deal is hidden from Alice: the wizard is refused without naming it.
        with self.assertRaises(AccessError) as caught:
            Wizard.create({"email_id": reply.id, "action": "move", "lead_id": self.deal_bob.id})
        self.assertNotIn(self.deal_bob.name, str(caught.exception))
        wizard = Wizard.create({"email_id": reply.id, "action": "move"})
        self.assertNotIn(self.deal_bob, wizard.allowed_lead_ids)
        # Set by any other path, the target is checked again when applying.
        wizard.sudo().lead_id = self.deal_bob
        with self.assertRaises(AccessError) as caught:
            wizard.action_apply()
        self.assertIn("not allowed to change", str(caught.exception))
        self.assertNotIn(self.deal_bob.name, str(caught.exception))
        self.assertEqual(reply.lead_id, self.deal_1)

    def test_cannot_move_to_another_customers_deal(self):
        _root, reply = self._thread(self.deal_1)
        other = self.env["res.partner"].create({"name": "Other Ltd", "is_company": True})
        other_deal = self.env["crm.lead"].create(
            {
                "name": "Other deal",
                "partner_id": other.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
            }
        )
        wizard = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.user_a)
            .create(
                {
                    "email_id": reply.id,
                    "action": "move",
                    "lead_id": other_deal.id,
                }
            )
        )
        with self.assertRaises(UserError):
            wizard.action_apply()
        self.assertEqual(reply.lead_id, self.deal_1)

    def test_user_must_read_the_email(self):
        bobs = self.make_email(self.joe, owner=self.user_b, subject="Bob's private mail")
        if "share_override" in bobs.presence_ids._fields:
            bobs.sudo().presence_ids.share_override = "private"
        self.assertFalse(
            self.env["crm.email"].with_user(self.user_a).search([("id", "=", bobs.id)])
        )
        with self.assertRaises(AccessError):
            self.env["crm.email.relink.wizard"].with_user(self.user_a).create(
                {
                    "email_id": bobs.id,
                    "action": "unlink",
                }
            ).action_apply()

    def test_pull_recent_threads(self):
        first = self.make_email(self.joe, subject="Thread one")
        first_reply = self.make_email(
            self.joe,
            in_reply_to=first.message_id,
            references=first.message_id,
            subject="Re: Thread one",
        )
        second = self.make_email(self.joe, subject="Thread two")
        linked = self.make_email(self.joe, lead=self.deal_2, reason="manual")
        new_deal = (
            self.env["crm.lead"]
            .with_user(self.user_a)
            .create(
                {
                    "name": "Joe: fresh deal",
                    "partner_id": self.joe.id,
                    "type": "opportunity",
                }
            )
        )
        action = new_deal.action_crm_pull_threads()
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.user_a)
            .with_context(**action["context"])
            .create({})
        )
        # One line per conversation: the latest email of each thread without a deal.
        self.assertEqual(len(wizard.email_ids), 2)
        self.assertIn(first_reply, wizard.email_ids)
        self.assertIn(second, wizard.email_ids)
        self.assertNotIn(linked, wizard.email_ids)
        wizard.email_ids = wizard.email_ids - second
        wizard.action_apply()
        self.assertEqual((first | first_reply).lead_id, new_deal)
        self.assertFalse(second.lead_id)
        self.assertEqual(linked.lead_id, self.deal_2)
        self.assertEqual(new_deal.crm_email_count, 2)

    def _pull_wizard(self, deal, **values):
        action = deal.with_user(self.user_a).action_crm_pull_threads()
        return (
            self.env[action["res_model"]]
            .with_user(self.user_a)
            .with_context(**action["context"])
            .create(values)
        )

    def test_pull_threads_of_the_company_people(self):
        joes = self.make_email(self.joe, subject="Joe's question")
        anns = self.make_email(self.ann, subject="Ann's question")
        company_deal = self.env["crm.lead"].create(
            {
                "name": "Acme: framework agreement",
                "partner_id": self.company.id,
                "type": "opportunity",
                "user_id": self.user_a.id,
            }
        )
        wizard = self._pull_wizard(company_deal)
        self.assertEqual(wizard.email_ids, joes | anns)
        self.assertFalse(wizard.empty_message)
        wizard.action_apply()
        self.assertEqual((joes | anns).lead_id, company_deal)
        # A deal on one person of the company also finds the others' mail.
        later = self.make_email(self.ann, subject="Another question")
        self.assertIn(later, self._pull_wizard(self.deal_1).email_ids)

    def test_pull_threads_says_when_there_is_none(self):
        wizard = self._pull_wizard(self.deal_1, days=7)
        self.assertFalse(wizard.email_ids)
        self.assertEqual(wizard.empty_message, "No conversation without a deal in the last 7 days.")
        with self.assertRaisesRegex(UserError, "No conversation without a deal in the last 7"):
            wizard.action_apply()
        arch = self.env.ref("crm_mail_channel.crm_lead_pull_threads_wizard_view_form").arch_db
        # The list only removes lines: no "Add a line".
        self.assertIn("'link': false", arch)
        self.assertIn("'create': false", arch)
        self.assertNotIn("Lead", arch)
