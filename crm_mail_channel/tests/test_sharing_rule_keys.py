"""Email sharing: the rules' stored contact and deal keys follow every change."""

from odoo.fields import Command
from odoo.tests import tagged

from .sharing_common import SharingCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingRuleKeys(SharingCommon):
    def setUp(self):
        super().setUp()
        self.owner.email_sharing_mode = "public"

    def test_contact_company_and_parent_company(self):
        parent = self.env["res.company"].create({"name": "Group"})
        child = self.env["res.company"].create({"name": "Branch", "parent_id": parent.id})
        self.assertIn(self.e_contact, self.visible(self.peer_in))
        # A contact of a company the reader is not in: hidden at the next search.
        self.client.company_id = child
        self.assertNotIn(self.e_contact, self.visible(self.peer_in))
        # Readers in the branch see contacts of the branch and of its parent company.
        self.peer_in.write({"company_ids": [Command.link(child.id)], "company_id": child.id})
        self.assertIn(self.e_contact, self.visible(self.peer_in))
        self.client.company_id = parent
        self.assertIn(self.e_contact, self.visible(self.peer_in))
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        # Back to no company: everyone who could see it before sees it again.
        self.client.company_id = False
        self.assertIn(self.e_contact, self.visible(self.peer_out))

    def test_contact_becomes_internal_user(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        self.client.company_id = other
        # A customer in copy: once the client is a user, the mail is not between colleagues.
        mail = self._mail(subject="With a customer", partners=self.client, to="x@outside.test")
        self.assertNotIn(mail, self.visible(self.peer_in))
        # The partner of an internal user can be opened by everyone (res.partner's rule).
        self.env["res.users"].create(
            {
                "name": "Client inside",
                "login": "client_inside",
                "partner_id": self.client.id,
                "company_id": other.id,
                "company_ids": [Command.set(other.ids)],
                "groups_id": [Command.set(self.env.ref("base.group_user").ids)],
            }
        )
        self.assertFalse(self.client.partner_share)
        self.assertIn(mail, self.visible(self.peer_in))
        # Mail between the client-turned-user and the owner is now mail between colleagues.
        self.assertNotIn(self.e_contact, self.visible(self.peer_in))

    def test_contact_linked_or_unlinked_later(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        hidden = self.env["res.partner"].create(
            {"name": "Hidden", "email": "h@other.test", "company_id": other.id}
        )
        mail = self._mail(subject="Only hidden", partners=hidden)
        self.assertNotIn(mail, self.visible(self.peer_in))
        mail.sudo().partner_ids = [Command.link(self.client.id)]
        self.assertIn(mail, self.visible(self.peer_in))
        mail.sudo().partner_ids = [Command.unlink(self.client.id)]
        self.assertNotIn(mail, self.visible(self.peer_in))

    def test_deal_company_and_salesperson(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        self.owner.company_ids = [Command.link(other.id)]
        self.assertIn(self.e_deal, self.visible(self.peer_in))
        self.deal.company_id = other
        self.assertNotIn(self.e_deal, self.visible(self.peer_in))
        self.assertFalse(
            self.env["crm.email.content"]
            .with_user(self.peer_in)
            .search([("email_id", "=", self.e_deal.id)])
        )
        self.deal.company_id = False
        self.assertIn(self.e_deal, self.visible(self.peer_in))
        # Own-documents salesman: only deals assigned to them or to nobody.
        self.assertNotIn(self.e_deal, self.visible(self.salesman))
        self.deal.user_id = self.salesman
        self.assertIn(self.e_deal, self.visible(self.salesman))
        self.assertEqual(self.e_deal.with_user(self.salesman).subject, "Deal terms")
        self.deal.user_id = self.peer_in
        self.assertNotIn(self.e_deal, self.visible(self.salesman))
        # Mail moved to another deal follows that deal.
        free = self.env["crm.lead"].create(
            {"name": "Free deal", "type": "opportunity", "user_id": False}
        )
        self.e_deal.sudo().lead_id = free
        self.assertIn(self.e_deal, self.visible(self.salesman))
        free.unlink()
        self.assertFalse(self.e_deal.sudo().lead_id)
        self.assertIn(self.e_deal, self.visible(self.salesman))
