"""Attacks on a domain's emailed verification code, over JSON-RPC as the web client calls it.

The attacker is an administrator (only administrators reach email domains) who does not
receive the code and tries to guess it: in parallel, around a resend, or by removing and
adding the domain again.
"""

import threading
from datetime import timedelta

import requests
from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from crm_mail_channel_core import verification_code as vcode

from .domain_common import CodeAttemptsMixin, MailDomainCase

PASSWORD = "h8-guess-pw"
RIGHT = "RIGHT777"
WRONG = "WRONG999"


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttackVerificationCode(CodeAttemptsMixin, MailDomainCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attacker = new_test_user(
            cls.env,
            login="h8_guesser",
            password=PASSWORD,
            groups="base.group_user,base.group_system",
        )

    def setUp(self):
        super().setUp()
        self.target = (
            self.env["crm.mail.domain"]
            .with_user(self.attacker)
            .create({"verification_email": f"postmaster@{self.unique_domain()}"})
        )
        self.set_known_code(self.target, RIGHT)
        self.authenticate("h8_guesser", PASSWORD)

    # ---- helpers ---------------------------------------------------------------------------

    def rpc_payload(self, model, method, args):
        return {
            "id": 0,
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"model": model, "method": method, "args": args, "kwargs": {}},
        }

    def rpc(self, method, *args, domain=None):
        """The JSON-RPC answer of ``method`` on the domain: its result, or the error's name."""
        return self.call_kw("crm.mail.domain", method, [[(domain or self.target).id], *args])

    def call_kw(self, model, method, args):
        self.env.flush_all()
        answer = requests.post(
            f"{self.base_url()}/web/dataset/call_kw/{model}/{method}",
            json=self.rpc_payload(model, method, args),
            cookies={"session_id": self.session.sid},
            timeout=60,
        ).json()
        self.env.invalidate_all()
        if "error" in answer:
            return answer["error"]["data"]["name"]
        return answer["result"]

    def message(self, answer):
        self.assertIsInstance(answer, dict, f"the code was not refused: {answer}")
        return answer["params"]["message"]

    # ---- attacks ---------------------------------------------------------------------------

    def test_twenty_parallel_wrong_codes_are_all_counted(self):
        answers = [None] * 20
        barrier = threading.Barrier(len(answers))
        self.env.flush_all()

        def guess(index):
            barrier.wait(timeout=30)
            answers[index] = requests.post(
                f"{self.base_url()}/web/dataset/call_kw/crm.mail.domain/action_verify_code",
                json=self.rpc_payload(
                    "crm.mail.domain", "action_verify_code", [[self.target.id], WRONG]
                ),
                cookies={"session_id": self.session.sid},
                timeout=120,
            ).json()

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(answers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        self.env.invalidate_all()
        self.assertTrue(all(answer and "result" in answer for answer in answers), answers)
        messages = [answer["result"]["params"]["message"] for answer in answers]
        # exactly 20 recorded; only the first five were compared, the rest refused as locked
        self.assertEqual(self.code_failures(self.target, self.attacker), 20)
        self.assertEqual(sum("not right" in m for m in messages), 4)
        self.assertEqual(sum("Too many wrong codes" in m for m in messages), 16)
        # the next try, with the right code, is refused too: the domain stays unproven
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", RIGHT)))
        self.assertEqual(self.target.state, "code_pending")
        self.assertFalse(self.target.code_verified_uid)

    def test_sixth_try_within_a_day_is_locked_even_with_the_right_code(self):
        for left in (4, 3, 2, 1):
            answer = self.message(self.rpc("action_verify_code", WRONG))
            self.assertIn(f"{left} attempts left", answer)
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", WRONG)))
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", RIGHT)))
        self.assertEqual(self.target.state, "code_pending")
        self.assertEqual(self.code_failures(self.target, self.attacker), 6)
        self.env["crm.mail.code.attempt"]._gc_old_attempts()  # a live count is kept
        self.assertEqual(self.code_failures(self.target, self.attacker), 6)
        # an hour later one more try is compared; a wrong one locks for another hour
        self.unlock_code(self.target, self.attacker)
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", WRONG)))
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", RIGHT)))
        # a day after the first wrong try the count starts again
        self.code_attempt(self.target, self.attacker).write(
            {
                "window_start": fields.Datetime.now() - timedelta(hours=25),
                "locked_until": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        self.env["crm.mail.code.attempt"]._gc_old_attempts()
        self.assertFalse(self.code_attempt(self.target, self.attacker))
        self.assertIn("4 attempts left", self.message(self.rpc("action_verify_code", WRONG)))
        self.assertIs(self.rpc("action_verify_code", RIGHT), True)
        self.assertEqual(self.target.state, "dns_pending")
        self.assertEqual(self.target.code_verified_uid, self.attacker)

    def test_resend_does_not_reset_the_count(self):
        for _i in range(3):
            self.assertIn("not right", self.message(self.rpc("action_verify_code", WRONG)))
        self.target.sudo().code_sent_date = fields.Datetime.now() - timedelta(minutes=2)
        with self.really_send():
            self.assertIs(self.rpc("action_send_code"), True)
        new_code = self.code_from_sink(self.target.verification_email)
        self.assertEqual(self.code_failures(self.target, self.attacker), 3)
        self.assertIn("1 attempts left", self.message(self.rpc("action_verify_code", WRONG)))
        self.assertIn("Too many wrong codes", self.message(self.rpc("action_verify_code", WRONG)))
        # locked: neither the new code nor another resend is accepted
        self.assertIn(
            "Too many wrong codes", self.message(self.rpc("action_verify_code", new_code))
        )
        self.target.sudo().code_sent_date = fields.Datetime.now() - timedelta(minutes=2)
        self.assertEqual(self.rpc("action_send_code"), "odoo.exceptions.UserError")
        self.assertEqual(self.target.state, "code_pending")

    def test_removing_and_adding_the_domain_again_keeps_the_count(self):
        name = self.target.name
        for _i in range(vcode.DEFAULT_POLICY.max_attempts):
            self.message(self.rpc("action_verify_code", WRONG))
        self.assertIs(self.call_kw("crm.mail.domain", "unlink", [[self.target.id]]), True)
        again = (
            self.env["crm.mail.domain"]
            .with_user(self.attacker)
            .create({"verification_email": f"postmaster@{name}"})
        )
        self.set_known_code(again, RIGHT)
        answer = self.rpc("action_verify_code", RIGHT, domain=again)
        self.assertIn("Too many wrong codes", self.message(answer))
        self.assertEqual(again.state, "code_pending")

    def test_counts_and_verification_cannot_be_written_directly(self):
        for _i in range(2):
            self.message(self.rpc("action_verify_code", WRONG))
        attempt = self.code_attempt(self.target, self.attacker)
        for method, args in (
            ("write", [[attempt.id], {"failures": 0, "locked_until": False}]),
            ("unlink", [[attempt.id]]),
            ("search_read", [[], ["failures"]]),
        ):
            self.assertEqual(
                self.call_kw("crm.mail.code.attempt", method, args), "odoo.exceptions.AccessError"
            )
        self.assertEqual(self.code_failures(self.target, self.attacker), 2)
        # nor may the domain be marked as proven by hand
        for vals in (
            {"state": "dns_pending"},
            {"code_verified_uid": self.attacker.id},
            {"code_sent_date": False},
        ):
            self.assertEqual(
                self.call_kw("crm.mail.domain", "write", [[self.target.id], vals]),
                "odoo.exceptions.AccessError",
            )
        self.assertEqual(self.target.state, "code_pending")
        self.assertFalse(self.target.code_verified_uid)
