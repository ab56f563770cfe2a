from odoo.fields import Command
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestEmailManagerFromHr(TransactionCase):
    def test_employee_manager_fills_email_manager_and_sharing(self):
        groups = "base.group_user,sales_team.group_sale_salesman_all_leads"
        owner = new_test_user(
            self.env, login="hr_owner", email="hr_owner@ourco.test", groups=groups
        )
        boss = new_test_user(self.env, login="hr_boss", groups=groups)
        other = new_test_user(self.env, login="hr_other", groups=groups)
        Employee = self.env["hr.employee"]
        boss_emp = Employee.create({"name": "Boss", "user_id": boss.id})
        owner_emp = Employee.create(
            {"name": "Owner", "user_id": owner.id, "parent_id": boss_emp.id}
        )
        self.assertEqual(owner.email_manager_id, boss)
        self.assertIn(boss, owner.email_superior_ids)

        owner.write(
            {"email_sharing_mode": "public", "email_audience_user_ids": [Command.set(other.ids)]}
        )
        client = self.env["res.partner"].create({"name": "C", "email": "c@client.test"})
        mailbox = (
            self.env["crm.mailbox"]
            .sudo()
            .create({"user_id": owner.id, "login": owner.email, "host": "localhost"})
        )
        email = (
            self.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": "<hr-bridge@test>",
                    "fingerprint": "test",
                    "subject": "S",
                    "email_from": "c@client.test",
                    "email_to": owner.email,
                    "partner_ids": [Command.set(client.ids)],
                }
            )
        )
        self.env["crm.email.presence"].sudo().create(
            {"email_id": email.id, "mailbox_id": mailbox.id}
        )
        Email = self.env["crm.email"]
        self.assertIn(email, Email.with_user(boss).search([]))
        # A new manager in HR: sharing follows on the next read.
        owner_emp.parent_id = Employee.create({"name": "Other", "user_id": other.id})
        self.assertEqual(owner.email_manager_id, other)
        self.assertNotIn(email, Email.with_user(boss).search([]))
        owner_emp.parent_id = False
        self.assertFalse(owner.email_manager_id)
