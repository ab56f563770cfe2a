"""Best time over JSON-RPC, as a colleague would ask it: aggregate numbers only."""

import json

from odoo.tests import HttpCase, JsonRpcException, tagged

from .best_time_common import BestTimeCommon, local_to_utc


@tagged("post_install", "-at_install")
class TestBestTimeHttp(BestTimeCommon, HttpCase):
    def call(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def test_colleague_over_json_rpc(self):
        nina = self.make_contact("Nina", tz="Europe/Paris")
        mails = self.env["crm.email"]
        for weeks in (1, 2, 3):
            mails |= self.own_mail(
                nina, local_to_utc("Europe/Paris", 2, 16, weeks), offset=60, subject="Merger"
            )
        self.authenticate("bt_bob", "bt_bob")
        slots = self.call("res.partner", "get_best_contact_slots", [nina.ids], {"limit": 2})
        self.assertEqual((slots[0]["weekday"], slots[0]["hour"]), (2, 16))
        self.assertEqual(
            {key for slot in slots for key in slot},
            {"weekday", "hour", "tz", "score", "confidence"},
        )
        self.assertNotIn("Merger", json.dumps(slots))
        # the form fields say when, never what
        shown = self.call(
            "res.partner", "read", [nina.ids, ["crm_best_email_time", "crm_best_call_time"]]
        )[0]
        self.assertIn("Wed 16:00", shown["crm_best_email_time"])
        self.assertNotIn("Merger", json.dumps(shown))
        # the evidence itself stays out of reach: private methods and the emails
        for method, args in (
            ("_crm_best_time_evidence", [nina.ids, nina.ids, "2026-01-01 00:00:00"]),
            ("_crm_best_time_answers", [nina.ids, ["email"]]),
        ):
            with self.assertRaises(JsonRpcException, msg=method):
                self.call("res.partner", method, args)
        found = self.call("crm.email", "search_read", [[("id", "in", mails.ids)], ["subject"]])
        self.assertEqual(found, [])
