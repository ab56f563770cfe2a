"""Email sharing: attachment download URLs obey the sharing rules."""

from odoo.fields import Command
from odoo.tests import HttpCase, tagged

from .sharing_common import SharingMixin


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingDownload(SharingMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_sharing_org()
        cls.attachment = cls.env["ir.attachment"].create(
            {
                "name": "secret.txt",
                "raw": b"top secret",
                "mimetype": "text/plain",
                "res_model": "crm.email",
                "res_id": cls.e_contact.id,
            }
        )
        cls.owner.write(
            {
                "email_sharing_mode": "public",
                "email_audience_user_ids": [Command.set(cls.peer_in.ids)],
            }
        )

    def download(self, login):
        self.authenticate(login, login)
        return self.url_open(f"/web/content/{self.attachment.id}?download=true")

    def test_download_follows_rules_and_level(self):
        self.set_level("full")
        for login, allowed in (
            ("owner", True),
            ("peer_in", True),
            ("manager", True),
            ("peer_out", False),
            ("salesman", False),
        ):
            response = self.download(login)
            if allowed:
                self.assertEqual(response.status_code, 200, login)
                self.assertEqual(response.content, b"top secret", login)
            else:
                self.assertIn(response.status_code, (403, 404), login)
                self.assertNotIn(b"top secret", response.content, login)
        for level in ("subject", "metadata"):
            self.set_level(level)
            response = self.download("peer_in")
            self.assertIn(response.status_code, (403, 404), level)
            self.assertNotIn(b"top secret", response.content)
            self.assertEqual(self.download("owner").content, b"top secret")
        # Made private again: the very next request is refused.
        self.set_level("full")
        self.assertEqual(self.download("peer_in").status_code, 200)
        self.owner.email_sharing_mode = "private"
        self.assertIn(self.download("peer_in").status_code, (403, 404))
