from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, new_test_user, tagged

from crm_mail_channel_core import dkim_sign
from crm_mail_channel_core import verification_code as vcode
from crm_mail_channel_testing.knot import blackhole_nameserver

from .domain_common import SPF_INCLUDE, CodeAttemptsMixin, MailDomainCase


def refusal(result):
    """The message of a refused code (action_verify_code answers with a notification)."""
    if result is True:
        raise AssertionError("the code was accepted")
    return result["params"]["message"]


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailDomainCode(CodeAttemptsMixin, MailDomainCase):
    """The emailed code, sent through the real outgoing path to the SMTP sink."""

    def test_code_sent_verified_and_stored_only_hashed(self):
        name = self.unique_domain()
        self.knot.set_txt(name, "v=spf1 ip4:192.0.2.1 ~all")
        domain = self.new_domain(name)
        self.assertEqual((domain.name, domain.state), (name, "code_pending"))
        with self.really_send():
            domain.action_send_code()
        code = self.code_from_sink(f"postmaster@{name}")
        secrets = (
            self.env["crm.mail.secret"]
            .sudo()
            .search([("res_model", "=", "crm.mail.domain"), ("res_id", "=", domain.id)])
        )
        self.assertTrue(secrets)
        self.assertFalse(any(code in (s.value or "") for s in secrets), "code stored in clear")
        # the code is not left in any message anyone could read
        self.assertFalse(self.env["mail.mail"].sudo().search([("body_html", "ilike", code)]))
        self.assertFalse(self.env["mail.message"].sudo().search([("body", "ilike", code)]))

        self.assertIs(domain.action_verify_code(code.lower()), True)  # case does not matter
        self.assertEqual(domain.state, "dns_pending")
        self.assertEqual(domain.code_verified_uid, self.admin)
        self.assertTrue(domain.dkim_selector and domain.dkim_public_key)
        self.assertEqual(domain.dkim_record_name, f"{domain.dkim_selector}._domainkey.{name}")
        # the existing SPF record is merged, never a second record
        self.assertEqual(domain.spf_current_record, "v=spf1 ip4:192.0.2.1 ~all")
        self.assertEqual(domain.spf_record_value, f"v=spf1 ip4:192.0.2.1 {SPF_INCLUDE} ~all")
        # the DKIM value is split into strings of at most 255 characters
        parts = domain.dkim_record_value.split('" "')
        self.assertGreater(len(parts), 1)
        self.assertTrue(all(len(p.strip('"')) <= 255 for p in parts))
        self.assertEqual(domain.dmarc_record_value, "v=DMARC1; p=none")

    def test_wrong_code_expired_code(self):
        domain = self.new_domain()
        with self.really_send():
            domain.action_send_code()
        code = self.code_from_sink(domain.verification_email)
        wrong = "ABCDEFGH" if code != "ABCDEFGH" else "HGFEDCBA"
        self.assertIn("not right", refusal(domain.action_verify_code(wrong)))
        self.assertEqual(domain.state, "code_pending")
        self.assertEqual(self.code_failures(domain, self.admin), 1)
        domain.sudo().code_sent_date = fields.Datetime.now() - timedelta(days=15, minutes=1)
        self.assertIn("expired", refusal(domain.action_verify_code(code)))
        self.assertEqual(domain.state, "code_pending")
        # nothing was compared: an expired code is not a wrong try
        self.assertEqual(self.code_failures(domain, self.admin), 1)

    def test_lockout_after_wrong_codes(self):
        domain = self.new_domain()
        with self.really_send():
            domain.action_send_code()
        code = self.code_from_sink(domain.verification_email)
        wizard = (
            self.env["crm.mail.domain.code.wizard"]
            .with_user(self.admin)
            .create({"domain_id": domain.id})
        )
        for left in (4, 3, 2, 1):
            wizard.code = "WRONG999"
            wizard.action_confirm()
            self.assertIn(f"{left} attempts left", wizard.error_message)
        wizard.code = "WRONG999"
        wizard.action_confirm()
        self.assertIn("Too many wrong codes", wizard.error_message)
        self.assertTrue(domain.code_locked_until)
        # even the right code is refused while locked, and no new code can be asked for
        self.assertIn("Too many wrong codes", refusal(domain.action_verify_code(code)))
        with self.assertRaisesRegex(UserError, "Too many wrong codes"):
            domain.action_send_code()
        self.assertEqual(domain.state, "code_pending")
        # the lock is the user's own: another admin still has their tries
        other = new_test_user(
            self.env, login="h6_other_admin", groups="base.group_user,base.group_system"
        )
        self.assertFalse(domain.with_user(other).code_locked_until)
        self.unlock_code(domain, self.admin)
        domain.invalidate_recordset()
        wizard.code = code
        self.assertEqual(wizard.action_confirm()["type"], "ir.actions.act_window_close")
        self.assertEqual(domain.state, "dns_pending")

    def test_resend_cooldown(self):
        domain = self.new_domain()
        with self.really_send():
            domain.action_send_code()
            with self.assertRaisesRegex(UserError, "ask for a new one in"):
                domain.action_send_code()
            first = self.code_from_sink(domain.verification_email)
            domain.sudo().code_sent_date = fields.Datetime.now() - timedelta(minutes=2)
            domain.action_send_code()
        self.assertEqual(len(self.sink_messages_to(domain.verification_email, count=2)), 2)
        second = self.code_from_sink(domain.verification_email, index=-1)
        if first != second:
            refusal(domain.action_verify_code(first))  # the old code is replaced
        self.assertIs(domain.action_verify_code(second), True)
        self.assertEqual(domain.state, "dns_pending")

    def test_address_must_be_valid(self):
        with self.assertRaises(UserError):
            self.Domain.create({"verification_email": "not an address"})
        with self.assertRaises(UserError):
            self.Domain.create(
                {"name": "other.example.test", "verification_email": "a@h6x.example.test"}
            )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailDomainChecks(MailDomainCase):
    """Every reason a check gives, against records published in the real Knot server."""

    def check(self, domain):
        domain.action_validate_records()
        return domain

    def test_all_good_then_authenticated(self):
        domain = self.verified_domain()
        self.publish_good_records(domain)
        self.check(domain)
        self.assertEqual(domain.state, "authenticated")
        self.assertEqual((domain.spf_status, domain.spf_code), ("pass", "spf_ok"))
        self.assertEqual((domain.dkim_status, domain.dkim_code), ("pass", "dkim_ok"))
        self.assertTrue(domain.last_check_date)
        self.assertFalse(domain.pending_since)
        # DMARC is advice only
        self.assertEqual(domain.dmarc_status, "pending")
        self.assertIn("v=DMARC1; p=none", domain.dmarc_message)
        self.knot.set_txt(f"_dmarc.{domain.name}", "v=DMARC1; p=quarantine")
        self.check(domain)
        self.assertEqual(domain.dmarc_status, "pass")

    def test_spf_reasons(self):
        domain = self.verified_domain()
        self.publish_dkim(domain)
        name = domain.name
        cases = [
            (None, "spf_missing", "has no SPF record"),
            (
                ["v=spf1 ip4:192.0.2.1 ~all", f"v=spf1 {SPF_INCLUDE} ~all"],
                "spf_multiple",
                "2 SPF records",
            ),
            ("v=spf1 ip4:192.0.2.1 ~all", "spf_include_missing", "does not authorise"),
            (
                "v=spf1 a mx a:x1.example.test a:x2.example.test a:x3.example.test "
                "a:x4.example.test a:x5.example.test a:x6.example.test a:x7.example.test "
                f"a:x8.example.test {SPF_INCLUDE} ~all",
                "spf_too_many_lookups",
                "11 DNS lookups",
            ),
            (f"v=spf1 -all {SPF_INCLUDE}", "spf_all_before_include", "comes before"),
        ]
        for record, code, words in cases:
            with self.subTest(code=code):
                if record is None:
                    self.knot.set_txt(name, "google-site-verification=abc")
                else:
                    self.knot.set_txt(name, record)
                self.check(domain)
                self.assertEqual((domain.spf_status, domain.spf_code), ("fail", code))
                self.assertIn(words, domain.spf_message)
                self.assertEqual(domain.state, "dns_pending")
                self.assertNotIn("Traceback", domain.spf_message)
        # the suggestion merges the two records into one
        self.knot.set_txt(name, ["v=spf1 ip4:192.0.2.1 ~all", "v=spf1 mx ~all"])
        self.check(domain)
        merged = domain.spf_record_value.split()  # DNS gives the two records in any order
        self.assertEqual(merged[0], "v=spf1")
        self.assertEqual(merged[-2:], [SPF_INCLUDE, "~all"])
        self.assertEqual(sorted(merged[1:3]), ["ip4:192.0.2.1", "mx"])
        self.knot.set_txt(name, f"v=spf1 ip4:192.0.2.1 {SPF_INCLUDE} ~all")
        self.check(domain)
        self.assertEqual(domain.spf_status, "pass")
        self.assertEqual(domain.state, "authenticated")

    def test_spf_with_outgoing_server_ips(self):
        """Without a configured mechanism, the outgoing server's address must be authorised;
        pyspf evaluates the record as a receiver would."""
        self.params.set_param("crm_mail_channel.spf_mechanism", "")
        domain = self.verified_domain()
        self.assertEqual(domain.spf_mechanism, "ip4:127.0.0.1")
        self.publish_dkim(domain)
        self.knot.set_txt(domain.name, "v=spf1 ip4:192.0.2.1 -all")
        self.check(domain)
        self.assertEqual(domain.spf_code, "spf_include_missing")
        self.assertEqual(domain.spf_record_value, "v=spf1 ip4:192.0.2.1 ip4:127.0.0.1 -all")
        self.knot.set_txt(domain.name, "v=spf1 ip4:127.0.0.0/8 -all")
        self.check(domain)
        self.assertEqual(domain.spf_code, "spf_ok")
        self.assertEqual(domain.state, "authenticated")

    def test_dkim_reasons(self):
        domain = self.verified_domain()
        self.knot.set_txt(domain.name, f"v=spf1 {SPF_INCLUDE} ~all")
        record_name = domain.dkim_record_name
        self.check(domain)
        self.assertEqual((domain.dkim_status, domain.dkim_code), ("fail", "dkim_missing"))
        self.assertIn(f"No DKIM record found at {record_name}", domain.dkim_message)

        _pem, other_key = dkim_sign.generate_key_pair()
        self.publish_dkim(domain, public_b64=other_key)
        self.check(domain)
        self.assertEqual(domain.dkim_code, "dkim_wrong_key")
        self.assertIn("different key", domain.dkim_message)

        self.knot.set_txt(record_name, "v=DKIM1; k=rsa; p=" + domain.dkim_public_key[:120])
        self.check(domain)
        self.assertEqual(domain.dkim_code, "dkim_malformed")
        self.assertIn("cannot be read", domain.dkim_message)
        self.assertEqual(domain.state, "dns_pending")

        # CNAME delegation of the selector to a provider validates
        target = f"{domain.dkim_selector}.{domain.name.split('.')[0]}.dkim.customer.test"
        self.knot.set_txt(
            target, [dkim_sign.split_txt(dkim_sign.dkim_txt_value(domain.dkim_public_key))]
        )
        self.knot.set_cname(record_name, target)
        self.check(domain)
        self.assertEqual((domain.dkim_status, domain.dkim_code), ("pass", "dkim_ok"))
        self.assertEqual(domain.state, "authenticated")

    def test_timeout_is_pending_never_failed(self):
        domain = self.verified_domain()
        with blackhole_nameserver() as hole:
            self.params.set_param("crm_mail_channel.dns_nameservers", hole.nameserver)
            self.params.set_param("crm_mail_channel.dns_timeout", "0.5")
            self.check(domain)
        self.assertEqual((domain.spf_status, domain.spf_code), ("pending", "dns_timeout"))
        self.assertEqual((domain.dkim_status, domain.dkim_code), ("pending", "dns_timeout"))
        self.assertIn("not a problem with your records", domain.spf_message)
        self.assertEqual(domain.state, "dns_pending")

        # an authenticated domain stays authenticated when DNS does not answer
        self.params.set_param("crm_mail_channel.dns_nameservers", self.knot.nameserver)
        self.params.set_param("crm_mail_channel.dns_timeout", "2")
        self.publish_good_records(domain)
        self.check(domain)
        self.assertEqual(domain.state, "authenticated")
        with blackhole_nameserver() as hole:
            self.params.set_param("crm_mail_channel.dns_nameservers", hole.nameserver)
            self.params.set_param("crm_mail_channel.dns_timeout", "0.5")
            self.check(domain)
        self.assertEqual(domain.dkim_status, "pending")
        self.assertEqual(domain.state, "authenticated")

    def test_bad_nameserver_parameter_is_a_plain_error(self):
        domain = self.verified_domain()
        self.params.set_param("crm_mail_channel.dns_nameservers", "dns.example.com")
        with self.assertRaisesRegex(UserError, "crm_mail_channel.dns_nameservers"):
            self.check(domain)

    def test_validate_before_code_is_refused(self):
        domain = self.new_domain()
        with self.assertRaisesRegex(UserError, "Verify the code"):
            domain.action_validate_records()


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailDomainSchedule(MailDomainCase):
    """Scheduled re-checks: 48 h while pending, daily once authenticated, admins told."""

    def test_pending_rechecked_for_48_hours_only(self):
        domain = self.verified_domain()
        Domain = self.env["crm.mail.domain"]
        self.assertTrue(domain.auto_check_active)
        Domain._cron_check_pending_domains()
        self.assertEqual(domain.dkim_code, "dkim_missing")
        first_check = domain.last_check_date
        # after 48 hours the schedule leaves it to the admin
        domain.write(
            {
                "pending_since": fields.Datetime.now() - timedelta(hours=49),
                "last_check_date": first_check - timedelta(hours=1),
            }
        )
        self.assertFalse(domain.auto_check_active)
        self.publish_good_records(domain)
        Domain._cron_check_pending_domains()
        self.assertEqual(domain.state, "dns_pending")
        self.assertEqual(domain.last_check_date, first_check - timedelta(hours=1))
        # a click restarts the checks (and here finds the records)
        domain.action_validate_records()
        self.assertEqual(domain.state, "authenticated")

    def test_pending_cron_finds_records_published_later(self):
        domain = self.verified_domain()
        self.publish_good_records(domain)
        self.env["crm.mail.domain"]._cron_check_pending_domains()
        self.assertEqual(domain.state, "authenticated")

    def test_daily_check_detects_failure_and_notifies_admins(self):
        domain = self.authenticated_domain()
        self.knot.delete(domain.dkim_record_name)
        self.env["crm.mail.domain"]._cron_check_authenticated_domains()
        self.assertEqual(domain.state, "failing")
        self.assertEqual(domain.dkim_code, "dkim_missing")
        note = domain.message_ids.filtered(lambda m: "stopped working" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn(self.admin.partner_id, note.partner_ids)
        self.assertIn(self.admin.partner_id, domain.message_follower_ids.partner_id)
        # still failing: no second notification; fixed: authenticated again
        self.env["crm.mail.domain"]._cron_check_authenticated_domains()
        self.assertEqual(
            len(domain.message_ids.filtered(lambda m: "stopped working" in (m.body or ""))), 1
        )
        self.publish_dkim(domain)
        self.env["crm.mail.domain"]._cron_check_pending_domains()
        self.assertEqual(domain.state, "authenticated")

    def test_crons_are_defined(self):
        for xmlid, interval in (
            ("crm_mail_channel.ir_cron_crm_mail_domain_pending", (15, "minutes")),
            ("crm_mail_channel.ir_cron_crm_mail_domain_daily", (1, "days")),
        ):
            cron = self.env.ref(xmlid)
            self.assertEqual((cron.interval_number, cron.interval_type), interval)


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailDomainAccess(MailDomainCase):
    def test_non_admin_cannot_read_domains_or_secrets(self):
        domain = self.authenticated_domain()
        with self.assertRaises(AccessError):
            self.env["crm.mail.domain"].with_user(self.salesman).browse(domain.id).read(["name"])
        with self.assertRaises(AccessError):
            self.env["crm.mail.secret"].with_user(self.salesman).search([])

    def test_admin_cannot_read_private_keys(self):
        domain = self.authenticated_domain()
        # the key exists, for the sending code only
        self.assertTrue(self.env["crm.mail.domain"]._get_signing_key(domain.name))
        Secret = self.env["crm.mail.secret"].with_user(self.admin)
        for call in (
            lambda: Secret.search([]),
            lambda: Secret.search_read([], ["value"]),
            lambda: Secret.browse(1).read(["value"]),
            lambda: Secret.create({"res_model": "x", "res_id": 1, "key": "k"}),
        ):
            with self.assertRaises(AccessError):
                call()
        values = domain.read()[0]
        self.assertFalse([k for k, v in values.items() if "PRIVATE KEY" in str(v)])
        fields_list = list(domain.fields_get())
        exported = domain.export_data(fields_list)["datas"]
        self.assertNotIn("PRIVATE KEY", str(exported))

    def test_settings_block_points_to_domains(self):
        settings = Form(self.env["res.config.settings"].with_user(self.admin))
        settings.crm_mail_spf_mechanism = "include:_spf.provider.test"
        settings.save().execute()
        self.assertEqual(
            self.params.get_param("crm_mail_channel.spf_mechanism"), "include:_spf.provider.test"
        )
        view = self.env.ref("crm_mail_channel.res_config_settings_view_form")
        self.assertIn("crm_mail_channel.crm_mail_domain_action", view.arch_db)

    def test_key_rotation_without_downtime(self):
        domain = self.authenticated_domain()
        old_selector = domain.dkim_selector
        domain.action_rotate_dkim_key()
        new_selector = domain.dkim_next_selector
        self.assertTrue(new_selector and new_selector != old_selector)
        self.assertEqual(domain.dkim_next_record_name, f"{new_selector}._domainkey.{domain.name}")
        # not published yet: keep signing with the old key
        domain.action_validate_records()
        self.assertEqual(domain.dkim_next_status, "fail")
        self.assertEqual(domain.dkim_selector, old_selector)
        self.assertEqual(domain.state, "authenticated")
        self.assertEqual(self.env["crm.mail.domain"]._get_signing_key(domain.name)[0], old_selector)
        self.publish_dkim(domain, new_selector, domain.dkim_next_public_key)
        domain.action_validate_records()
        self.assertEqual(domain.dkim_selector, new_selector)
        self.assertEqual(domain.dkim_previous_selector, old_selector)
        self.assertFalse(domain.dkim_next_selector)
        self.assertEqual(self.env["crm.mail.domain"]._get_signing_key(domain.name)[0], new_selector)
        self.assertEqual(domain.state, "authenticated")


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailDomainCodeRpc(CodeAttemptsMixin, HttpCase):
    """Through RPC a wrong code is answered with a notification, not an error, so that the
    counted try commits with the request: the lockout cannot be dodged by a rolled-back call."""

    def test_wrong_codes_over_rpc_lock_the_domain(self):
        admin = new_test_user(
            self.env,
            login="h6_rpc_admin",
            password="h6_rpc_admin_pw",
            groups="base.group_user,base.group_system",
        )
        domain = (
            self.env["crm.mail.domain"]
            .with_user(admin)
            .create({"verification_email": "postmaster@h6rpc.example.test"})
        )
        self.set_known_code(domain, "RIGHT777")
        self.authenticate("h6_rpc_admin", "h6_rpc_admin_pw")

        def call(code):
            return self.make_jsonrpc_request(
                "/web/dataset/call_kw/crm.mail.domain/action_verify_code",
                {
                    "model": "crm.mail.domain",
                    "method": "action_verify_code",
                    "args": [[domain.id], code],
                    "kwargs": {},
                },
            )

        for attempt in range(1, vcode.DEFAULT_POLICY.max_attempts):
            self.assertIn("not right", refusal(call("WRONG999")))
            self.assertEqual(self.code_failures(domain, admin), attempt)
        self.assertIn("Too many wrong codes", refusal(call("WRONG999")))
        self.assertIn("Too many wrong codes", refusal(call("RIGHT777")))  # locked
        domain.invalidate_recordset()
        self.assertEqual(domain.state, "code_pending")
        self.unlock_code(domain, admin)
        self.assertIs(call("RIGHT777"), True)
        domain.invalidate_recordset()
        self.assertEqual(domain.state, "dns_pending")
        self.assertEqual(domain.code_verified_uid, admin)
