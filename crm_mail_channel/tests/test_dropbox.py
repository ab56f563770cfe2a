"""BCC dropbox end to end: Odoo's fetchmail.server reads the catch-all mailbox in Dovecot and
hands each message to message_process; DKIM keys of the senders are in the real Knot."""

import email
import email.policy
import re
import time
import uuid
from email.message import EmailMessage
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from crm_mail_channel_core import dkim_sign
from crm_mail_channel_testing.smtp_sink import ensure_smtp_sink

from ..sync_store import MailboxStore
from .common import really_send
from .dropbox_common import DropboxCommon, crlf

CODE_RE = re.compile(r"letter-spacing:\s*4px[^>]*>\s*([A-Z0-9]{6,})\s*<")


@tagged("post_install", "-at_install")
class TestDropboxDelivery(DropboxCommon):
    def code_sent_to(self, sink, address, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in sink.messages:
                if address in [r.lower() for r in message["rcpt_tos"]]:
                    parsed = email.message_from_bytes(message["raw"], policy=email.policy.default)
                    html = parsed.get_body(("html",)).get_content()
                    return CODE_RE.search(html).group(1)
            time.sleep(0.05)
        raise AssertionError(f"no code reached {address}")

    def test_bcc_seen_only_in_the_envelope_becomes_the_owner_email(self):
        box = self.dropbox_of(self.alice)
        self.assertTrue(box.startswith("dropbox-") and box.endswith("@crm-h12.example.test"))
        raw = self.sign(self.message(self.alice.email, "Joe Customer <joe@acme.example>"))
        leads_before = self.env["crm.lead"].search_count([])
        self.deliver(raw, envelope_to=box)
        self.fetch()
        message_id = self.message_id_of(raw)
        email = self.emails_with_id(message_id)
        self.assertEqual(len(email), 1)
        self.assertEqual(email.partner_ids, self.joe)
        self.assertEqual(email.presence_ids.user_id, self.alice)
        self.assertIn(email, self.emails_of(self.alice, self.joe))
        # Alice's sharing is private: Bob, who can open Joe, does not see it.
        self.assertNotIn(email, self.emails_of(self.bob, self.joe))
        # Never a chatter message, never a lead.
        self.assertFalse(self.env["mail.message"].search([("message_id", "=", message_id)]))
        self.assertEqual(self.env["crm.lead"].search_count([]), leads_before)

    def test_dropbox_in_to_or_cc_and_through_the_mail_gateway(self):
        box = self.dropbox_of(self.alice)
        raw = self.sign(self.message(self.alice.email, "joe@acme.example", cc=[box]))
        self.deliver(raw)
        self.fetch()
        email = self.emails_with_id(self.message_id_of(raw))
        self.assertEqual(email.partner_ids, self.joe)
        # The dropbox address is never stored where readers of the email would see it.
        self.assertNotIn("dropbox-", (email.email_cc or "") + (email.email_to or ""))
        # The mail gateway path (message_process called directly), X-Original-To only.
        raw = self.sign(self.message(self.alice.email, "ann@acme.example"))
        raw = f"X-Original-To: {box}\r\n".encode() + raw
        self.assertFalse(self.env["mail.thread"].message_process(False, raw))
        self.assertEqual(self.emails_with_id(self.message_id_of(raw)).partner_ids, self.ann)

    def test_unverified_sender_is_refused_and_the_owner_told(self):
        box = self.dropbox_of(self.alice)
        stranger = f"someone@{self.domain}"
        raw = self.sign(self.message(stranger, "joe@acme.example"))
        with self.counting_notifications(self.alice) as told:
            self.deliver(raw, envelope_to=box)
            self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))
        self.assertEqual(len(told["new"]), 1)
        self.assertIn(stranger, str(told["new"].body))
        # Nothing goes back to the sender.
        self.assertFalse(self.env["mail.mail"].sudo().search([("email_to", "ilike", stranger)]))

    def test_forged_from_without_dkim_is_refused(self):
        box = self.dropbox_of(self.alice)
        # Alice's own address, no signature: refused.
        raw = self.message(self.alice.email, "joe@acme.example")
        # Alice's own address, signed (validly) by the forger's own domain: refused.
        forger = f"forger{uuid.uuid4().hex[:8]}.example.test"
        pem, public_b64 = dkim_sign.generate_key_pair()
        self.knot.set_txt(
            dkim_sign.dkim_record_name("s1", forger), dkim_sign.dkim_txt_value(public_b64)
        )
        forged = self.sign(
            self.message(self.alice.email, "ann@acme.example"), domain=forger, private_pem=pem
        )
        with self.counting_notifications(self.alice) as told:
            self.deliver(raw, envelope_to=box)
            self.deliver(forged, envelope_to=box)
            self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))
        self.assertFalse(self.emails_with_id(self.message_id_of(forged)))
        self.assertEqual(len(told["new"]), 2)

    def test_authentication_results_of_a_trusted_server_only(self):
        box = self.dropbox_of(self.alice)
        ar = {"Authentication-Results": f"mx.h12.test; spf=pass smtp.mailfrom={self.alice.email}"}
        untrusted = self.message(self.alice.email, "joe@acme.example", headers=ar)
        self.deliver(untrusted, envelope_to=box)
        self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(untrusted)))
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.dropbox_trusted_authserv_ids", "mx.h12.test"
        )
        trusted = self.message(self.alice.email, "joe@acme.example", headers=ar)
        self.deliver(trusted, envelope_to=box)
        self.fetch()
        self.assertEqual(self.emails_with_id(self.message_id_of(trusted)).partner_ids, self.joe)

    def test_extra_address_verified_by_emailed_code(self):
        sink = ensure_smtp_sink()
        self.env["ir.mail_server"].sudo().search([]).write({"active": False})
        self.env["ir.mail_server"].sudo().create(
            {
                "name": "Sink",
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
        address = f"alice.home{uuid.uuid4().hex[:6]}@{self.domain}"
        sender = self.env["crm.dropbox.sender"].with_user(self.alice).create({"email": address})
        with really_send():
            action = sender.action_send_code()
        self.assertEqual(action["res_model"], "crm.dropbox.sender.code.wizard")
        code = self.code_sent_to(sink, address)
        Wizard = self.env["crm.dropbox.sender.code.wizard"].with_user(self.alice)
        wrong = Wizard.create({"sender_id": sender.id, "code": "WRONG234"}).action_verify()
        self.assertEqual(wrong["tag"], "display_notification")
        self.assertEqual(sender.state, "pending")
        right = Wizard.create({"sender_id": sender.id, "code": code}).action_verify()
        self.assertEqual(right["type"], "ir.actions.act_window_close")
        self.assertEqual(sender.state, "verified")
        raw = self.sign(self.message(address, "joe@acme.example"))
        self.deliver(raw, envelope_to=self.dropbox_of(self.alice))
        self.fetch()
        self.assertEqual(
            self.emails_with_id(self.message_id_of(raw)).presence_ids.user_id, self.alice
        )

    def test_colleague_cannot_send_into_someone_else_dropbox(self):
        alice_box = self.dropbox_of(self.alice)
        # Bob's genuine, signed mail from his own address, into Alice's dropbox.
        raw = self.sign(self.message(self.bob.email, "joe@acme.example"))
        with self.counting_notifications(self.alice) as told:
            self.deliver(raw, envelope_to=alice_box)
            self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))
        self.assertEqual(len(told["new"]), 1)
        # Bob setting his profile email to Alice's makes it nobody's address.
        self.bob.with_user(self.bob).write({"email": self.alice.email})
        raw = self.sign(self.message(self.alice.email, "joe@acme.example"))
        self.deliver(raw, envelope_to=alice_box)
        self.deliver(raw, envelope_to=self.dropbox_of(self.bob))
        self.fetch()
        # Alice's login is not her email here, so neither of them may use it any more.
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))

    def test_regenerated_address_stops_working_at_once(self):
        old = self.dropbox_of(self.alice)
        self.alice.with_user(self.alice).action_regenerate_crm_dropbox()
        new = self.dropbox_of(self.alice)
        self.assertNotEqual(old, new)
        leads_before = self.env["crm.lead"].search_count([])
        to_old = self.sign(self.message(self.alice.email, "joe@acme.example", subject="old"))
        to_new = self.sign(self.message(self.alice.email, "joe@acme.example", subject="new"))
        self.deliver(to_old, envelope_to=old)
        self.deliver(to_new, envelope_to=new)
        self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(to_old)))
        self.assertTrue(self.emails_with_id(self.message_id_of(to_new)))
        # The old address is dropped, not routed to a lead or bounced.
        self.assertEqual(self.env["crm.lead"].search_count([]), leads_before)

    def test_forward_attached_is_the_original_conversation(self):
        box = self.dropbox_of(self.alice)
        original = self.message(
            "Joe Customer <joe@acme.example>",
            self.alice.email,
            subject="Need chairs",
            message_id="<chairs-1@acme.example>",
        )
        fwd = EmailMessage()
        fwd["From"] = self.alice.email
        fwd["To"] = box
        fwd["Subject"] = "Fwd: Need chairs"
        fwd["Message-ID"] = "<fwd-1@h12.example.test>"
        fwd.set_content("See attached.")
        fwd.add_attachment(original, maintype="message", subtype="rfc822", filename="chairs.eml")
        self.deliver(self.sign(crlf(fwd.as_bytes())))
        self.fetch()
        email = self.emails_with_id("<chairs-1@acme.example>")
        self.assertEqual(len(email), 1)
        self.assertIn("joe@acme.example", email.email_from)
        self.assertEqual(email.partner_ids, self.joe)
        self.assertEqual(email.presence_ids.user_id, self.alice)
        self.assertFalse(self.emails_with_id("<fwd-1@h12.example.test>"))

    def test_inline_forward_is_the_user_own_mail_linked_to_the_contacts_it_names(self):
        box = self.dropbox_of(self.alice)
        body = (
            "FYI\n\n---------- Forwarded message ---------\n"
            "From: Ann Customer <ann@acme.example>\nDate: Thu, Nov 26, 2026 at 4:12 PM\n"
            f"Subject: Chairs\nTo: Alice <{self.alice.email}>\n\nWe need 12 chairs.\n"
        )
        raw = self.sign(self.message(self.alice.email, box, subject="Fwd: Chairs", body=body))
        self.deliver(raw)
        self.fetch()
        email = self.emails_with_id(self.message_id_of(raw))
        self.assertEqual(len(email), 1)
        self.assertIn(self.alice.email, email.email_from)
        self.assertEqual(email.partner_ids, self.ann)
        self.assertIn(email, self.emails_of(self.alice, self.ann))

    def test_same_message_by_dropbox_and_by_sync_is_one_email(self):
        box = self.dropbox_of(self.alice)
        mailbox, login, password = self.make_mailbox(self.alice)
        raw = self.sign(self.message(self.alice.email, "joe@acme.example"))
        # Alice's mail program keeps the sent copy (without the Bcc) in Sent.
        self.append(login, password, "Sent", [raw], flags=("\\Seen",))
        self.deliver(raw, envelope_to=box)
        self.fetch()
        mailbox._sync()
        email = self.emails_with_id(self.message_id_of(raw))
        self.assertEqual(len(email), 1)
        self.assertEqual(len(email.presence_ids), 2)
        self.assertEqual(email.presence_ids.user_id, self.alice)
        # Synced first, then BCC'd: still one.
        raw2 = self.sign(self.message(self.alice.email, "ann@acme.example"))
        self.append(login, password, "Sent", [raw2], flags=("\\Seen",))
        mailbox._sync()
        self.deliver(raw2, envelope_to=box)
        self.fetch()
        self.assertEqual(len(self.emails_with_id(self.message_id_of(raw2))), 1)

    def test_failing_message_waits_in_the_owner_quarantine_then_retry(self):
        box = self.dropbox_of(self.alice)
        raw = self.sign(self.message(self.alice.email, "joe@acme.example"))
        self.deliver(raw, envelope_to=box)
        with patch.object(MailboxStore, "_store_matched", side_effect=ValueError("broken")):
            self.fetch()
        message_id = self.message_id_of(raw)
        self.assertFalse(self.emails_with_id(message_id))
        dropbox = self.env["crm.mailbox"]._crm_dropbox_of(self.alice)
        quarantine = (
            self.env["crm.mailbox.quarantine"]
            .with_user(self.alice)
            .search([("mailbox_id", "=", dropbox.id), ("state", "=", "pending")])
        )
        self.assertEqual(len(quarantine), 1)
        self.assertIn("broken", quarantine.reason)
        quarantine.action_retry()
        self.assertEqual(quarantine.state, "done")
        self.assertEqual(self.emails_with_id(message_id).presence_ids.user_id, self.alice)

    def test_create_contacts_setting(self):
        box = self.dropbox_of(self.alice)
        raw = self.sign(self.message(self.alice.email, "New Person <new@prospect.example>"))
        self.deliver(raw, envelope_to=box)
        self.fetch()
        # Default: only existing contacts; nothing matched, nothing stored, Alice is told.
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))
        self.assertFalse(self.env["res.partner"].search([("email", "=", "new@prospect.example")]))
        self.alice.with_user(self.alice).crm_dropbox_contact_policy = "create"
        raw = self.sign(
            self.message(self.alice.email, "New Person <new@prospect.example>", subject="again")
        )
        self.deliver(raw, envelope_to=box)
        self.fetch()
        partner = self.env["res.partner"].search([("email", "=", "new@prospect.example")])
        self.assertEqual(partner.name, "New Person")
        self.assertEqual(self.emails_with_id(self.message_id_of(raw)).partner_ids, partner)


@tagged("post_install", "-at_install")
class TestDropboxAttack(DropboxCommon):
    def test_my_mailbox_shows_only_my_own_dropbox(self):
        action = self.env["crm.mailbox"].with_user(self.alice).action_open_my_mailbox()
        self.assertFalse(action.get("res_id"))  # no mailbox yet: the first-time form
        box = self.alice.with_user(self.alice).crm_dropbox_email
        form = Form(self.env["crm.mailbox"].with_user(self.alice).with_context(**action["context"]))
        self.assertEqual(form.crm_my_dropbox_email, box)
        arch = self.env.ref("crm_mail_channel.crm_mailbox_view_form_dropbox").arch
        self.assertIn('widget="CopyClipboardChar"', arch)
        # Bob's own mailbox form shows Bob's dropbox, never Alice's.
        mailbox, _login, _password = self.make_mailbox(self.bob)
        self.env["crm.mailbox"].with_user(self.bob).action_open_my_mailbox()
        bob_box = self.bob.with_user(self.bob).crm_dropbox_email
        self.assertEqual(mailbox.with_user(self.bob).crm_my_dropbox_email, bob_box)
        self.assertNotEqual(bob_box, box)
        # An administrator opening Bob's mailbox sees no dropbox address in it.
        admin = self.env.ref("base.user_admin")
        self.assertFalse(mailbox.with_user(admin).crm_my_dropbox_email == bob_box)

    def test_nobody_else_reads_or_writes_a_dropbox_token(self):
        alice_box = self.dropbox_of(self.alice)
        dropbox = self.env["crm.mailbox"]._crm_dropbox_of(self.alice)
        Mailbox = self.env["crm.mailbox"].with_user(self.bob).with_context(active_test=False)
        self.assertFalse(
            Mailbox.search_read(
                [("protocol", "=", "dropbox"), ("user_id", "=", self.alice.id)],
                ["crm_dropbox_token"],
            )
        )
        with self.assertRaises(AccessError):
            Mailbox.browse(dropbox.id).read(["crm_dropbox_token"])
        self.assertFalse(self.alice.with_user(self.bob).crm_dropbox_email)
        with self.assertRaises(AccessError):
            self.alice.with_user(self.bob).action_regenerate_crm_dropbox()
        with self.assertRaises(AccessError):
            Mailbox.browse(dropbox.id).write({"crm_dropbox_token": "a" * 24})
        # Not even the owner sets their token, hands the dropbox over or deletes it.
        own = self.env["crm.mailbox"].with_user(self.alice).browse(dropbox.id)
        for vals in (
            {"crm_dropbox_token": "a" * 24},
            {"user_id": self.bob.id},
            {"active": True},
            {"protocol": "imap"},
        ):
            with self.assertRaises(AccessError):
                own.write(vals)
        with self.assertRaises(AccessError):
            own.unlink()
        with self.assertRaises(AccessError):
            self.env["crm.mailbox"].with_user(self.bob).create(
                {"protocol": "dropbox", "crm_dropbox_token": dropbox.crm_dropbox_token}
            )
        self.assertEqual(self.dropbox_of(self.alice), alice_box)

    def test_sender_addresses_are_verified_by_code_only(self):
        Sender = self.env["crm.dropbox.sender"].with_user(self.bob)
        with self.assertRaises(AccessError):
            Sender.create({"email": "x@acme.example", "user_id": self.alice.id})
        mine = Sender.create({"email": f"bob.private@{self.domain}", "state": "verified"})
        self.assertEqual(mine.state, "pending")
        with self.assertRaises(AccessError):
            mine.write({"state": "verified"})
        # Bob's pending address does not count: his mail from it is refused.
        raw = self.sign(self.message(f"bob.private@{self.domain}", "joe@acme.example"))
        self.deliver(raw, envelope_to=self.dropbox_of(self.bob))
        self.fetch()
        self.assertFalse(self.emails_with_id(self.message_id_of(raw)))
        # Alice cannot read or verify Bob's row.
        self.assertFalse(self.env["crm.dropbox.sender"].with_user(self.alice).search([]))
        with self.assertRaises(AccessError):
            self.env["crm.dropbox.sender"].with_user(self.alice).browse(mine.id)._try_code("X")
