"""Email sharing: modes, audiences, hierarchy, overrides, through every ORM path.

Every test changes something and reads again at once, as the real users, without clearing
any cache: the record rules must never use stale per-user data.
"""

from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tests import new_test_user, tagged

from .sharing_common import SharingCommon


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingModes(SharingCommon):
    def test_private_mode_owner_only(self):
        self.assertEqual(self.owner.email_sharing_mode, "private")
        for email in self.all_mail:
            self.assertEqual(self.readers(email), self.owner, email.subject)

    def test_public_everyone_who_can_open(self):
        self.owner.email_sharing_mode = "public"
        all_but_salesman = self.everyone - self.salesman
        self.assertEqual(self.readers(self.e_contact), self.everyone)
        # The salesman cannot open the deal (assigned to the owner): its mail stays hidden.
        self.assertEqual(self.readers(self.e_deal), all_but_salesman)
        # Only colleagues (excluded domain): private.
        self.assertEqual(self.readers(self.e_internal), self.owner)

    def test_public_chosen_audience_and_hierarchy(self):
        self.owner.write(
            {
                "email_sharing_mode": "public",
                "email_audience_user_ids": [Command.set(self.peer_in.ids)],
            }
        )
        expected = self.owner | self.peer_in | self.manager | self.boss
        self.assertEqual(self.readers(self.e_contact), expected)
        self.assertEqual(self.readers(self.e_deal), expected)
        # Audience by group, changed and read again at once.
        group = self.env["res.groups"].create({"name": "Mark's circle"})
        self.owner.email_audience_group_ids = group
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        group.users = self.peer_out
        self.assertIn(self.e_contact, self.visible(self.peer_out))
        group.users = False
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        # Back to everyone.
        self.owner.write(
            {
                "email_audience_user_ids": [Command.clear()],
                "email_audience_group_ids": [Command.clear()],
            }
        )
        self.assertIn(self.e_contact, self.visible(self.peer_out))

    def test_hierarchy_changes_take_effect_at_once(self):
        self.owner.write(
            {
                "email_sharing_mode": "public",
                "email_audience_user_ids": [Command.set(self.peer_in.ids)],
            }
        )
        self.assertIn(self.e_contact, self.visible(self.boss))
        self.manager.email_manager_id = False
        self.assertNotIn(self.e_contact, self.visible(self.boss))
        self.assertIn(self.e_contact, self.visible(self.manager))
        # Sales team leader over a member, at depth two through the email manager.
        team = self.env["crm.team"].create({"name": "Team", "user_id": self.peer_out.id})
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        member = self.env["crm.team.member"].create(
            {"crm_team_id": team.id, "user_id": self.manager.id}
        )
        self.assertIn(self.e_contact, self.visible(self.peer_out))
        member.active = False
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        member.active = True
        team.user_id = self.boss
        self.assertNotIn(self.e_contact, self.visible(self.peer_out))
        self.assertIn(self.e_contact, self.visible(self.boss))
        member.unlink()
        self.assertNotIn(self.e_contact, self.visible(self.boss))
        # Cycles terminate.
        self.boss.email_manager_id = self.owner
        self.manager.email_manager_id = self.boss
        self.assertIn(self.e_contact, self.visible(self.boss))
        self.assertEqual(self.owner.email_superior_ids, self.manager | self.boss)

    def test_mode_change_then_search_in_same_transaction(self):
        fresh = self._mail(subject="Fresh", partners=self.client)
        Email = self.env["crm.email"]
        self.assertFalse(Email.with_user(self.peer_in).search([("id", "=", fresh.id)]))
        self.owner.email_sharing_mode = "public"
        self.assertTrue(Email.with_user(self.peer_in).search([("id", "=", fresh.id)]))
        self.owner.email_sharing_mode = "private"
        self.assertFalse(Email.with_user(self.peer_in).search_count([("id", "=", fresh.id)]))

    def test_hierarchy_never_reveals_private_mail(self):
        self.owner.email_sharing_mode = "private"
        self.assertNotIn(self.e_contact, self.visible(self.manager))
        self.assertNotIn(self.e_contact, self.visible(self.boss))

    def test_custom_mode_share_switch(self):
        self.owner.email_sharing_mode = "custom"
        self.assertEqual(self.readers(self.e_contact), self.owner)
        self.client.with_user(self.owner).set_email_sharing(True)
        self.assertEqual(self.readers(self.e_contact), self.everyone)
        self.assertTrue(self.client.with_user(self.owner).email_shared_by_me)
        self.assertFalse(self.client.with_user(self.peer_in).email_shared_by_me)
        # Another user's switch does not share the owner's mail.
        self.client.with_user(self.owner).set_email_sharing(False)
        self.client.with_user(self.peer_in).set_email_sharing(True)
        self.assertEqual(self.readers(self.e_contact), self.owner)
        # The toggle on the contact form.
        self.client.with_user(self.owner).email_shared_by_me = True
        self.assertIn(self.e_contact, self.visible(self.peer_out))
        # A contact linked later (SQL path of the sync) shares at once.
        later = self._mail(subject="Later", partners=self.colleague)
        self.assertNotIn(later, self.visible(self.peer_out))
        self.env.cr.execute(
            "INSERT INTO crm_email_res_partner_rel (email_id, partner_id) VALUES (%s, %s)",
            (later.id, self.client.id),
        )
        later._crm_sharing_partners_changed()
        self.assertIn(later, self.visible(self.peer_out))

    def test_thread_overrides(self):
        self.owner.email_sharing_mode = "public"
        self.e_contact.with_user(self.owner).action_make_thread_private()
        self.assertEqual(self.readers(self.e_contact), self.owner)
        # New mail in that thread inherits the choice.
        reply = self._mail(
            subject="Re: Quote", partners=self.client, thread_key=self.e_contact.message_id
        )
        self.assertEqual(self.readers(reply), self.owner)
        self.e_contact.with_user(self.owner).action_reset_thread_sharing()
        self.assertEqual(self.readers(reply), self.everyone)
        # Share one thread in private mode, even with an excluded domain.
        self.owner.email_sharing_mode = "private"
        self.e_internal.with_user(self.owner).action_share_thread()
        self.assertEqual(self.readers(self.e_internal), self.everyone)
        self.assertEqual(self.readers(self.e_contact), self.owner)
        # Only an owner can change a thread.
        with self.assertRaises(UserError):
            self.e_internal.with_user(self.peer_in).action_make_thread_private()
        self.assertEqual(self.e_internal.with_user(self.owner).sharing_thread_state, "shared")
        self.assertEqual(self.e_internal.with_user(self.peer_in).sharing_thread_state, "none")

    def test_sent_from_crm_always_shared(self):
        sent = self._mail(
            subject="Proposal", partners=self.client, lead=self.deal, sent_from_crm=True
        )
        self.assertEqual(self.owner.email_sharing_mode, "private")
        self.assertEqual(self.readers(sent), self.everyone - self.salesman)
        unlinked = self._mail(
            subject="Note", partners=self.client, sent_from_crm=True, mailbox=False
        )
        self.assertEqual(self.readers(unlinked), self.everyone)

    def test_salesman_deal_access(self):
        self.owner.email_sharing_mode = "public"
        self.assertNotIn(self.e_deal, self.visible(self.salesman))
        self.deal.user_id = self.salesman
        self.assertIn(self.e_deal, self.visible(self.salesman))
        self.deal.user_id = False
        self.assertIn(self.e_deal, self.visible(self.salesman))
        self.deal.action_set_lost()
        self.assertFalse(self.deal.active)
        self.assertIn(self.e_deal, self.visible(self.salesman))
        # A user without any sales rights opens no deal.
        plain = new_test_user(self.env, login="plain", groups="base.group_user")
        self.assertIn(self.e_contact, self.visible(plain))
        self.assertNotIn(self.e_deal, self.visible(plain))

    def test_multi_company_contact(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        self.client.company_id = other
        self.owner.write({"email_sharing_mode": "public", "company_ids": [Command.link(other.id)]})
        self.assertNotIn(self.e_contact, self.visible(self.peer_in))
        self.assertIn(self.e_contact, self.visible(self.owner))
        self.peer_in.company_ids = [Command.link(other.id)]
        self.assertIn(
            self.e_contact,
            self.env["crm.email"]
            .with_user(self.peer_in)
            .with_context(allowed_company_ids=[self.peer_in.company_id.id, other.id])
            .search([]),
        )

    def test_admin_sees_no_private_mail(self):
        self.assertNotIn(self.e_contact, self.visible(self.admin))
        with self.assertRaises(AccessError):
            self.e_contact.with_user(self.admin).read(["email_from"])

    def test_excluded_domains(self):
        self.owner.email_sharing_mode = "public"
        params = self.env["ir.config_parameter"].sudo()
        # Organisation list change, not applied to synced mail.
        params.set_param("crm_mail_channel.excluded_domains", "client.test")
        self.assertIn(self.e_contact, self.visible(self.peer_in))
        fresh = self._mail(subject="New", partners=self.client)
        self.assertNotIn(fresh, self.visible(self.peer_in))
        # Applied to synced mail through Settings.
        settings = self.env["res.config.settings"].create(
            {
                "crm_email_excluded_domains": "client.test, ourco.test",
                "crm_email_excluded_apply_synced": True,
            }
        )
        settings.execute()
        self.assertNotIn(self.e_contact, self.visible(self.peer_in))
        settings = self.env["res.config.settings"].create(
            {
                "crm_email_excluded_domains": "ourco.test",
                "crm_email_excluded_apply_synced": True,
            }
        )
        settings.execute()
        self.assertIn(self.e_contact, self.visible(self.peer_in))
        self.assertNotIn(self.e_internal, self.visible(self.peer_in))
        # The owner's own list applies to their synced mail at once.
        self.owner.with_user(self.owner).email_excluded_domains = "client.test"
        self.assertNotIn(self.e_contact, self.visible(self.peer_in))
        self.assertIn(self.e_contact, self.visible(self.owner))


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingSettings(SharingCommon):
    def test_admin_sets_mode_user_sees_it_locked(self):
        newcomer = new_test_user(self.env, login="newcomer", groups="base.group_user")
        self.assertFalse(newcomer.crm_mailbox_ids)
        newcomer.with_user(self.admin).email_sharing_mode_admin = "public"
        self.assertEqual(newcomer.email_sharing_mode, "public")
        self.assertTrue(newcomer.with_user(newcomer).email_sharing_mode_locked)
        with self.assertRaises(UserError):
            newcomer.with_user(newcomer).write({"email_sharing_mode": "private"})
        newcomer.with_user(self.admin).email_sharing_mode_admin = "user"
        newcomer.with_user(newcomer).write({"email_sharing_mode": "custom"})
        self.assertEqual(newcomer.email_sharing_mode, "custom")
        with self.assertRaises(AccessError):
            newcomer.with_user(newcomer).write({"email_sharing_mode_admin": "private"})
        with self.assertRaises(AccessError):
            newcomer.with_user(newcomer).write({"email_manager_id": self.peer_in.id})

    def test_settings_numbers(self):
        self.owner.email_sharing_mode = "public"
        self.peer_in.email_sharing_mode = "custom"
        sent = self._mail(partners=self.client, sent_from_crm=True, mailbox=False)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.crm_email_excluded_domains, "ourco.test")
        self.assertEqual(settings.crm_email_excluded_domain_count, 1)
        self.assertGreaterEqual(settings.crm_email_users_public, 1)
        self.assertGreaterEqual(settings.crm_email_users_custom, 1)
        self.assertGreaterEqual(settings.crm_email_users_private, 4)
        emails = self.env["crm.email"].sudo()
        shared_everyone = emails.search_count(
            [
                ("presence_ids.is_shared", "=", True),
                ("presence_ids.user_id.email_audience_everyone", "=", True),
            ]
        )
        self.assertEqual(settings.crm_email_count_everyone, shared_everyone)
        self.assertGreaterEqual(settings.crm_email_count_sent_from_crm, 1)
        self.assertIn(sent, emails.search([("sent_from_crm", "=", True)]))
        action = settings.action_crm_email_sharing_users()
        self.assertEqual(action["res_model"], "res.users")

    def test_why_can_i_see_this(self):
        self.owner.write(
            {
                "email_sharing_mode": "public",
                "email_audience_user_ids": [Command.set(self.peer_in.ids)],
            }
        )
        text = self.e_contact.with_user(self.owner).sharing_explanation
        self.assertIn("Owner: owner", text)
        self.assertIn("public mode", text)
        self.assertIn("Peer In", text)
        self.assertIn("Managers of Owner:", text)
        self.assertIn("Manager", text.split("Managers of Owner:")[1])
        self.assertIn("Boss", text.split("Managers of Owner:")[1])
        self.assertTrue(self.e_contact.with_user(self.admin).sharing_explanation)
        self.assertFalse(self.e_contact.with_user(self.peer_in).sharing_explanation)
        self.assertIn(
            "Not shared by Owner", self.e_internal.with_user(self.owner).sharing_explanation
        )


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingPaths(SharingCommon):
    """search_count, read_group, name_search, export, read, content and attachments."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attachment = cls.env["ir.attachment"].create(
            {
                "name": "secret.pdf",
                "raw": b"%PDF secret",
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

    def test_attachment_moves_to_content(self):
        self.assertEqual(self.attachment.res_model, "crm.email.content")
        self.assertEqual(self.e_contact.with_user(self.owner).attachment_ids, self.attachment)

    def test_counts_and_groups(self):
        for user, expected in (
            (self.peer_in, 2),
            (self.peer_out, 0),
            (self.boss, 2),
            (self.owner, 3),
            (self.salesman, 0),
        ):
            Email = self.env["crm.email"].with_user(user)
            domain = [("id", "in", self.all_mail.ids)]
            self.assertEqual(Email.search_count(domain), expected, user.login)
            groups = Email.read_group(domain, ["lead_id"], ["lead_id"])
            self.assertEqual(sum(g["lead_id_count"] for g in groups), expected, user.login)
            groups = Email._read_group(domain, ["email_from"], ["__count"])
            self.assertEqual(sum(count for _k, count in groups), expected, user.login)

    def test_name_search_and_export(self):
        peer = self.env["crm.email"].with_user(self.peer_out)
        self.assertFalse(peer.name_search("Quote"))
        self.assertFalse(peer.search([("subject", "ilike", "Quote")]))
        self.assertFalse(peer.search([("body_html", "ilike", "Secret")]))
        with self.assertRaises(AccessError):
            self.e_contact.with_user(self.peer_out).export_data(["email_from", "subject"])
        # Content-only columns of a hidden email come out empty (content rules apply).
        rows = self.e_contact.with_user(self.peer_out).export_data(["subject", "body_html"])
        self.assertFalse(any(rows["datas"][0]))
        reader = self.env["crm.email"].with_user(self.peer_in)
        self.assertEqual(reader.name_search("Quote")[0][0], self.e_contact.id)
        rows = self.e_contact.with_user(self.peer_in).export_data(
            ["subject", "body_html", "email_from"]
        )["datas"]
        self.assertEqual(rows[0][0], "Quote")
        self.assertIn("Secret body", rows[0][1])

    def test_levels(self):
        as_peer = self.e_contact.with_user(self.peer_in)
        self.set_level("subject")
        self.assertEqual(as_peer.read(["subject", "body_html", "preview"])[0]["subject"], "Quote")
        self.assertFalse(as_peer.read(["body_html"])[0]["body_html"])
        self.assertFalse(as_peer.attachment_ids)
        self.assertFalse(
            self.env["crm.email"].with_user(self.peer_in).search([("body_html", "ilike", "Secret")])
        )
        with self.assertRaises(AccessError):
            self.attachment.with_user(self.peer_in).read(["datas"])
        body_row = self.e_contact.sudo().content_ids.filtered(lambda c: c.part == "body")
        with self.assertRaises(AccessError):
            body_row.with_user(self.peer_in).read(["body_html"])
        self.set_level("metadata")
        values = self.e_contact.with_user(self.peer_in).read(["subject", "email_from", "date"])
        self.assertFalse(values[0]["subject"])
        self.assertEqual(values[0]["email_from"], "client@client.test")
        self.assertFalse(self.env["crm.email"].with_user(self.peer_in).name_search("Quote"))
        content = self.env["crm.email.content"].with_user(self.peer_in)
        self.assertFalse(content.search([("email_id", "=", self.e_contact.id)]))
        rows = self.e_contact.with_user(self.peer_in).export_data(["subject", "body_html"])
        self.assertFalse(any(rows["datas"][0]))
        self.assertFalse(
            self.env["ir.attachment"]
            .with_user(self.peer_in)
            .search([("id", "=", self.attachment.id)])
        )
        # The owner always sees everything.
        owner_view = self.e_contact.with_user(self.owner)
        self.assertEqual(owner_view.subject, "Quote")
        self.assertIn("Secret body", owner_view.body_html)
        self.assertEqual(self.attachment.with_user(self.owner).raw, b"%PDF secret")
        self.set_level("full")
        self.assertEqual(self.attachment.with_user(self.peer_in).raw, b"%PDF secret")

    def test_rpc_read_of_hidden_email(self):
        with self.assertRaises(AccessError):
            self.e_contact.with_user(self.peer_out).read(["subject", "body_html"])
        with self.assertRaises(AccessError):
            self.attachment.with_user(self.peer_out).read(["datas"])
        content = self.e_contact.sudo().content_ids.with_user(self.peer_out)
        with self.assertRaises(AccessError):
            content.read(["subject"])
        self.assertFalse(
            self.env["ir.attachment"]
            .with_user(self.peer_out)
            .search([("res_model", "=", "crm.email.content")])
        )

    def test_partner_counts(self):
        self.assertEqual(self.client.with_user(self.peer_in).crm_email_count, 2)
        self.assertEqual(self.client.with_user(self.peer_out).crm_email_count, 0)
        self.assertEqual(self.client.with_user(self.owner).crm_email_count, 2)
