"""Email Insights status: delivered, replied and bounced through the real paths (SMTP sink,
Dovecot sync, Odoo's bounce alias), precedence, contact and deal filters as the attacker,
template statistics."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from crm_mail_channel_core import mime

from .deal_common import make_mail, new_msgid, with_headers
from .test_send_from_crm import SendCase


def dsn(original_message_id, recipient, to="alice@ourco.example", msgid=None):
    """An RFC 3464 delivery report as Postfix writes it (test fixture)."""
    text = f"""Return-Path: <>
From: MAILER-DAEMON@mx.ourco.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"
Message-Id: {msgid or new_msgid()}
Date: Mon, 30 Nov 2026 10:00:00 +0000

--B0UND
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered to one or more recipients.

<{recipient}>: host mx.acme.example said: 550 5.1.1 User unknown

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.ourco.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B0UND
Content-Type: message/rfc822

From: Alice <alice@ourco.example>
To: {recipient}
Subject: Our offer
Message-Id: {original_message_id}

Here is our offer.

--B0UND--
"""
    return text.replace("\n", "\r\n").encode()


class InsightsCase(SendCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("crm_mail_channel.insights_enabled", "True")
        cls.user_b.groups_id -= cls.env.ref("sales_team.group_sale_salesman_all_leads")

    def send_tracked(self, record=None, subject="Our offer", template=None, partners=None):
        """Send from ``record`` (Alice's deal by default) through the SMTP sink; its email and
        its tracking rows (Joe's alone unless ``partners``)."""
        record = (record or self.deal_1).with_user(self.user_a)
        action = record.action_crm_send_email()
        if template:
            action["context"] = dict(action["context"], default_template_id=template.id)
        if partners:
            action["context"] = dict(action["context"], default_partner_ids=partners.ids)
        message = self.compose_and_send(action, subject=None if template else subject)
        self.sink_message(message.message_id)
        email = self.emails_with(message.message_id)
        self.assertEqual(len(email), 1)
        tracking = email.sudo().tracking_ids
        self.assertEqual(len(tracking), len(partners or self.joe), "one per outside recipient")
        return message, email, tracking

    def event(self, tracking, event_type, origin="human"):
        return tracking.sudo()._crm_record_event({"event_type": event_type, "origin": origin})


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestInsightsStatus(InsightsCase):
    def test_precedence_delivered_to_bounced(self):
        message, email, tracking = self.send_tracked()
        # The SMTP sink accepted Joe's copy.
        self.assertEqual(tracking.state, "delivered")
        self.assertEqual(tracking.mail_message_id, message.message_id)
        self.assertEqual(email.with_user(self.user_a).insights_state, "delivered")
        # Machine opens say nothing.
        self.event(tracking, "open", "prefetch")
        self.event(tracking, "open", "scanner")
        self.assertEqual(tracking.state, "delivered")
        self.event(tracking, "open")
        self.assertEqual(tracking.state, "opened")
        self.event(tracking, "click", "scanner")
        self.assertEqual(tracking.state, "opened")
        self.event(tracking, "click")
        self.assertEqual(tracking.state, "clicked")
        self.event(tracking, "reply")
        self.assertEqual(tracking.state, "replied")
        self.event(tracking, "open")  # a later open does not go back
        self.assertEqual(tracking.state, "replied")
        self.assertEqual(email.with_user(self.user_a).insights_state, "replied")
        self.event(tracking, "bounce", "system")
        self.assertEqual(tracking.state, "bounced")
        self.event(tracking, "click")  # Bounced wins
        self.assertEqual(tracking.state, "bounced")
        self.assertEqual(email.with_user(self.user_a).insights_state, "bounced")
        found = (
            self.env["crm.email"]
            .with_user(self.user_a)
            .search([("insights_state", "=", "bounced")])
        )
        self.assertIn(email, found)
        # Bob may not read Alice's deal mail: no status, and the filter does not find it.
        self.assertFalse(
            self.env["crm.email"]
            .with_user(self.user_b)
            .search([("insights_state", "=", "bounced")])
            .filtered(lambda e: e.id == email.id)
        )

    def test_reply_through_sync_marks_replied(self):
        message, _email, tracking = self.send_tracked()
        self.mailbox.sudo()._sync()  # the Sent copy: Alice's own mail, no reply
        self.assertEqual(tracking.state, "delivered")
        # Joe's out-of-office answer is no reply.
        away = with_headers(
            make_mail(
                "Joe Customer <joe@acme.example>",
                "alice@ourco.example",
                subject="Automatic reply: Our offer",
            ),
            {"In-Reply-To": message.message_id, "Auto-Submitted": "auto-replied"},
        )
        self.append(self.login, self.password, "INBOX", [away])
        self.mailbox.sudo()._sync()
        self.assertEqual(tracking.state, "delivered")
        answer_id = new_msgid()
        answer = with_headers(
            make_mail(
                "Joe Customer <joe@acme.example>",
                "alice@ourco.example",
                subject="Re: Our offer",
                message_id=answer_id,
            ),
            {"In-Reply-To": message.message_id, "References": message.message_id},
        )
        # Ann answers in the same thread: she was not the recipient of this copy.
        ann_answer = with_headers(
            make_mail("ann@acme.example", "alice@ourco.example", subject="Re: Our offer"),
            {"In-Reply-To": message.message_id},
        )
        self.append(self.login, self.password, "INBOX", [answer, ann_answer])
        self.mailbox.sudo()._sync()
        self.assertEqual(self.mailbox.state, "connected", self.mailbox.last_error)
        self.assertEqual(tracking.state, "replied")
        replies = tracking.sudo().event_ids.filtered(lambda e: e.event_type == "reply")
        self.assertEqual(len(replies), 1)
        self.assertEqual((replies.origin, replies.source_message_id), ("human", answer_id))
        # The reply is still stored as Joe's email, on the deal.
        self.assertEqual(self.emails_with(answer_id).lead_id, self.deal_1)
        # Synced again (another mailbox, a rescan): still one reply event.
        self.env["crm.email.tracking"]._crm_replies_from_sync([mime.parse_message(answer)])
        self.assertEqual(
            len(tracking.sudo().event_ids.filtered(lambda e: e.event_type == "reply")), 1
        )
        # Alice reads the event; Bob, who may not read Alice's deal mail, does not.
        Event = self.env["crm.email.tracking.event"]
        self.assertEqual(Event.with_user(self.user_a).search([("id", "=", replies.id)]), replies)
        self.assertFalse(Event.with_user(self.user_b).search([("id", "=", replies.id)]))

    def test_dsn_in_senders_mailbox_marks_bounced_and_is_not_customer_mail(self):
        message, email, tracking = self.send_tracked()
        # Even a contact for the mail system's address does not make a report customer mail.
        self.env["res.partner"].create(
            {"name": "Mail Delivery System", "email": "MAILER-DAEMON@mx.ourco.example"}
        )
        report_id = new_msgid()
        report = dsn(message.message_id, "joe@acme.example", msgid=report_id)
        self.append(self.login, self.password, "INBOX", [report])
        self.mailbox.sudo()._sync()
        self.assertEqual(self.mailbox.state, "connected", self.mailbox.last_error)
        self.assertEqual(tracking.state, "bounced")
        bounce = tracking.sudo().event_ids.filtered(lambda e: e.event_type == "bounce")
        self.assertEqual((bounce.origin, bounce.source_message_id), ("system", report_id))
        self.assertIn("User unknown", bounce.reasons)
        self.assertFalse(self.emails_with(report_id), "a delivery report is no customer mail")
        self.assertEqual(email.with_user(self.user_a).insights_state, "bounced")
        # Only its key is kept: the next sync does not fetch and import it again.
        unmatched = (
            self.env["crm.mailbox.unmatched"].sudo().search([("mailbox_id", "=", self.mailbox.id)])
        )
        self.assertTrue(unmatched.filtered(lambda u: u.address == "?"))
        self.mailbox.sudo()._sync()
        self.assertFalse(self.emails_with(report_id))
        self.assertEqual(
            len(tracking.sudo().event_ids.filtered(lambda e: e.event_type == "bounce")), 1
        )

    def test_dsn_bounces_only_the_recipient_it_names(self):
        message, email, trackings = self.send_tracked(partners=self.joe | self.ann)
        self.assertEqual(set(trackings.mapped("state")), {"delivered"})
        self.append(
            self.login, self.password, "INBOX", [dsn(message.message_id, "ann@acme.example")]
        )
        self.mailbox.sudo()._sync()
        by_partner = {t.partner_id: t.state for t in trackings}
        self.assertEqual(by_partner, {self.joe: "delivered", self.ann: "bounced"})
        # The email shows the bounce: any recipient's bounce needs attention.
        self.assertEqual(email.with_user(self.user_a).insights_state, "bounced")

    def test_dsn_in_another_users_mailbox_says_nothing(self):
        message, _email, tracking = self.send_tracked()
        mailbox_b, login_b, password_b = self.make_mailbox(self.user_b)
        self.append(login_b, password_b, "INBOX", [dsn(message.message_id, "joe@acme.example")])
        mailbox_b.sudo()._sync()
        self.assertEqual(tracking.state, "delivered")

    def test_odoo_routed_bounce_marks_bounced(self):
        message, email, tracking = self.send_tracked()
        alias_domain = self.env["mail.alias.domain"].create(
            {"name": "bounces.ourco.example", "bounce_alias": "bounce"}
        )
        report_id = new_msgid()
        raw = dsn(
            message.message_id, "joe@acme.example", to=alias_domain.bounce_email, msgid=report_id
        )
        self.env["mail.thread"].message_process(False, raw)
        self.assertEqual(tracking.state, "bounced")
        bounce = tracking.sudo().event_ids.filtered(lambda e: e.event_type == "bounce")
        self.assertEqual((bounce.origin, bounce.source_message_id), ("system", report_id))
        self.assertEqual(email.with_user(self.user_a).insights_state, "bounced")
        self.assertFalse(self.emails_with(report_id))


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestInsightsStatusFilters(InsightsCase):
    def partner_filter(self, user, fname, partner):
        return (
            self.env["res.partner"]
            .with_user(user)
            .search([("id", "in", [partner.id, partner.parent_id.id]), (fname, "=", True)])
        )

    def deal_filter(self, user, fname):
        return self.env["crm.lead"].with_user(user).search([(fname, "=", True)])

    def test_filters_follow_who_may_read_the_email(self):
        _message, _email, tracking = self.send_tracked()  # on Alice's deal
        a, b = self.user_a, self.user_b
        for fname in ("crm_insights_not_opened", "crm_insights_clicked", "crm_insights_bounced"):
            self.assertFalse(self.partner_filter(a, fname, self.joe), fname)
        # Emailed four days ago, not opened.
        tracking.sudo().sent_date = fields.Datetime.now() - timedelta(days=4)
        self.assertEqual(
            self.partner_filter(a, "crm_insights_not_opened", self.joe), self.joe | self.company
        )
        self.assertEqual(self.deal_filter(a, "crm_insights_not_opened"), self.deal_1)
        # The attack: Bob sees Joe and Joe's company, not Alice's deal mail, so not its status.
        self.assertFalse(self.partner_filter(b, "crm_insights_not_opened", self.joe))
        self.assertFalse(self.deal_filter(b, "crm_insights_not_opened"))
        self.assertFalse(
            self.env["res.partner"].with_user(b).browse(self.joe.id).crm_insights_not_opened
        )
        # A human click.
        self.event(tracking, "click")
        self.assertFalse(self.partner_filter(a, "crm_insights_not_opened", self.joe))
        self.assertIn(self.joe, self.partner_filter(a, "crm_insights_clicked", self.joe))
        self.assertTrue(
            self.env["res.partner"].with_user(a).browse(self.joe.id).crm_insights_clicked
        )
        self.assertEqual(self.deal_filter(a, "crm_insights_clicked"), self.deal_1)
        self.assertFalse(self.partner_filter(b, "crm_insights_clicked", self.joe))
        # A bounce.
        self.event(tracking, "bounce", "system")
        self.assertIn(self.joe, self.partner_filter(a, "crm_insights_bounced", self.joe))
        self.assertEqual(self.deal_filter(a, "crm_insights_bounced"), self.deal_1)
        self.assertFalse(self.partner_filter(b, "crm_insights_bounced", self.joe))
        self.assertFalse(self.deal_filter(b, "crm_insights_bounced"))
        # Mail Alice sends from Joe's contact, without a deal, is shared with whoever opens
        # the contact: Bob may read it, so its bounce counts for him.
        _message, email_2, tracking_2 = self.send_tracked(record=self.joe)
        self.event(tracking_2, "bounce", "system")
        self.assertIn(self.joe, self.partner_filter(b, "crm_insights_bounced", self.joe))
        self.assertEqual(email_2.with_user(b).insights_state, "bounced")
        # Insights follow the body: when colleagues may read subjects only, Bob still finds
        # the email but learns nothing of its status.
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.email_visibility_level", "subject"
        )
        self.assertIn(email_2, self.env["crm.email"].with_user(b).search([]))
        email_2.invalidate_recordset(["insights_state"])  # a new request
        self.assertFalse(email_2.with_user(b).insights_state)
        self.assertFalse(self.partner_filter(b, "crm_insights_bounced", self.joe))
        self.assertNotIn(
            email_2,
            self.env["crm.email"].with_user(b).search([("insights_state", "=", "bounced")]),
        )
        # Nor through the stored aggregate, and nobody sets a status or a template over RPC.
        with self.assertRaises(AccessError):
            email_2.with_user(b).read(["insights_state_stored"])
        for user in (a, b):
            with self.assertRaises(AccessError):
                email_2.with_user(user).write({"crm_template_id": False})
            with self.assertRaises(AccessError):
                tracking_2.with_user(user).write({"state": "replied"})


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestInsightsTemplateStats(InsightsCase):
    def test_template_statistics(self):
        Template = self.env["mail.template"]
        offer = Template.create(
            {
                "name": "Offer",
                "model_id": self.env.ref("crm.model_crm_lead").id,
                "subject": "Our offer",
                "body_html": "<p>Here is our offer.</p>",
            }
        )
        follow_up = Template.create(
            {
                "name": "Follow-up",
                "model_id": self.env.ref("crm.model_crm_lead").id,
                "subject": "Following up",
                "body_html": "<p>Any news?</p>",
            }
        )
        _m1, email_1, t1 = self.send_tracked(self.deal_1, template=offer)
        _m2, _e2, t2 = self.send_tracked(self.deal_2, template=offer)
        _m3, _e3, t3 = self.send_tracked(self.deal_ann, template=follow_up)
        _m4, email_4, _t4 = self.send_tracked(self.deal_1, subject="No template")
        self.assertEqual(email_1.crm_template_id, offer)
        self.assertFalse(email_4.crm_template_id)
        self.event(t1, "open", "prefetch")
        self.event(t1, "open")
        self.event(t1, "open")
        self.event(t1, "reply")
        self.event(t2, "click", "scanner")
        self.event(t2, "bounce", "system")
        self.event(t3, "open")
        self.event(t3, "click")
        manager = new_test_user(
            self.env,
            login="cmc_sales_manager",
            groups="sales_team.group_sale_manager,base.group_user",
        )
        self.env.flush_all()
        Report = self.env["crm.email.template.report"].with_user(manager)
        rows = {row.template_id: row for row in Report.search([])}
        self.assertEqual(set(rows), {offer, follow_up})
        row = rows[offer]
        self.assertEqual(
            (row.sent_count, row.delivered_count, row.opened_count, row.human_open_count),
            (2, 1, 1, 2),
        )
        self.assertEqual((row.replied_count, row.bounced_count, row.clicked_count), (1, 1, 0))
        self.assertEqual((row.machine_open_count, row.machine_click_count), (1, 1))
        self.assertEqual((row.reply_rate, row.open_rate, row.bounce_rate), (100.0, 100.0, 50.0))
        row = rows[follow_up]
        self.assertEqual((row.sent_count, row.clicked_count, row.replied_count), (1, 1, 0))
        # Best performing first (reply rate, then open rate).
        self.assertEqual(Report.search([]).template_id, offer | follow_up)
        self.assertEqual(Report.search([])[0].template_id, offer)
        # The graph and pivot views group by template.
        views = Report.get_views([(False, "list"), (False, "graph"), (False, "pivot")])
        self.assertEqual(set(views["views"]), {"list", "graph", "pivot"})
        groups = Report.read_group(
            [], ["reply_rate:avg", "sent_count:sum"], ["template_id"], orderby="reply_rate desc"
        )
        self.assertEqual(
            [(g["template_id"][0], g["sent_count"], g["reply_rate"]) for g in groups],
            [(offer.id, 2, 100.0), (follow_up.id, 1, 0.0)],
        )
        # A sales user sees no statistics that add up colleagues' private mail.
        with self.assertRaises(AccessError):
            self.env["crm.email.template.report"].with_user(self.user_a).search([])
