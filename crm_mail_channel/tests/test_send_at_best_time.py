"""Send at the best time (composer), and Odoo's scheduled messages made safe: 60 due at once
all posted with their subjects, the template kept for statistics."""

from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .best_time_common import BestTimeCommon, local_to_utc, utc_to_local


@tagged("post_install", "-at_install")
class TestSendAtBestTime(BestTimeCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nora = cls.env["res.partner"].create(
            {"name": "Nora", "email": "nora@acme.example", "tz": "America/New_York"}
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Follow-up",
                "model_id": cls.env["ir.model"]._get_id("res.partner"),
                "subject": "Following up, {{ object.name }}",
                "body_html": "<p>Dear {{ object.name }}</p>",
            }
        )

    def _composer(self, user, record, **vals):
        return (
            self.env["mail.compose.message"]
            .with_user(user)
            .with_context(
                default_model=record._name,
                default_res_ids=record.ids,
                default_composition_mode="comment",
            )
            .create({"partner_ids": [(6, 0, self.nora.ids)], **vals})
        )

    def _make_due(self, scheduled):
        """Move scheduled messages into the past (the model refuses a past date)."""
        self.env.cr.execute(
            "UPDATE mail_scheduled_message SET scheduled_date = %s WHERE id IN %s",
            (fields.Datetime.now() - timedelta(minutes=1), tuple(scheduled.ids)),
        )
        scheduled.invalidate_recordset(["scheduled_date"])

    def test_send_at_best_time_schedules_at_the_slot_with_template(self):
        for weeks in (1, 2, 3):
            self.own_mail(self.nora, local_to_utc("America/New_York", 2, 8, weeks), offset=-300)
        composer = self._composer(self.alice, self.nora, template_id=self.template.id)
        self.assertEqual(composer.subject, "Following up, Nora")
        self.assertIn("Best time for Nora", composer.crm_best_time_label)
        expected = self.nora._crm_next_best_slot("email")
        composer.action_crm_send_at_best_time()
        scheduled = (
            self.env["mail.scheduled.message"]
            .sudo()
            .search([("model", "=", "res.partner"), ("res_id", "=", self.nora.id)])
        )
        self.assertEqual(len(scheduled), 1)
        self.assertEqual(scheduled.scheduled_date, expected)
        local = utc_to_local(scheduled.scheduled_date, "America/New_York")
        self.assertEqual((local.weekday(), local.hour, local.minute), (2, 8, 0))
        self.assertEqual(scheduled.subject, "Following up, Nora")
        self.assertEqual(scheduled.crm_template_id, self.template)
        self.assertEqual(scheduled.create_uid, self.alice)
        self.assertFalse(self.nora.message_ids.filtered(lambda m: m.subject == scheduled.subject))

        # When due: posted by Alice with its subject, recorded as a CRM email, template handed on
        seen = []
        Partner = type(self.env["res.partner"])
        original = Partner._message_post_after_hook

        def spy(record, message, msg_values):
            seen.append(record.env.context.get("crm_mail_template_id"))
            return original(record, message, msg_values)

        self._make_due(scheduled)
        with patch.object(Partner, "_message_post_after_hook", spy):
            self.env["mail.scheduled.message"].sudo()._post_messages_cron()
        self.assertFalse(scheduled.exists())
        message = self.nora.message_ids.filtered(lambda m: m.subject == "Following up, Nora")
        self.assertEqual(len(message), 1)
        self.assertEqual(message.author_id, self.alice.partner_id)
        self.assertEqual(seen, [self.template.id])
        email = (
            self.env["crm.email"]
            .sudo()
            .search([("partner_ids", "in", self.nora.ids), ("sent_from_crm", "=", True)])
        )
        self.assertEqual(email.subject, "Following up, Nora")
        # template statistics see it (crm.email.crm_template_id, Email Insights)
        self.assertEqual(email.crm_template_id, self.template)

    def test_send_at_best_time_on_a_deal(self):
        lead = self.env["crm.lead"].create(
            {"name": "Big deal", "partner_id": self.nora.id, "user_id": self.alice.id}
        )
        composer = self._composer(self.alice, lead, subject="Proposal", body="<p>Hi</p>")
        expected = self.nora._crm_next_best_slot("email")
        composer.action_crm_send_at_best_time()
        scheduled = (
            self.env["mail.scheduled.message"]
            .sudo()
            .search([("model", "=", "crm.lead"), ("res_id", "=", lead.id)])
        )
        self.assertEqual(scheduled.scheduled_date, expected)
        self.assertEqual(scheduled.subject, "Proposal")
        self.assertFalse(scheduled.crm_template_id)
        now = fields.Datetime.now()
        self.assertTrue(now < scheduled.scheduled_date <= now + timedelta(days=7))

    def test_odoo_send_later_keeps_the_template_too(self):
        composer = self._composer(self.alice, self.nora, template_id=self.template.id)
        later = fields.Datetime.now() + timedelta(days=2)
        composer.action_schedule_message(scheduled_date=fields.Datetime.to_string(later))
        scheduled = (
            self.env["mail.scheduled.message"]
            .sudo()
            .search([("model", "=", "res.partner"), ("res_id", "=", self.nora.id)])
        )
        self.assertEqual(scheduled.crm_template_id, self.template)
        self.assertEqual(scheduled.subject, "Following up, Nora")

    def test_cc_is_not_silently_dropped(self):
        carol = self.carol
        composer = self._composer(
            self.alice, self.nora, subject="S", body="<p>b</p>", crm_cc_partner_ids=carol.ids
        )
        with self.assertRaises(UserError):
            composer.action_crm_send_at_best_time()
        self.assertFalse(
            self.env["mail.scheduled.message"].sudo().search([("res_id", "=", self.nora.id)])
        )

    def test_composer_form_shows_the_best_time(self):
        for weeks in (1, 2):
            self.own_mail(self.nora, local_to_utc("America/New_York", 2, 8, weeks), offset=-300)
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.alice)
            .with_context(
                default_model="res.partner",
                default_res_ids=self.nora.ids,
                default_composition_mode="comment",
                default_partner_ids=self.nora.ids,
            )
        )
        # shown in Alice's time zone (Europe/Paris)
        expected = utc_to_local(self.nora._crm_next_best_slot("email"), "Europe/Paris")
        self.assertIn("Best time for Nora", composer.crm_best_time_label)
        self.assertIn(expected.strftime("%Y-%m-%d %H:%M"), composer.crm_best_time_label)

    def test_note_cannot_be_sent_at_best_time(self):
        composer = self._composer(
            self.alice, self.nora, subtype_id=self.env.ref("mail.mt_note").id, body="<p>n</p>"
        )
        self.assertFalse(composer.crm_best_time_label)
        with self.assertRaises(UserError):
            composer.action_crm_send_at_best_time()

    def _schedule_many(self, count):
        Scheduled = self.env["mail.scheduled.message"].with_user(self.alice)
        later = fields.Datetime.now() + timedelta(hours=1)
        scheduled = Scheduled.create(
            [
                {
                    "model": "res.partner",
                    "res_id": self.nora.id,
                    "author_id": self.alice.partner_id.id,
                    "partner_ids": [(6, 0, self.nora.ids)],
                    "subject": "Scheduled %02d" % index,
                    "body": "<p>Body %02d</p>" % index,
                    "scheduled_date": later,
                }
                for index in range(count)
            ]
        )
        self._make_due(scheduled)
        return scheduled

    def _assert_all_posted(self, scheduled, count):
        self.assertFalse(scheduled.exists())
        subjects = set(
            self.nora.message_ids.filtered(
                lambda m: (m.subject or "").startswith("Scheduled")
            ).mapped("subject")
        )
        self.assertEqual(subjects, {"Scheduled %02d" % i for i in range(count)})

    def test_sixty_due_messages_all_posted_with_subjects(self):
        scheduled = self._schedule_many(60)
        # Odoo's own cron code, as the cron runs it
        remaining = self.env["mail.scheduled.message"].sudo()._post_messages_cron()
        self.assertEqual(remaining, 0)
        self._assert_all_posted(scheduled, 60)

    def test_sixty_due_messages_through_the_cron_job(self):
        scheduled = self._schedule_many(60)
        cron = self.env.ref("mail.ir_cron_post_scheduled_message")
        cron.method_direct_trigger()
        self._assert_all_posted(scheduled, 60)

    def test_rest_of_a_long_queue_triggers_the_cron_by_ref(self):
        # 23 due, batches of 1, 20 batches a call: 3 left, the cron triggered (no TypeError)
        scheduled = self._schedule_many(23)
        cron = self.env.ref("mail.ir_cron_post_scheduled_message")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        remaining = self.env["mail.scheduled.message"].sudo()._post_messages_cron(limit=1)
        self.assertEqual(remaining, 3)
        self.assertEqual(len(scheduled.exists()), 3)
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1
        )
        self.assertEqual(self.env["mail.scheduled.message"].sudo()._post_messages_cron(), 0)
        self._assert_all_posted(scheduled, 23)

    def test_one_failing_message_does_not_stop_the_others(self):
        scheduled = self._schedule_many(3)
        bad = scheduled[1]
        Partner = type(self.env["res.partner"])
        original = Partner.message_post

        def failing(record, **kwargs):
            if kwargs.get("subject") == bad.subject:
                raise UserError(self.env._("boom"))
            return original(record, **kwargs)

        logger = "odoo.addons.crm_mail_channel.models.mail_scheduled_message"
        with patch.object(Partner, "message_post", failing), self.assertLogs(logger, "ERROR"):
            self.env["mail.scheduled.message"].sudo()._post_messages_cron()
        subjects = set(self.nora.message_ids.mapped("subject"))
        self.assertIn("Scheduled 00", subjects)
        self.assertIn("Scheduled 02", subjects)
        self.assertNotIn("Scheduled 01", subjects)
