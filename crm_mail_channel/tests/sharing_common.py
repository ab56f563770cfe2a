"""Shared fixtures of the email sharing tests: an organisation of six users."""

import itertools

from odoo.fields import Command
from odoo.tests import TransactionCase, new_test_user

_SEQ = itertools.count(1)

SALESMAN = "sales_team.group_sale_salesman"
ALL_LEADS = "sales_team.group_sale_salesman_all_leads"


class SharingMixin:
    """Owner, peer in audience, peer outside, manager, manager's manager, salesman."""

    @classmethod
    def _setup_sharing_org(cls):
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("crm_mail_channel.excluded_domains", "ourco.test")
        params.set_param("crm_mail_channel.email_visibility_level", "full")

        def user(login, groups):
            return new_test_user(
                cls.env,
                login=login,
                name=login.replace("_", " ").title(),
                email=f"{login}@ourco.test",
                groups=groups,
            )

        base = "base.group_user,base.group_allow_export,"
        cls.owner = user("owner", base + ALL_LEADS)
        cls.peer_in = user("peer_in", base + ALL_LEADS)
        cls.peer_out = user("peer_out", base + ALL_LEADS)
        cls.manager = user("manager", base + ALL_LEADS)
        cls.boss = user("boss", base + ALL_LEADS)
        cls.salesman = user("salesman", base + SALESMAN)
        cls.admin = cls.env.ref("base.user_admin")
        cls.manager.email_manager_id = cls.boss
        cls.owner.email_manager_id = cls.manager
        cls.everyone = (
            cls.owner
            | cls.peer_in
            | cls.peer_out
            | cls.manager
            | cls.boss
            | cls.salesman
            | cls.admin
        )

        cls.client = cls.env["res.partner"].create(
            {"name": "Client", "email": "client@client.test"}
        )
        cls.colleague = cls.env["res.partner"].create(
            {"name": "Colleague", "email": "colleague@ourco.test"}
        )
        cls.deal = cls.env["crm.lead"].create(
            {
                "name": "Confidential deal",
                "type": "opportunity",
                "user_id": cls.owner.id,
                "partner_id": cls.client.id,
            }
        )
        cls.mailbox = (
            cls.env["crm.mailbox"]
            .sudo()
            .create(
                {
                    "user_id": cls.owner.id,
                    "login": "owner@ourco.test",
                    "host": "localhost",
                }
            )
        )
        cls.e_contact = cls._mail(subject="Quote", partners=cls.client)
        cls.e_deal = cls._mail(subject="Deal terms", partners=cls.client, lead=cls.deal)
        cls.e_internal = cls._mail(
            subject="Lunch",
            sender="colleague@ourco.test",
            partners=cls.colleague,
        )
        cls.all_mail = cls.e_contact | cls.e_deal | cls.e_internal

    @classmethod
    def _mail(
        cls,
        subject="Hello",
        sender="client@client.test",
        to="owner@ourco.test",
        partners=None,
        lead=None,
        mailbox=None,
        sent_from_crm=False,
        thread_key=None,
        body="<p>Secret body</p>",
    ):
        n = next(_SEQ)
        message_id = f"<sharing-{n}@test>"
        email = (
            cls.env["crm.email"]
            .sudo()
            .create(
                {
                    "message_id": message_id,
                    "fingerprint": "test",
                    "subject": subject,
                    "email_from": sender,
                    "email_to": to,
                    "body_html": body,
                    "preview": "Secret body",
                    "partner_ids": [Command.set((partners or cls.env["res.partner"]).ids)],
                    "lead_id": lead.id if lead else False,
                    "sent_from_crm": sent_from_crm,
                    "thread_key": thread_key or message_id,
                }
            )
        )
        if mailbox is not False:
            cls.env["crm.email.presence"].sudo().create(
                {
                    "email_id": email.id,
                    "mailbox_id": (mailbox or cls.mailbox).id,
                }
            )
        return email

    def visible(self, user, domain=None):
        """Emails ``user`` finds with a plain search (record rules applied in SQL)."""
        return self.env["crm.email"].with_user(user).search(domain or [])

    def readers(self, email, users=None):
        return (users or self.everyone).filtered(lambda u: email in self.visible(u))

    def set_level(self, level):
        """Change the visibility level as an administrator would, then start a "new request".

        Only the per-transaction record cache is dropped (a new request starts with an empty
        one); Odoo's rule cache is left alone on purpose.
        """
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.email_visibility_level", level
        )
        self.env.invalidate_all()


class SharingCommon(SharingMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_sharing_org()
