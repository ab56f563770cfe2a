"""Attacks through the relink and pull-threads wizards.

The attacker is an ordinary salesman (own documents only) who creates and reads wizards over
RPC (``with_user``) naming a colleague's private email or deal. Every attempt fails with an
AccessError that names nothing, and the victim's email keeps its deal.
"""

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from .deal_common import DealCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttackWizards(DealCommon):
    """Alice is the victim, Bob the attacking colleague."""

    SECRET_SUBJECT = "Takeover of Acme, strictly confidential"
    SECRET_DEAL = "Acme: secret acquisition"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim, cls.attacker = cls.user_a, cls.user_b
        cls.secret_deal = cls.env["crm.lead"].create(
            {
                "name": cls.SECRET_DEAL,
                "partner_id": cls.joe.id,
                "type": "opportunity",
                "user_id": cls.victim.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.secret = self.make_email(
            self.joe,
            owner=self.victim,
            lead=self.secret_deal,
            reason="manual",
            subject=self.SECRET_SUBJECT,
        )
        # An email of the victim that is on no deal yet: what "Pull recent threads" gathers.
        self.unlinked = self.make_email(self.joe, owner=self.victim, subject=self.SECRET_SUBJECT)
        secrets = self.secret | self.unlinked
        self.assertFalse(
            self.env["crm.email"].with_user(self.attacker).search([("id", "in", secrets.ids)])
        )
        self.assertFalse(self.secret_deal.with_user(self.attacker).has_access("read"))
        self.assertEqual(self.secret.lead_id, self.secret_deal)
        self.assertFalse(self.unlinked.lead_id)

    def assertNamesNothing(self, exc):
        text = str(exc)
        self.assertNotIn(self.SECRET_SUBJECT, text)
        self.assertNotIn(self.SECRET_DEAL, text)

    def assertVictimUnchanged(self):
        (self.secret | self.unlinked).invalidate_recordset()
        self.assertEqual(self.secret.lead_id, self.secret_deal)
        self.assertEqual(self.secret.link_reason, "manual")
        self.assertFalse(self.unlinked.lead_id)

    # ------------------------------------------------------------------ relink wizard
    def test_relink_wizard_on_a_private_email_is_refused(self):
        Wizard = self.env["crm.email.relink.wizard"].with_user(self.attacker)
        for values in (
            {"email_id": self.secret.id, "action": "unlink"},
            {"email_id": self.secret.id, "action": "move", "lead_id": self.deal_bob.id},
            {"email_id": self.unlinked.id, "action": "new", "contact_id": self.joe.id},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError) as caught:
                Wizard.create(values)
            self.assertNamesNothing(caught.exception)
        # As the button does it: the email comes from the context.
        with self.assertRaises(AccessError) as caught:
            Wizard.with_context(default_email_id=self.secret.id).create({"action": "unlink"})
        self.assertNamesNothing(caught.exception)
        with self.assertRaises(AccessError) as caught:
            Form(Wizard.with_context(default_email_id=self.unlinked.id)).save()
        self.assertNamesNothing(caught.exception)
        # The form's onchange answers with many2one names read as superuser: refused too.
        spec = {
            "email_id": {"fields": {"display_name": {}}},
            "current_lead_id": {"fields": {"display_name": {}}},
            "new_lead_name": {},
        }
        with self.assertRaises(AccessError) as caught:
            Wizard.onchange({"email_id": self.secret.id}, ["email_id"], spec)
        self.assertNamesNothing(caught.exception)
        self.assertFalse(Wizard.sudo().search([("email_id", "in", self.secret.ids)]))
        self.assertVictimUnchanged()

    def test_relink_wizard_cannot_be_pointed_at_a_private_email_or_deal(self):
        own = self.make_email(self.joe, owner=self.attacker, subject="Bob's own mail")
        wizard = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.attacker)
            .create({"email_id": own.id, "action": "move"})
        )
        for values in ({"email_id": self.secret.id}, {"lead_id": self.secret_deal.id}):
            with self.subTest(values=values), self.assertRaises(AccessError) as caught:
                wizard.write(values)
            self.assertNamesNothing(caught.exception)
        read = str(wizard.read()) + str(wizard.web_read({"email_id": {}, "lead_id": {}}))
        self.assertNotIn(self.SECRET_SUBJECT, read)
        self.assertNotIn(self.SECRET_DEAL, read)
        self.assertEqual(wizard.email_id, own)
        # Someone else's wizard is not readable either.
        victims = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.victim)
            .create({"email_id": self.secret.id, "action": "unlink"})
        )
        self.assertEqual(victims.current_lead_id, self.secret_deal)
        self.assertEqual(victims.new_lead_name, self.SECRET_SUBJECT)
        with self.assertRaises(AccessError) as caught:
            victims.with_user(self.attacker).read(["current_lead_id", "new_lead_name"])
        self.assertNamesNothing(caught.exception)
        self.assertVictimUnchanged()

    def test_relink_wizard_computes_as_the_user(self):
        """Bob's own copy of a thread sits on Alice's deal: he learns nothing of that deal,
        and cannot take the mail away from it."""
        own = self.make_email(
            self.joe, owner=self.attacker, lead=self.secret_deal, reason="manual", subject="Hi"
        )
        wizard = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.attacker)
            .create({"email_id": own.id, "action": "unlink", "scope": "thread"})
        )
        self.assertFalse(wizard.current_lead_id)
        self.assertNotIn(self.secret_deal, wizard.allowed_lead_ids)
        self.assertEqual(wizard.thread_count, 1)
        self.assertNotIn(self.SECRET_DEAL, str(wizard.read()))
        with self.assertRaises(AccessError) as caught:
            wizard.action_apply()
        self.assertNamesNothing(caught.exception)
        self.assertEqual(own.lead_id, self.secret_deal)

    def test_relink_apply_rechecks_the_email(self):
        """A wizard whose email was set by another path is checked again when applied."""
        own = self.make_email(self.joe, owner=self.attacker, subject="Bob's own mail")
        wizard = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.attacker)
            .create({"email_id": own.id, "action": "move", "lead_id": self.deal_bob.id})
        )
        wizard.sudo().email_id = self.secret
        with self.assertRaises(AccessError) as caught:
            wizard.action_apply()
        self.assertNamesNothing(caught.exception)
        self.assertVictimUnchanged()

    def test_relink_thread_moves_only_mail_the_user_reads(self):
        """Bob's mail forges the victim's thread (References): moving "the whole
        conversation" moves his own mail only."""
        own = self.make_email(
            self.joe,
            owner=self.attacker,
            in_reply_to=self.unlinked.message_id,
            references=self.unlinked.message_id,
            subject="Re: anything",
        )
        self.assertEqual(own.thread_key, self.unlinked.thread_key)
        wizard = (
            self.env["crm.email.relink.wizard"]
            .with_user(self.attacker)
            .create(
                {
                    "email_id": own.id,
                    "action": "move",
                    "scope": "thread",
                    "lead_id": self.deal_bob.id,
                }
            )
        )
        self.assertEqual(wizard.thread_count, 1)
        wizard.action_apply()
        self.assertEqual(own.lead_id, self.deal_bob)
        self.assertVictimUnchanged()

    # ------------------------------------------------------------------ pull threads
    def test_pull_threads_on_a_private_deal_is_refused(self):
        Wizard = self.env["crm.lead.pull.threads.wizard"].with_user(self.attacker)
        with self.assertRaises(AccessError) as caught:
            Wizard.create({"lead_id": self.secret_deal.id})
        self.assertNamesNothing(caught.exception)
        with self.assertRaises(AccessError) as caught:
            Wizard.with_context(default_lead_id=self.secret_deal.id).create({})
        self.assertNamesNothing(caught.exception)
        wizard = Wizard.create({"lead_id": self.deal_bob.id})
        with self.assertRaises(AccessError) as caught:
            wizard.write({"lead_id": self.secret_deal.id})
        self.assertNamesNothing(caught.exception)
        spec = {"lead_id": {"fields": {"display_name": {}}}, "email_ids": {"fields": {}}}
        with self.assertRaises(AccessError) as caught:
            Wizard.onchange({"lead_id": self.secret_deal.id}, ["lead_id"], spec)
        self.assertNamesNothing(caught.exception)
        self.assertVictimUnchanged()

    def test_pull_threads_lists_only_readable_mail(self):
        own = self.make_email(self.joe, owner=self.attacker, subject="Bob's own mail")
        wizard = (
            self.env["crm.lead.pull.threads.wizard"]
            .with_user(self.attacker)
            .create({"lead_id": self.deal_bob.id})
        )
        self.assertIn(own, wizard.email_ids)
        self.assertNotIn(self.unlinked, wizard.email_ids)
        self.assertNotIn(self.SECRET_SUBJECT, str(wizard.read()))

    def test_pull_threads_with_someone_elses_emails_is_refused(self):
        Wizard = self.env["crm.lead.pull.threads.wizard"].with_user(self.attacker)
        private = self.secret | self.unlinked
        with self.assertRaises(AccessError) as caught:
            Wizard.create({"lead_id": self.deal_bob.id, "email_ids": [Command.set(private.ids)]})
        self.assertNamesNothing(caught.exception)
        wizard = Wizard.create({"lead_id": self.deal_bob.id})
        for command in (Command.set(private.ids), Command.link(self.unlinked.id)):
            with self.subTest(command=command), self.assertRaises(AccessError) as caught:
                wizard.write({"email_ids": [command]})
            self.assertNamesNothing(caught.exception)
        spec = {"email_ids": {"fields": {"subject": {}, "display_name": {}}}}
        with self.assertRaises(AccessError) as caught:
            Wizard.onchange(
                {"lead_id": self.deal_bob.id, "email_ids": [Command.link(self.unlinked.id)]},
                ["email_ids"],
                spec,
            )
        self.assertNamesNothing(caught.exception)
        # Set by any other path, the list is read again as the user when applied: the
        # victim's mail is not in it (many2many reads apply the email rules).
        own = self.make_email(self.joe, owner=self.attacker, subject="Bob's own mail")
        wizard.sudo().email_ids = [Command.set((own | self.unlinked).ids)]
        wizard.invalidate_recordset()
        wizard.action_apply()
        self.assertEqual(own.lead_id, self.deal_bob)
        self.assertVictimUnchanged()

    def test_pull_threads_follows_only_readable_threads(self):
        """Bob's mail claims to answer the victim's (forged References): pulling his thread
        into his deal leaves the victim's mail where it was."""
        own = self.make_email(
            self.joe,
            owner=self.attacker,
            in_reply_to=self.unlinked.message_id,
            references=self.unlinked.message_id,
            subject="Re: anything",
        )
        wizard = (
            self.env["crm.lead.pull.threads.wizard"]
            .with_user(self.attacker)
            .create({"lead_id": self.deal_bob.id})
        )
        wizard.email_ids = [Command.set(own.ids)]
        wizard.action_apply()
        self.assertEqual(own.lead_id, self.deal_bob)
        self.assertVictimUnchanged()
