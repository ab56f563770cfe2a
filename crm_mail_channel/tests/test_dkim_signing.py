import email
import email.policy
import uuid

from odoo.tests import new_test_user, tagged

from crm_mail_channel_core import dkim_sign

from .domain_common import MailDomainCase


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestDkimSigning(MailDomainCase):
    """Mail really sent by Odoo to the SMTP sink verifies with DKIM against the Knot server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Unique addresses: the SMTP sink may be shared with other test runs.
        cls.tag = uuid.uuid4().hex[:8]
        cls.customer = cls.env["res.partner"].create(
            {"name": "Customer", "email": f"buyer-{cls.tag}@shop.customer.test"}
        )

    def sales_user(self, domain_name, login):
        return new_test_user(
            self.env,
            login=login,
            groups="base.group_user,sales_team.group_sale_salesman",
            email=f"{login}@{domain_name}",
            name=f"Rep {login}",
        )

    def post_and_receive(self, user, recipient, record=None):
        """message_post as ``user`` notifying ``recipient`` by email; the raw bytes received."""
        record = (record or recipient).with_user(user)
        before = len(self.sink_messages_to(recipient.email, timeout=0))
        with self.really_send():
            record.message_post(
                body="Here is our offer.",
                subject="Offer",
                partner_ids=[recipient.id],
                subtype_xmlid="mail.mt_comment",
                message_type="comment",
            )
        received = self.sink_messages_to(recipient.email, count=before + 1)
        self.assertEqual(len(received), before + 1, "the notification did not reach the sink")
        return received[-1]["raw"]

    def test_message_post_is_signed_and_verifies(self):
        domain = self.authenticated_domain()
        user = self.sales_user(domain.name, "rep1")
        raw = self.post_and_receive(user, self.customer)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn(f"rep1@{domain.name}", parsed["From"])
        signature = parsed["DKIM-Signature"]
        self.assertTrue(signature, "the message was not signed")
        self.assertIn("c=relaxed/relaxed", signature)
        self.assertIn(f"d={domain.name}", signature)
        self.assertIn(f"s={domain.dkim_selector}", signature)
        self.assertTrue(raw.startswith(b"DKIM-Signature:"))
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))

        # the key in DNS changes: the same bytes no longer verify
        _pem, other_key = dkim_sign.generate_key_pair()
        self.publish_dkim(domain, public_b64=other_key)
        self.assertFalse(dkim_sign.verify_message(raw, self.resolver()))

    def test_lead_mail_and_direct_send_email_are_signed(self):
        domain = self.authenticated_domain()
        user = self.sales_user(domain.name, "rep2")
        lead = self.env["crm.lead"].create(
            {"name": "Big deal", "partner_id": self.customer.id, "user_id": user.id}
        )
        raw = self.post_and_receive(user, self.customer, record=lead)
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))

        # another sending path: ir.mail_server.send_email with a built message, sent for the
        # current user (no mail.mail says whose it is)
        def send_direct(env, recipient):
            IrMailServer = env["ir.mail_server"]
            message = IrMailServer.build_email(
                f"Rep <rep2@{domain.name}>",
                [recipient],
                "Direct — non-ASCII subject é",
                "<p>Hello é</p>",
                subtype="html",
                email_bcc=["hidden@shop.customer.test"],
            )
            with self.really_send():
                IrMailServer.send_email(message, mail_server_id=self.mail_server.id)
            return self.sink_messages_to(recipient)[-1]["raw"]

        raw = send_direct(self.env(user=user), f"direct-{self.tag}@shop.customer.test")
        self.assertNotIn(b"hidden@shop", raw)
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))
        # the system itself (superuser) sends for nobody: a user's address is not signed
        raw = send_direct(self.env, f"direct2-{self.tag}@shop.customer.test")
        self.assertNotIn(b"DKIM-Signature", raw)

    def test_unauthenticated_domain_not_signed(self):
        pending = self.verified_domain()  # code verified, DNS not published: not authenticated
        user = self.sales_user(pending.name, "rep3")
        raw = self.post_and_receive(user, self.customer)
        self.assertNotIn(b"DKIM-Signature", raw)
        other = self.sales_user("unknown.customer.test", "rep4")
        raw = self.post_and_receive(other, self.customer)
        self.assertNotIn(b"DKIM-Signature", raw)

    def test_rotation_keeps_mail_verifying(self):
        domain = self.authenticated_domain()
        user = self.sales_user(domain.name, "rep5")
        old_selector = domain.dkim_selector
        domain.action_rotate_dkim_key()
        raw = self.post_and_receive(user, self.customer)
        self.assertIn(f"s={old_selector}".encode(), raw)
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))
        self.publish_dkim(domain, domain.dkim_next_selector, domain.dkim_next_public_key)
        domain.action_validate_records()
        raw = self.post_and_receive(user, self.customer)
        self.assertIn(f"s={domain.dkim_selector}".encode(), raw)
        self.assertNotEqual(domain.dkim_selector, old_selector)
        self.assertTrue(dkim_sign.verify_message(raw, self.resolver()))


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestComposerWarning(MailDomainCase):
    def composer(self, user, model, res_id):
        return (
            self.env["mail.compose.message"]
            .with_user(user)
            .with_context(
                default_model=model,
                default_res_ids=[res_id],
                default_composition_mode="comment",
            )
            .create({"body": "Hello"})
        )

    def test_warning_only_for_unauthenticated_domain(self):
        partner = self.env["res.partner"].create({"name": "Prospect", "email": "p@x.customer.test"})
        lead = self.env["crm.lead"].create({"name": "Lead", "partner_id": partner.id})
        plain = self.salesman
        composer = self.composer(plain, "res.partner", partner.id)
        self.assertIn("nowhere.customer.test is not authenticated", composer.crm_domain_warning)
        self.assertTrue(self.composer(plain, "crm.lead", lead.id).crm_domain_warning)

        domain = self.authenticated_domain()
        signed_user = new_test_user(
            self.env,
            login="rep_ok",
            groups="base.group_user,sales_team.group_sale_salesman",
            email=f"rep_ok@{domain.name}",
        )
        self.assertFalse(self.composer(signed_user, "res.partner", partner.id).crm_domain_warning)
        self.assertFalse(self.composer(signed_user, "crm.lead", lead.id).crm_domain_warning)
        view = self.env.ref("crm_mail_channel.mail_compose_message_view_form_crm_domain_warning")
        self.assertIn('invisible="not crm_domain_warning"', view.arch_db)
