"""Email Insights, the real path: mail sent from a deal through the SMTP sink, its pixel and
links hit over HTTP as people and machines do, counts, the Sent copy in Dovecot, and who may
read the insights (the email body's readers, nobody else)."""

import email
import email.policy
import re
import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from . import test_send_from_crm as send_case
from .common import really_send

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
OFFER_URL = "https://shop.example.com/offer?ref=42"
BODY = f'<p>Here is our offer: <a href="{OFFER_URL}">see the offer</a>.</p>'
PIXEL_RE = re.compile(r"/crm_mail/t/([A-Za-z0-9_\-]+)/o\.gif")
LINK_RE = re.compile(r"/crm_mail/t/([A-Za-z0-9_\-]+)/c/([A-Za-z0-9]+)")


def html_of(raw):
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html",))
    return parsed, (part.get_content() if part else "")


class InsightsCase(send_case.SendCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("crm_mail_channel.insights_enabled", "True")

    def composer(self, action, user=None):
        user = user or self.user_a
        return Form(
            self.env["mail.compose.message"].with_user(user).with_context(**action["context"])
        )

    def send_from_deal(self, deal, to=(), cc=(), body=BODY, track=None, user=None):
        user = user or self.user_a
        form = self.composer(deal.with_user(user).action_crm_send_email(), user=user)
        for partner in to:
            form.partner_ids.add(partner)
        for partner in cc:
            form.crm_cc_partner_ids.add(partner)
        if track is not None:
            form.crm_track = track
        form.subject = "Our offer"
        form.body = body
        composer = form.save()
        start = len(self.sink.messages)
        with really_send():
            composer.action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", "crm.lead"), ("res_id", "=", deal.id)], order="id desc", limit=1
        )
        needle = message.message_id.encode()
        received = self.sink_message(message.message_id)
        time.sleep(0.3)  # every copy of the message has been handed to the sink by now
        received = [m for m in self.sink.messages[start:] if needle in m["raw"]]
        return message, received

    def copies_by_rcpt(self, received):
        return {m["rcpt_tos"][0].lower(): m for m in received}

    def hit(self, path, agent=CHROME, head=False):
        return self.url_open(path, headers={"User-Agent": agent}, allow_redirects=False, head=head)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestInsightsTracking(InsightsCase):
    def test_deal_mail_tracked_end_to_end(self):
        message, received = self.send_from_deal(self.deal_1)
        [copy] = received
        _parsed, html = html_of(copy["raw"])
        [token] = set(PIXEL_RE.findall(html))
        links = LINK_RE.findall(html)
        self.assertEqual({t for t, _c in links}, {token})
        self.assertNotIn(OFFER_URL, html)  # the link is rewritten
        # The email kept in CRM, the chatter copy and the Sent copy are untracked.
        crm_email = self.emails_with(message.message_id)
        self.assertTrue(crm_email.insights_tracked)
        self.assertNotIn("/crm_mail/t/", crm_email.with_user(self.user_a).body_html)
        self.assertIn(OFFER_URL.replace("&", "&amp;"), crm_email.with_user(self.user_a).body_html)
        self.assertNotIn("/crm_mail/t/", message.body)
        [(_uid, stored, _flags)] = self.sent_folder()
        sent_parsed, sent_html = html_of(stored)
        self.assertEqual(sent_parsed["Message-Id"].strip(), message.message_id)
        self.assertNotIn("/crm_mail/t/", sent_html)
        self.assertNotIn(b"/crm_mail/t/", stored)
        self.assertNotIn(token.encode(), stored)
        self.assertIn("shop.example.com/offer", sent_html)
        # The sync then reads that untracked copy from Sent as the same email, insights kept.
        self.mailbox.sudo()._sync()
        self.assertEqual(self.mailbox.state, "connected", self.mailbox.last_error)
        self.assertEqual(self.emails_with(message.message_id), crm_email)
        self.assertEqual(len(crm_email.presence_ids), 1)
        tracking = crm_email.sudo().tracking_ids
        self.assertEqual(len(tracking), 1)
        self.assertEqual(
            (tracking.partner_id, tracking.email_address), (self.joe, "joe@acme.example")
        )
        self.assertEqual(tracking.token, token)
        self.assertIn(tracking.state, ("sent", "delivered"))  # delivered: issue 11 status
        self.assertEqual(tracking.mail_message_id, message.message_id)
        pixel = f"/crm_mail/t/{token}/o.gif"
        click = "/crm_mail/t/%s/c/%s" % links[0]

        # A security gateway fetches the pixel right at delivery: scanner.
        response = self.hit(pixel)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "image/gif")
        self.assertIn("no-store", response.headers["Cache-Control"])
        self.assertTrue(response.content.startswith(b"GIF89a"))
        # An hour later: the recipient, Gmail's proxy, Apple's prefetch.
        tracking.sent_date = fields.Datetime.now() - timedelta(hours=1)
        self.hit(pixel)
        self.hit(pixel, agent=GMAIL_PROXY)
        self.hit(pixel, agent="Mozilla/5.0")
        # Links: a HEAD check (scanner), the reader's click, a script, then a burst.
        response = self.hit(click, head=True)
        self.assertEqual(response.status_code, 302)
        tracking.last_click_at -= 10  # the reader clicks 10 s after the check
        response = self.hit(click)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response.headers["Location"], OFFER_URL)
        tracking.last_click_at -= 10  # the next click comes 10 s later
        self.hit(click, agent="python-requests/2.31")
        self.hit(click)  # within a second of the previous one: a burst
        # The sender opens her own mail with her Odoo session: self, not counted.
        self.authenticate(self.user_a.login, self.user_a.login)
        self.hit(pixel)

        events = tracking.event_ids.sorted("id")
        self.assertEqual(
            [(e.event_type, e.origin) for e in events],
            [
                ("open", "scanner"),
                ("open", "human"),
                ("open", "proxy"),
                ("open", "prefetch"),
                ("click", "scanner"),
                ("click", "human"),
                ("click", "scanner"),
                ("click", "scanner"),
                ("open", "self"),
            ],
        )
        self.assertIn("machine window", events[0].reasons)
        self.assertIn("GoogleImageProxy", events[2].reasons)
        self.assertIn("Apple", events[3].reasons)
        self.assertIn("HEAD", events[4].reasons)
        self.assertIn("python-requests", events[6].reasons)
        self.assertIn("burst", events[7].reasons)
        self.assertEqual(events[5].url, OFFER_URL)
        self.assertEqual(events[5].user_agent, CHROME)
        self.assertEqual(set(events.mapped("ip_truncated")), {"127.0.0.0/24"})
        self.assertEqual((tracking.open_count, tracking.machine_open_count), (2, 2))
        self.assertEqual((tracking.click_count, tracking.machine_click_count), (1, 3))
        self.assertEqual(tracking.state, "clicked")
        self.assertTrue(tracking.first_open_date and tracking.last_click_date)
        self.assertEqual(
            tracking.with_user(self.user_a).summary,
            "Opened 2 times by the recipient, 2 machine opens ignored, clicked 1 times, "
            "3 machine clicks ignored",
        )
        # An unknown token records nothing and still answers.
        self.assertEqual(self.hit("/crm_mail/t/forged-token/o.gif").status_code, 200)
        self.assertEqual(len(tracking.event_ids), 9)
        # Unknown link code: 404.
        self.assertEqual(self.hit(f"/crm_mail/t/{token}/c/nosuchcode").status_code, 404)

    def test_several_recipients_each_own_pixel_and_full_headers(self):
        carl = self.env["res.partner"].create(
            {"name": "Carl Customer", "email": "carl@acme.example", "parent_id": self.company.id}
        )
        self.user_b.notification_type = "email"
        message, received = self.send_from_deal(
            self.deal_1, to=[self.ann, self.user_b.partner_id], cc=[carl]
        )
        copies = self.copies_by_rcpt(received)
        self.assertEqual(
            set(copies),
            {"joe@acme.example", "ann@acme.example", "carl@acme.example", "bob@ourco.example"},
        )
        tokens = {}
        for rcpt, copy in copies.items():
            parsed, html = html_of(copy["raw"])
            to = {a.addr_spec.lower() for a in parsed["To"].addresses}
            self.assertEqual(
                to, {"joe@acme.example", "ann@acme.example", "bob@ourco.example"}, rcpt
            )
            self.assertEqual(
                [a.addr_spec.lower() for a in parsed["Cc"].addresses], ["carl@acme.example"]
            )
            found = set(PIXEL_RE.findall(html))
            if rcpt == "bob@ourco.example":
                # A colleague's copy: no pixel, no rewritten link.
                self.assertFalse(found)
                self.assertNotIn("/crm_mail/t/", html)
                self.assertIn("shop.example.com/offer", html)
            else:
                self.assertEqual(len(found), 1, rcpt)
                self.assertEqual({t for t, _c in LINK_RE.findall(html)}, found)
                tokens[rcpt] = found.pop()
        self.assertEqual(len(set(tokens.values())), 3)
        crm_email = self.emails_with(message.message_id)
        rows = crm_email.sudo().tracking_ids
        self.assertEqual({r.email_address: r.token for r in rows}, tokens)
        self.assertEqual(rows.partner_id, self.joe | self.ann | carl)
        # Each recipient's open lands on their own row.
        rows.write({"sent_date": fields.Datetime.now() - timedelta(hours=2)})
        self.hit(f"/crm_mail/t/{tokens['ann@acme.example']}/o.gif")
        ann_row = rows.filtered(lambda r: r.partner_id == self.ann)
        self.assertEqual(ann_row.open_count, 1)
        self.assertEqual(sum((rows - ann_row).mapped("open_count")), 0)

    def test_do_not_track_track_box_and_switch_off(self):
        self.joe.crm_do_not_track = True
        message, [copy] = self.send_from_deal(self.deal_1)
        _parsed, html = html_of(copy["raw"])
        self.assertNotIn("/crm_mail/t/", html)
        self.assertIn("shop.example.com/offer", html)
        self.assertFalse(self.emails_with(message.message_id).sudo().tracking_ids)
        self.joe.crm_do_not_track = False
        # The composer's Track box, unticked.
        message, [copy] = self.send_from_deal(self.deal_1, track=False)
        self.assertNotIn("/crm_mail/t/", html_of(copy["raw"])[1])
        crm_email = self.emails_with(message.message_id)
        self.assertFalse(crm_email.insights_tracked or crm_email.sudo().tracking_ids)
        # The organisation's switch, through the settings as an administrator.
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(settings.crm_insights_enabled)
        settings.crm_insights_enabled = False
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("crm_mail_channel.insights_enabled"), "False")
        self.assertFalse(self.env["res.config.settings"].create({}).crm_insights_enabled)
        form = self.composer(self.deal_1.with_user(self.user_a).action_crm_send_email())
        self.assertFalse(form.crm_track)
        message, [copy] = self.send_from_deal(self.deal_1)
        self.assertNotIn("/crm_mail/t/", html_of(copy["raw"])[1])
        self.assertFalse(self.emails_with(message.message_id).sudo().tracking_ids)

    def test_retention_purge_keeps_counts(self):
        message, [copy] = self.send_from_deal(self.deal_1)
        [token] = set(PIXEL_RE.findall(html_of(copy["raw"])[1]))
        tracking = self.emails_with(message.message_id).sudo().tracking_ids
        tracking.sent_date = fields.Datetime.now() - timedelta(days=200)
        for _i in range(3):
            self.hit(f"/crm_mail/t/{token}/o.gif")
        self.assertEqual(tracking.open_count, 3)
        old = tracking.event_ids[:2]
        old.write({"event_date": fields.Datetime.now() - timedelta(days=101)})
        cron = self.env.ref("crm_mail_channel.ir_cron_crm_email_tracking_purge")
        cron.method_direct_trigger()
        self.assertFalse(old.exists())
        self.assertEqual(len(tracking.event_ids), 1)
        self.assertEqual(tracking.open_count, 3)
        # In batches: the cron is told what remains, and Odoo calls it again.
        self.hit(f"/crm_mail/t/{token}/o.gif")
        self.hit(f"/crm_mail/t/{token}/o.gif")
        tracking.event_ids.write({"event_date": fields.Datetime.now() - timedelta(days=120)})
        Event = self.env["crm.email.tracking.event"]
        self.assertEqual(Event._crm_purge_old_events(batch_size=2), 2)
        self.assertEqual(len(tracking.event_ids), 1)
        self.assertEqual(Event._crm_purge_old_events(batch_size=2), 1)
        self.assertFalse(tracking.event_ids)
        self.assertEqual(tracking.open_count, 5)
        # The period is a setting.
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.insights_retention_days", "0"
        )
        self.hit(f"/crm_mail/t/{token}/o.gif")
        tracking.event_ids.write({"event_date": fields.Datetime.now() - timedelta(days=300)})
        cron.method_direct_trigger()  # 0: keep everything
        self.assertEqual(len(tracking.event_ids), 1)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestInsightsTrackingAccess(InsightsCase):
    """Whoever may read the email's body reads its insights; nobody else, over RPC too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_all = new_test_user(
            cls.env,
            login="cmc_insights_all",
            groups="sales_team.group_sale_salesman_all_leads,base.group_user",
            name="Carol Manager",
            email="carol@ourco.example",
        )

    def rpc(self, login, model, method, args, kwargs=None):
        self.authenticate(login, login)
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def test_colleague_reads_no_insights(self):
        message, [copy] = self.send_from_deal(self.deal_1)
        [token] = set(PIXEL_RE.findall(html_of(copy["raw"])[1]))
        tracking = self.emails_with(message.message_id).sudo().tracking_ids
        tracking.sent_date = fields.Datetime.now() - timedelta(hours=1)
        self.hit(f"/crm_mail/t/{token}/o.gif")
        event = tracking.event_ids
        self.assertEqual(len(event), 1)
        Tracking = self.env["crm.email.tracking"]
        Event = self.env["crm.email.tracking.event"]
        # Alice, the sender, reads them; Bob cannot open Alice's deal: nothing, over RPC too.
        self.assertEqual(Tracking.with_user(self.user_a).search([]), tracking)
        self.assertEqual(Event.with_user(self.user_a).search([]), event)
        self.assertFalse(Tracking.with_user(self.user_b).search([]))
        self.assertFalse(Event.with_user(self.user_b).search([]))
        with self.assertRaises(AccessError):
            Tracking.with_user(self.user_b).browse(tracking.id).read(["open_count"])
        with self.assertRaises(AccessError):
            Event.with_user(self.user_b).browse(event.id).read(["origin"])
        rows = self.rpc(
            self.user_b.login, "crm.email.tracking", "search_read", [[]], {"fields": ["state"]}
        )
        self.assertEqual(rows, [])
        rows = self.rpc(
            self.user_b.login,
            "crm.email.tracking.event",
            "search_read",
            [[]],
            {"fields": ["origin"]},
        )
        self.assertEqual(rows, [])
        # Carol opens every deal: at the "full" level she reads the body and the insights...
        self.assertEqual(Tracking.with_user(self.user_all).search([]), tracking)
        rows = self.rpc(
            self.user_all.login,
            "crm.email.tracking",
            "search_read",
            [[]],
            {"fields": ["open_count"]},
        )
        self.assertEqual([r["open_count"] for r in rows], [1])
        # ... at the "subject" level she reads the subject only, and no insights.
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.email_visibility_level", "subject"
        )
        crm_email = tracking.email_id.with_user(self.user_all)
        self.assertEqual(crm_email.subject, "Our offer")
        self.assertFalse(crm_email.body_html)
        self.assertFalse(crm_email.tracking_ids)
        self.assertFalse(Tracking.with_user(self.user_all).search([]))
        self.assertFalse(Event.with_user(self.user_all).search([]))
        for model, fname in (
            ("crm.email.tracking", "open_count"),
            ("crm.email.tracking.event", "origin"),
        ):
            rows = self.rpc(self.user_all.login, model, "search_read", [[]], {"fields": [fname]})
            self.assertEqual(rows, [], model)
        # The sender still does (owners always read their own mail in full).
        self.assertEqual(Tracking.with_user(self.user_a).search([]), tracking)

    def test_nobody_writes_insights_over_rpc(self):
        message, _received = self.send_from_deal(self.deal_1)
        tracking = self.emails_with(message.message_id).sudo().tracking_ids
        for login in (self.user_a.login, "admin"):
            with self.assertRaisesRegex(
                JsonRpcException, "AccessError|cannot be created", msg=login
            ):
                self.rpc(login, "crm.email.tracking", "write", [tracking.ids, {"open_count": 99}])
            with self.assertRaisesRegex(
                JsonRpcException, "AccessError|cannot be created", msg=login
            ):
                self.rpc(
                    login,
                    "crm.email.tracking.event",
                    "create",
                    [{"tracking_id": tracking.id, "event_type": "open", "origin": "human"}],
                )
        with self.assertRaises(AccessError):
            tracking.with_user(self.user_a).write({"state": "replied"})
        self.assertEqual(tracking.open_count, 0)
