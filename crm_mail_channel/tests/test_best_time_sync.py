"""Best time from synced mail: the Date header's offset is stored, and gives the contact's zone
and local hour when the contact has no time zone."""

from odoo.tests import tagged

from .best_time_common import local_to_utc, utc_to_local
from .common import MailboxCommon, make_mail


@tagged("post_install", "-at_install")
class TestBestTimeSync(MailboxCommon):
    def test_synced_mail_gives_zone_and_hour(self):
        self.env.registry.clear_cache()  # the organisation's profile is cached per day
        mailbox, login, password = self.make_mailbox(self.user_a)
        raws = [
            make_mail(
                "Joe Customer <joe@acme.example>",
                login,
                subject="Week %d" % weeks,
                date=utc_to_local(local_to_utc("Asia/Kolkata", 3, 11, weeks), "Asia/Kolkata"),
            )
            for weeks in (1, 2, 3)
        ]
        self.append(login, password, "INBOX", raws)
        mailbox.with_user(self.user_a).action_sync_now()
        emails = self.env["crm.email"].sudo().search([("partner_ids", "in", self.joe.ids)])
        self.assertEqual(len(emails), 3)
        self.assertEqual(set(emails.mapped("crm_date_utc_offset")), {"330"})
        self.assertFalse(self.joe.tz)
        # Whatever Bob may read of Alice's mail, her contact's mail counts for him too
        slots = self.joe.with_user(self.user_b).get_best_contact_slots(limit=1)
        self.assertEqual(slots, self.joe.with_user(self.user_a).get_best_contact_slots(limit=1))
        top = slots[0]
        self.assertEqual((top["weekday"], top["hour"], top["tz"]), (3, 11, "Asia/Kolkata"))
