"""Best time to contact on constructed histories, and what it lets a colleague learn."""

import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .best_time_common import BestTimeCommon, local_to_utc, utc_to_local

SLOT_KEYS = {"weekday", "hour", "tz", "score", "confidence"}


@tagged("post_install", "-at_install")
class TestBestTime(BestTimeCommon):
    def test_human_events_make_the_slot_machines_do_not(self):
        dana = self.make_contact("Dana", tz="Europe/Paris")
        for weeks in (1, 2, 3):
            self.tracked(dana, local_to_utc("Europe/Paris", 1, 10, weeks))
            self.tracked(dana, local_to_utc("Europe/Paris", 1, 10, weeks, 40), "click")
            # machine events, many and all at 03:00 on Thursdays: no time-of-day value
            for origin in ("prefetch", "scanner", "proxy", "self"):
                self.tracked(dana, local_to_utc("Europe/Paris", 3, 3, weeks), "open", origin)
            self.tracked(dana, local_to_utc("Europe/Paris", 3, 3, weeks), "click", "scanner")
        slots = self.assertTopSlot(dana.with_user(self.alice), 1, 10, tz="Europe/Paris")
        self.assertEqual(len(slots), 3)
        self.assertGreater(slots[0]["score"], slots[1]["score"])
        self.assertGreater(slots[0]["confidence"], 0.5)
        self.assertFalse(any(s["weekday"] == 3 and s["hour"] == 3 for s in slots))

    def test_replies_and_own_mail_count_above_opens(self):
        erin = self.make_contact("Erin", tz="UTC")
        for weeks in (1, 2, 3):
            self.tracked(erin, local_to_utc("UTC", 0, 8, weeks))
        for weeks in (1, 2):
            self.own_mail(erin, local_to_utc("UTC", 2, 15, weeks), offset=0, reply=True)
            self.own_mail(erin, local_to_utc("UTC", 2, 15, weeks, 30), offset=0)
        self.assertTopSlot(erin, 2, 15)

    def test_time_zone_inferred_from_date_headers(self):
        # No tz on the contact: her mail says +05:30, written at 11:xx her time.
        farah = self.make_contact("Farah")
        self.assertFalse(farah.tz)
        for weeks in (1, 2, 3):
            self.own_mail(farah, local_to_utc("Asia/Kolkata", 3, 11, weeks), offset=330)
        self.assertTopSlot(farah, 3, 11, tz="Asia/Kolkata")
        # next best slot is 11:00 Kolkata time, within the week
        slot = farah._crm_next_best_slot("email")
        now = fields.Datetime.now()
        self.assertTrue(now < slot <= now + timedelta(days=7))
        local = utc_to_local(slot, "Asia/Kolkata")
        self.assertEqual((local.weekday(), local.hour, local.minute), (3, 11, 0))

    def test_time_zone_falls_back_on_the_company(self):
        self.acme.tz = "America/New_York"
        gus = self.make_contact("Gus", parent_id=self.acme.id)
        slots = gus.get_best_contact_slots()
        self.assertEqual({s["tz"] for s in slots}, {"America/New_York"})

    def test_new_contact_leans_on_company_then_sharpens(self):
        for weeks in (1, 2, 3, 4):
            self.own_mail(self.carol, local_to_utc("UTC", 2, 14, weeks), offset=0, reply=True)
        hugo = self.make_contact("Hugo", parent_id=self.acme.id, tz="UTC")
        slots = self.assertTopSlot(hugo, 2, 14, tz="UTC")
        carol_conf = self.carol.get_best_contact_slots()[0]["confidence"]
        self.assertLess(slots[0]["confidence"], carol_conf)
        self.assertGreater(slots[0]["confidence"], 0)
        # Hugo's own habit takes over, and confidence grows
        confidences = []
        for weeks in (1, 2, 3, 4, 5):
            self.own_mail(hugo, local_to_utc("UTC", 4, 9, weeks), offset=0, reply=True)
            confidences.append(hugo.get_best_contact_slots()[0]["confidence"])
        self.assertEqual(confidences, sorted(confidences))
        self.assertTopSlot(hugo, 4, 9)

    def test_nothing_known_gives_business_hours(self):
        ida = self.make_contact("Ida", tz="Europe/Paris")
        top = ida.get_best_contact_slots(limit=1)[0]
        self.assertLess(top["weekday"], 5)
        self.assertTrue(9 <= top["hour"] <= 17)
        self.assertEqual(top["confidence"], 0)
        self.assertIn("confidence 0 %", ida.crm_best_email_time)

    def test_calls_from_done_call_activities_and_calendar(self):
        jack = self.make_contact("Jack", tz="UTC")
        lead = self.env["crm.lead"].create({"name": "Deal", "partner_id": jack.id})
        for weeks in (1, 2):
            self.done_call(jack, local_to_utc("UTC", 4, 16, weeks))
            self.done_call(lead, local_to_utc("UTC", 4, 16, weeks, 40))
        self.calendar_call(jack, local_to_utc("UTC", 4, 16, 3))
        for weeks in (1, 2, 3):
            self.tracked(jack, local_to_utc("UTC", 0, 9, weeks))
        self.assertTopSlot(jack, 4, 16, channel="call")
        self.assertTopSlot(jack, 0, 9, channel="email")
        self.assertIn("Fri 16:00", jack.crm_best_call_time)
        self.assertIn("Mon 09:00", lead.crm_best_email_time)


@tagged("post_install", "-at_install")
class TestBestTimeCall(BestTimeCommon):
    def _check_call(self, record, partner):
        before = self.env["mail.mail"].sudo().search_count([])
        expected = partner._crm_next_best_slot("call")
        record.with_user(self.alice).action_crm_call_at_best_time()
        activity = self.env["mail.activity"].search(
            [("res_model", "=", record._name), ("res_id", "=", record.id)]
        )
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        self.assertEqual(activity.user_id, self.alice)
        event = activity.calendar_event_id
        self.assertTrue(event)
        self.assertEqual(event.start, expected)
        self.assertEqual(event.stop - event.start, timedelta(minutes=30))
        self.assertIn(partner, event.partner_ids)
        self.assertIn(self.alice.partner_id, event.partner_ids)
        self.assertEqual((event.res_model, event.res_id), (record._name, record.id))
        self.assertEqual(activity.date_deadline, utc_to_local(expected, "Europe/Paris").date())
        now = fields.Datetime.now()
        self.assertTrue(now < event.start <= now + timedelta(days=7))
        # no invitation sent to the customer
        self.assertEqual(self.env["mail.mail"].sudo().search_count([]), before)
        return event

    def test_call_at_best_time_on_contact(self):
        kim = self.make_contact("Kim", tz="Asia/Tokyo")
        for weeks in (1, 2, 3):
            self.done_call(kim, local_to_utc("Asia/Tokyo", 2, 15, weeks))
        event = self._check_call(kim, kim)
        local = utc_to_local(event.start, "Asia/Tokyo")
        self.assertEqual((local.weekday(), local.hour), (2, 15))

    def test_call_at_best_time_on_deal(self):
        lea = self.make_contact("Lea", tz="UTC")
        lead = self.env["crm.lead"].create(
            {"name": "Deal", "partner_id": lea.id, "user_id": self.alice.id}
        )
        self._check_call(lead, lea)


@tagged("post_install", "-at_install")
class TestBestTimeAttack(BestTimeCommon):
    """Bob, a colleague, asks for the slots of a contact whose mail only Alice (or nobody)
    may read: he gets the same aggregate numbers, and nothing else."""

    def test_colleague_gets_only_aggregate_numbers(self):
        mia = self.make_contact("Mia", tz="Europe/Paris")
        for weeks in (1, 2, 3):
            self.own_mail(
                mia, local_to_utc("Europe/Paris", 1, 9, weeks), offset=60, subject="Layoffs plan"
            )
            self.tracked(mia, local_to_utc("Europe/Paris", 1, 9, weeks, 30))
        as_bob = mia.with_user(self.bob)
        # Bob cannot read the evidence itself...
        self.assertFalse(
            self.env["crm.email"].with_user(self.bob).search([("partner_ids", "in", mia.ids)])
        )
        self.assertFalse(
            self.env["crm.email.tracking.event"]
            .with_user(self.bob)
            .search([("partner_id", "=", mia.id)])
        )
        # ...but the reply counts for him too: same answer as the superuser's
        slots = as_bob.get_best_contact_slots(limit=3)
        self.assertEqual(slots, mia.sudo().get_best_contact_slots(limit=3))
        self.assertEqual((slots[0]["weekday"], slots[0]["hour"]), (1, 9))
        for slot in slots:
            self.assertEqual(set(slot), SLOT_KEYS)
            self.assertIsInstance(slot["weekday"], int)
            self.assertIsInstance(slot["hour"], int)
            self.assertIsInstance(slot["score"], float)
            self.assertIsInstance(slot["confidence"], float)
        text = json.dumps(slots) + as_bob.crm_best_email_time + as_bob.crm_best_call_time
        for secret in ("Layoffs", "4242", "Only for Alice", "Offer", "alice@", "Mozilla", "2026"):
            self.assertNotIn(secret, text)

    def test_contact_he_cannot_read_is_refused(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        hidden = self.make_contact("Hidden", company_id=other_company.id)
        self.own_mail(hidden, local_to_utc("UTC", 1, 9, 1), offset=0)
        with self.assertRaises(AccessError):
            hidden.with_user(self.bob).get_best_contact_slots()
        with self.assertRaises(AccessError):
            hidden.with_user(self.bob)._crm_next_best_slot("email")

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            self.carol.with_user(self.bob).get_best_contact_slots(channel="fax")
        self.assertEqual(len(self.carol.with_user(self.bob).get_best_contact_slots(limit=99)), 24)

    def test_new_fields_not_writable_over_rpc(self):
        email = self.own_mail(self.carol, local_to_utc("UTC", 1, 9, 1), offset=0)
        with self.assertRaises(AccessError):
            email.with_user(self.bob).write({"crm_date_utc_offset": "60"})
