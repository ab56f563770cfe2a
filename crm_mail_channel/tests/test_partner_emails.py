from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import MailboxCommon, make_mail


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestPartnerEmails(MailboxCommon):
    def test_company_shows_its_contacts_emails_and_counts_match(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("joe@acme.example", login, subject="From Joe"),
                make_mail("ann@acme.example", login, subject="From Ann"),
                make_mail("ann@acme.example", login, cc=["joe@acme.example"], subject="Both"),
                make_mail("info@acme.example", login, subject="From the company"),
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()

        company, joe, ann = (p.with_user(self.user_a) for p in (self.company, self.joe, self.ann))
        self.assertEqual(sorted(joe.crm_email_ids.mapped("subject")), ["Both", "From Joe"])
        self.assertEqual(sorted(ann.crm_email_ids.mapped("subject")), ["Both", "From Ann"])
        self.assertEqual(len(company.crm_email_ids), 4)
        for partner in (company, joe, ann):
            action = partner.action_view_crm_emails()
            listed = self.env["crm.email"].with_user(self.user_a).search(action["domain"])
            self.assertEqual(partner.crm_email_count, len(listed))
            self.assertEqual(listed, partner.crm_email_ids)
        # Another user sees none of Alice's mail, and no count either.
        self.assertEqual(self.company.with_user(self.user_b).crm_email_count, 0)

    def test_email_content_and_attachments_private_to_owner(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail(
                    "joe@acme.example",
                    login,
                    subject="Contract",
                    body="See attached.",
                    html='<p>See <b>attached</b>.</p><script>alert("x")</script>',
                    attachments=[("contract.pdf", "application/pdf", b"%PDF-1.4 fake")],
                )
            ],
        )
        mailbox.with_user(self.user_a).action_sync_now()

        email = self.env["crm.email"].with_user(self.user_a).search([("subject", "=", "Contract")])
        self.assertTrue(email.has_attachments)
        self.assertIn("<b>attached</b>", email.body_html)
        self.assertNotIn("<script", email.body_html)
        self.assertEqual(email.email_from, "joe@acme.example")
        self.assertIn(login, email.my_mailbox_info)
        attachment = email.attachment_ids
        self.assertEqual(attachment.name, "contract.pdf")
        self.assertEqual(attachment.raw, b"%PDF-1.4 fake")

        self.assertFalse(
            self.env["crm.email"].with_user(self.user_b).search([("id", "=", email.id)])
        )
        with self.assertRaises(AccessError):
            attachment.with_user(self.user_b).read(["raw"])
        with self.assertRaises(AccessError):
            email.with_user(self.user_b).read(["body_html"])


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttachmentDownload(HttpCase):
    def test_web_content_follows_email_access(self):
        groups = "sales_team.group_sale_salesman,base.group_user"
        owner = new_test_user(
            self.env, login="cmc_dl_owner", password="cmc_dl_owner", groups=groups
        )
        new_test_user(self.env, login="cmc_dl_other", password="cmc_dl_other", groups=groups)
        mailbox = self.env["crm.mailbox"].create({"user_id": owner.id, "login": "x@y.example"})
        email = self.env["crm.email"].create(
            {"message_id": "<dl@test.example>", "fingerprint": "dl", "subject": "Private"}
        )
        self.env["crm.email.presence"].create({"email_id": email.id, "mailbox_id": mailbox.id})
        attachment = self.env["ir.attachment"].create(
            {
                "name": "secret.txt",
                "raw": b"top secret",
                "res_model": "crm.email",
                "res_id": email.id,
                "mimetype": "text/plain",
            }
        )
        url = f"/web/content/{attachment.id}?download=true"

        self.authenticate("cmc_dl_owner", "cmc_dl_owner")
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"top secret")

        self.authenticate("cmc_dl_other", "cmc_dl_other")
        response = self.url_open(url)
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn(b"top secret", response.content)
