"""BCC dropbox over HTTP: the vCard is the caller's own; JSON-RPC gives nobody else's address."""

import json

from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestDropboxHttp(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        alias = cls.env["mail.alias.domain"].create({"name": "crm-h12http.example.test"})
        cls.env.company.alias_domain_id = alias
        groups = "sales_team.group_sale_salesman,base.group_user"
        cls.alice = new_test_user(cls.env, login="h12h_alice", groups=groups, name="Alice")
        cls.bob = new_test_user(cls.env, login="h12h_bob", groups=groups, name="Bob")
        for user in (cls.alice, cls.bob):
            cls.env["crm.mailbox"].with_user(user).action_open_my_mailbox()
        cls.alice_box = cls.alice.with_user(cls.alice).crm_dropbox_email
        cls.bob_box = cls.bob.with_user(cls.bob).crm_dropbox_email

    def call(self, model, method, args, kwargs=None):
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        }
        response = self.url_open(
            "/web/dataset/call_kw",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        return response.json()

    def test_vcard_is_the_owner_own(self):
        self.assertNotEqual(self.alice_box, self.bob_box)
        self.authenticate("h12h_alice", "h12h_alice")
        response = self.url_open("/crm_mail_channel/dropbox/vcard")
        self.assertEqual(response.status_code, 200)
        self.assertIn("text/vcard", response.headers["Content-Type"])
        self.assertIn(f"EMAIL;TYPE=INTERNET:{self.alice_box}", response.text)
        self.authenticate("h12h_bob", "h12h_bob")
        response = self.url_open("/crm_mail_channel/dropbox/vcard")
        self.assertIn(self.bob_box, response.text)
        self.assertNotIn(self.alice_box, response.text)
        # Not logged in: nothing.
        self.authenticate(None, None)
        response = self.url_open("/crm_mail_channel/dropbox/vcard", allow_redirects=False)
        self.assertNotIn(self.alice_box.encode(), response.content)

    def test_json_rpc_gives_bob_nothing_of_alice_dropbox(self):
        self.authenticate("h12h_bob", "h12h_bob")
        token = self.alice_box.split("@")[0].removeprefix("dropbox-")
        read = self.call("res.users", "read", [[self.alice.id], ["crm_dropbox_email"]])
        self.assertNotIn(token, str(read))
        found = self.call(
            "crm.mailbox",
            "search_read",
            [[("protocol", "=", "dropbox")], ["crm_dropbox_token", "user_id"]],
            {"context": {"active_test": False}},
        )
        self.assertNotIn(token, str(found))
        regen = self.call("res.users", "action_regenerate_crm_dropbox", [[self.alice.id]])
        self.assertIn("error", regen)
        self.assertEqual(self.alice.with_user(self.alice).crm_dropbox_email, self.alice_box)
