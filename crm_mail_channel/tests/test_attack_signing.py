"""Attacks on DKIM signing: a salesman tries to send mail as the CEO that passes DMARC.

Everything goes through Odoo's real outgoing path to the SMTP sink, and signatures are checked
against the DKIM record published in the Knot server, as a receiver would.
"""

import email
import email.policy
import uuid

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from crm_mail_channel_core import dkim_sign

from .domain_common import MailDomainCase


class SigningAttackCase(MailDomainCase):
    """An authenticated domain with a CEO (login = their address) and a salesman on it."""

    def setUp(self):
        super().setUp()
        self.domain = self.authenticated_domain()
        name = self.domain.name
        self.ceo_email = f"ceo@{name}"
        self.ceo = new_test_user(
            self.env,
            login=self.ceo_email,
            email=self.ceo_email,
            name="Chief Executive",
            groups="base.group_user,sales_team.group_sale_manager",
        )
        self.attacker = new_test_user(
            self.env,
            login=f"h8_sam_{name}",
            email=f"sam@{name}",
            name="Sam Salesman",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        self.lead = self.env["crm.lead"].create(
            {"name": "Deal", "user_id": self.attacker.id, "partner_id": self.new_customer().id}
        )

    # ---- helpers ---------------------------------------------------------------------------

    def new_customer(self):
        return self.env["res.partner"].create(
            {"name": "Buyer", "email": f"buyer-{uuid.uuid4().hex[:8]}@shop.customer.test"}
        )

    def post(self, user, customer, queue=False, **kwargs):
        """message_post on the deal as ``user``, notifying ``customer`` by email."""
        lead = self.lead.with_user(user)
        if queue:
            lead = lead.with_context(mail_notify_force_send=False)
        with self.really_send():
            return lead.message_post(
                body="Please sign the contract today.",
                subject="Contract",
                partner_ids=[customer.id],
                subtype_xmlid="mail.mt_comment",
                message_type="comment",
                **kwargs,
            )

    def received(self, customer):
        messages = self.sink_messages_to(customer.email)
        self.assertEqual(len(messages), 1, f"expected one mail to {customer.email}")
        return messages[0]["raw"]

    def assert_signed(self, raw, sender):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn(sender, parsed["From"])
        self.assertIn(f"d={self.domain.name}", parsed["DKIM-Signature"] or "")
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))

    def assert_not_signed(self, raw, sender):
        """The mail left with the forged From, and no signature a receiver would accept."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn(sender, parsed["From"])
        self.assertNotIn(f"d={self.domain.name}".encode(), raw)
        self.assertFalse(dkim_sign.verify_message(raw, self.resolver()))


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttackSigning(SigningAttackCase):
    def test_message_post_with_the_ceo_as_sender_is_not_signed(self):
        # message_post finds the author from email_from: the CEO becomes the message's author
        customer = self.new_customer()
        message = self.post(self.attacker, customer, email_from=f"CEO <{self.ceo_email}>")
        self.assertEqual(message.sudo().author_id, self.ceo.partner_id)
        self.assert_not_signed(self.received(customer), self.ceo_email)
        self.assertIn("another user's address", message.sudo().crm_unsigned_reason)
        # naming the CEO as author explicitly changes nothing
        customer = self.new_customer()
        self.post(
            self.attacker,
            customer,
            author_id=self.ceo.partner_id.id,
            email_from=self.ceo_email,
        )
        self.assert_not_signed(self.received(customer), self.ceo_email)

    def test_composer_warns_and_does_not_sign(self):
        customer = self.new_customer()
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.attacker)
            .with_context(
                default_model="crm.lead",
                default_res_ids=self.lead.ids,
                default_composition_mode="comment",
                default_email_from=f"CEO <{self.ceo_email}>",
            )
            .create(
                {
                    "body": "Please sign the contract today.",
                    "subject": "Contract",
                    "partner_ids": [customer.id],
                }
            )
        )
        self.assertIn("will not be DKIM-signed", composer.crm_domain_warning)
        self.assertIn("another user's address", composer.crm_domain_warning)
        with self.really_send():
            composer._action_send_mail()
        self.assert_not_signed(self.received(customer), self.ceo_email)
        # the salesman's own address: no warning
        own = (
            self.env["mail.compose.message"]
            .with_user(self.attacker)
            .with_context(
                default_model="crm.lead",
                default_res_ids=self.lead.ids,
                default_composition_mode="comment",
            )
            .create({"body": "Hello"})
        )
        self.assertFalse(own.crm_domain_warning)

    def test_mail_mail_with_the_ceo_as_sender(self):
        values = {
            "email_from": self.ceo_email,
            "email_to": "x@shop.customer.test",
            "subject": "Wire the money",
            "body_html": "<p>Now.</p>",
        }
        # a salesman may not create outgoing mail at all
        with self.assertRaises(AccessError):
            self.env["mail.mail"].with_user(self.attacker).create(values)
        # an administrator may, but it is sent for them, not for the CEO
        customer = self.new_customer()
        mail = (
            self.env["mail.mail"]
            .with_user(self.admin)
            .create({**values, "email_to": customer.email, "author_id": self.ceo.partner_id.id})
        )
        message = mail.sudo().mail_message_id
        with self.really_send():
            mail.sudo().send()  # as the mail queue does
        self.assert_not_signed(self.received(customer), self.ceo_email)
        self.assertIn("another user's address", message.crm_unsigned_reason)

    def test_ceo_and_system_addresses_are_signed(self):
        customer = self.new_customer()
        message = self.post(self.ceo, customer)
        self.assert_signed(self.received(customer), self.ceo_email)
        self.assertFalse(message.sudo().crm_unsigned_reason)
        # the company's notification address on the domain is signed for everyone
        alias_domain = self.env["mail.alias.domain"].create(
            {"name": self.domain.name, "default_from": "notifications"}
        )
        system = alias_domain.default_from_email
        customer = self.new_customer()
        self.post(self.attacker, customer, email_from=f"Sam via Odoo <{system}>")
        self.assert_signed(self.received(customer), system)
        # and so is mail the system sends itself (superuser)
        customer = self.new_customer()
        mail = self.env["mail.mail"].create(
            {
                "email_from": system,
                "email_to": customer.email,
                "subject": "Reminder",
                "body_html": "<p>Hi</p>",
            }
        )
        with self.really_send():
            mail.send()
        self.assert_signed(self.received(customer), system)

    def test_queued_mail_sent_by_the_cron_signs_only_for_its_creator(self):
        forged, own, ceo, system_forged = (self.new_customer() for _i in range(4))
        self.post(self.attacker, forged, queue=True, email_from=f"CEO <{self.ceo_email}>")
        self.post(self.attacker, own, queue=True)
        self.post(self.ceo, ceo, queue=True)
        # mail created by the system (superuser) is sent for nobody
        self.env["mail.mail"].create(
            {
                "email_from": self.ceo_email,
                "email_to": system_forged.email,
                "author_id": self.ceo.partner_id.id,
                "subject": "Automated",
                "body_html": "<p>Hi</p>",
            }
        )
        for customer in (forged, own, ceo, system_forged):
            self.assertFalse(self.sink_messages_to(customer.email, timeout=0), "sent too early")
        cron = self.env.ref("mail.ir_cron_mail_scheduler_action")
        self.assertEqual(cron.user_id.id, self.env.ref("base.user_root").id)
        with self.really_send():
            cron.method_direct_trigger()
        self.assert_not_signed(self.received(forged), self.ceo_email)
        self.assert_signed(self.received(own), f"sam@{self.domain.name}")
        self.assert_signed(self.received(ceo), self.ceo_email)
        self.assert_not_signed(self.received(system_forged), self.ceo_email)

    def test_self_declared_addresses_do_not_take_the_ceo_address(self):
        # users may change their own email, and connect a mailbox on a server they run
        self.attacker.with_user(self.attacker).write({"email": self.ceo_email})
        self.env["crm.mailbox"].with_user(self.attacker).create(
            {"host": "127.0.0.1", "port": 993, "login": self.ceo_email}
        )
        customer = self.new_customer()
        self.post(self.attacker, customer, email_from=self.ceo_email)
        self.assert_not_signed(self.received(customer), self.ceo_email)
        # the CEO's own mail is still signed: their login is set by an administrator
        customer = self.new_customer()
        self.post(self.ceo, customer)
        self.assert_signed(self.received(customer), self.ceo_email)

    def test_forged_context_does_not_sign(self):
        customer = self.new_customer()
        lead = self.lead.with_user(self.attacker).with_context(
            crm_mail_channel_sending_author=self.ceo.id,
            domain_notifications_email=self.ceo_email,
            domain_bounce_address=self.ceo_email,
            uid=self.ceo.id,
        )
        with self.really_send():
            lead.message_post(
                body="Please sign.",
                partner_ids=[customer.id],
                email_from=self.ceo_email,
                subtype_xmlid="mail.mt_comment",
                message_type="comment",
            )
        self.assert_not_signed(self.received(customer), self.ceo_email)
