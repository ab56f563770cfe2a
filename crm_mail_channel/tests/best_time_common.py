"""Constructed histories for the best-time tests: tracked emails with events, the contact's
own mail with its Date-header offset, done calls and calendar events."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from odoo import Command, fields
from odoo.tests import TransactionCase, new_test_user


def local_to_utc(tz, weekday, hour, weeks_ago=1, minute=12):
    """Naive UTC of local ``weekday``/``hour`` in ``tz``, ``weeks_ago`` weeks back."""
    zone = ZoneInfo(tz)
    today = fields.Datetime.now().replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    monday = today.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=today.weekday(), weeks=weeks_ago
    )
    local = (monday + timedelta(days=weekday)).replace(hour=hour, minute=minute)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def utc_to_local(value, tz):
    return value.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(tz))


class BestTimeCommon(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = "sales_team.group_sale_salesman,base.group_partner_manager"
        cls.alice = new_test_user(
            cls.env, "bt_alice", groups=groups, email="alice@ours.example", tz="Europe/Paris"
        )
        cls.bob = new_test_user(
            cls.env, "bt_bob", groups=groups, email="bob@ours.example", tz="Europe/Paris"
        )
        Partner = cls.env["res.partner"]
        cls.acme = Partner.create({"name": "Acme", "is_company": True, "tz": "UTC"})
        cls.carol = Partner.create(
            {"name": "Carol", "email": "carol@acme.example", "parent_id": cls.acme.id}
        )

    def setUp(self):
        super().setUp()
        # The organisation's profile is cached per day: nothing from another test.
        self.env.registry.clear_cache()

    def make_contact(self, name, **vals):
        return self.env["res.partner"].create(
            {"name": name, "email": "%s@acme.example" % name.lower(), **vals}
        )

    def sent_email(self, partner, when):
        """An email sent from CRM to ``partner`` (superuser, as the sending path stores it)."""
        message_id = "<%s@ours.example>" % uuid.uuid4().hex
        return (
            self.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": message_id,
                    "fingerprint": "test",
                    "subject": "Offer for %s" % partner.name,
                    "date": when,
                    "email_from": self.alice.email,
                    "email_to": partner.email,
                    "partner_ids": [Command.set(partner.ids)],
                    "body_html": "<p>Secret price 4242</p>",
                    "thread_key": message_id,
                }
            )
        )

    def tracked(self, partner, when, kind="open", origin="human"):
        """One tracking event of ``kind``/``origin`` at ``when`` on an email to ``partner``."""
        email = self.sent_email(partner, when - timedelta(hours=2))
        tracking = (
            self.env["crm.email.tracking"]
            .sudo()
            .create({"email_id": email.id, "partner_id": partner.id, "sent_date": email.date})
        )
        return (
            self.env["crm.email.tracking.event"]
            .sudo()
            .create(
                {
                    "tracking_id": tracking.id,
                    "event_type": kind,
                    "event_date": when,
                    "origin": origin,
                    "user_agent": "Mozilla/5.0",
                }
            )
        )

    def own_mail(self, partner, when_utc, offset=None, reply=False, subject="Private note"):
        """Mail written by ``partner`` as the sync stores it: no mailbox presence, so no user
        but the superuser reads it."""
        message_id = "<%s@acme.example>" % uuid.uuid4().hex
        return (
            self.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": message_id,
                    "fingerprint": "test",
                    "subject": subject,
                    "date": when_utc,
                    "email_from": "%s <%s>" % (partner.name, partner.email),
                    "email_to": self.alice.email,
                    "partner_ids": [Command.set(partner.ids)],
                    "body_html": "<p>Only for Alice</p>",
                    "in_reply_to": "<x@ours.example>" if reply else False,
                    "thread_key": message_id,
                    "crm_date_utc_offset": str(offset) if offset is not None else False,
                }
            )
        )

    def done_call(self, record, when):
        """A call activity on ``record`` marked done, its message dated ``when``."""
        activity = record.activity_schedule(
            "mail.mail_activity_data_call", user_id=self.env.uid, summary="Call"
        )
        activity.action_feedback(feedback="Talked")
        message = self.env["mail.message"].search(
            [("model", "=", record._name), ("res_id", "=", record.id)],
            order="id desc",
            limit=1,
        )
        self.assertTrue(message.mail_activity_type_id)
        message.sudo().write({"date": when})
        return message

    def calendar_call(self, partner, when):
        return (
            self.env["calendar.event"]
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": "Call",
                    "start": when,
                    "stop": when + timedelta(minutes=30),
                    "partner_ids": [Command.set(partner.ids)],
                }
            )
        )

    def assertTopSlot(self, partner, weekday, hour, channel="email", tz=None):
        slots = partner.get_best_contact_slots(channel=channel, limit=3)
        self.assertTrue(slots)
        top = slots[0]
        self.assertEqual((top["weekday"], top["hour"]), (weekday, hour), slots)
        if tz:
            self.assertEqual(top["tz"], tz)
        return slots


__all__ = ["BestTimeCommon", "datetime", "local_to_utc", "utc_to_local"]
