"""Email sharing: random organisations, ORM record rules vs. the reference model.

Each example builds an organisation (modes, audiences, groups, managers, a sales team,
excluded domains, shared contacts, thread overrides, deals, companies, visibility level) and
emails inside a savepoint, then compares, for every user, the emails and the content parts
readable through the ORM with ``crm_mail_channel_testing.sharing_reference.readable``.
"""

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odoo.fields import Command
from odoo.tests import TransactionCase, new_test_user, tagged

from crm_mail_channel_testing import sharing_reference as sharing

N_USERS = 6
ADDRESSES = ["a@client.test", "b@client.test", "c@other.test", "d@ourco.test", "e@far.test"]
DOMAINS = ["client.test", "other.test", "ourco.test", "far.test"]
SALES = ["all", "all", "all", "own", "own", "none"]

users_idx = st.integers(0, N_USERS - 1)
org_strategy = st.fixed_dictionaries(
    {
        "modes": st.lists(
            st.sampled_from(["private", "public", "custom"]), min_size=N_USERS, max_size=N_USERS
        ),
        "aud_users": st.lists(
            st.frozensets(users_idx, max_size=2), min_size=N_USERS, max_size=N_USERS
        ),
        "aud_group": st.lists(st.booleans(), min_size=N_USERS, max_size=N_USERS),
        "group_members": st.frozensets(users_idx, max_size=3),
        "managers": st.lists(st.one_of(st.none(), users_idx), min_size=N_USERS, max_size=N_USERS),
        "team_leader": st.one_of(st.none(), users_idx),
        "team_members": st.frozensets(users_idx, max_size=3),
        "org_domains": st.frozensets(st.sampled_from(DOMAINS), max_size=2),
        "user_domains": st.lists(
            st.frozensets(st.sampled_from(DOMAINS), max_size=1), min_size=N_USERS, max_size=N_USERS
        ),
        "shared_contacts": st.lists(
            st.frozensets(st.integers(0, 2), max_size=2), min_size=N_USERS, max_size=N_USERS
        ),
        "lead_users": st.lists(st.one_of(st.none(), users_idx), min_size=2, max_size=2),
        "level": st.sampled_from(["full", "subject", "metadata"]),
        "emails": st.lists(
            st.fixed_dictionaries(
                {
                    "owners": st.frozensets(users_idx, max_size=2),
                    "sender": st.sampled_from(ADDRESSES),
                    "to": st.frozensets(st.sampled_from(ADDRESSES), max_size=2),
                    "partners": st.frozensets(st.integers(0, 2), max_size=2),
                    "lead": st.one_of(st.none(), st.integers(0, 1)),
                    "sent": st.booleans(),
                    "overrides": st.lists(
                        st.sampled_from(["default", "default", "shared", "private"]),
                        min_size=N_USERS,
                        max_size=N_USERS,
                    ),
                }
            ),
            min_size=1,
            max_size=6,
        ),
    }
)


class _Rollback(Exception):
    pass


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSharingProperty(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        groups = {
            "all": "base.group_user,sales_team.group_sale_salesman_all_leads",
            "own": "base.group_user,sales_team.group_sale_salesman",
            "none": "base.group_user",
        }
        cls.users = [
            new_test_user(
                cls.env, login=f"prop{i}", email=f"prop{i}@ourco.test", groups=groups[SALES[i]]
            )
            for i in range(N_USERS)
        ]
        cls.mailboxes = [
            cls.env["crm.mailbox"]
            .sudo()
            .create({"user_id": user.id, "login": user.email, "host": "localhost"})
            for user in cls.users
        ]
        cls.other_company = cls.env["res.company"].create({"name": "Elsewhere"})
        cls.partners = cls.env["res.partner"].create(
            [
                {"name": "P0", "email": "a@client.test"},
                {"name": "P1", "email": "b@client.test"},
                {"name": "P2", "email": "c@other.test", "company_id": cls.other_company.id},
            ]
        )
        cls.group = cls.env["res.groups"].create({"name": "Sharing circle"})
        cls.leads = cls.env["crm.lead"].create(
            [{"name": f"Deal {i}", "type": "opportunity", "user_id": False} for i in range(2)]
        )
        cls.team = cls.env["crm.team"].create({"name": "Property team", "user_id": False})

    def _build(self, org):
        env = self.env
        env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.excluded_domains", ", ".join(sorted(org["org_domains"]))
        )
        env["ir.config_parameter"].sudo().set_param(
            "crm_mail_channel.email_visibility_level", org["level"]
        )
        self.group.users = [Command.set([self.users[i].id for i in org["group_members"]])]
        for i, user in enumerate(self.users):
            user.write(
                {
                    "email_sharing_mode": org["modes"][i],
                    "email_audience_user_ids": [
                        Command.set([self.users[j].id for j in org["aud_users"][i]])
                    ],
                    "email_audience_group_ids": [
                        Command.set(self.group.ids if org["aud_group"][i] else [])
                    ],
                    "email_manager_id": (
                        self.users[org["managers"][i]].id
                        if org["managers"][i] is not None
                        else False
                    ),
                    "email_excluded_domains": ", ".join(sorted(org["user_domains"][i])),
                    "email_shared_partner_ids": [
                        Command.set([self.partners[k].id for k in org["shared_contacts"][i]])
                    ],
                }
            )
        self.team.user_id = (
            self.users[org["team_leader"]].id if org["team_leader"] is not None else False
        )
        self.team.crm_team_member_ids.unlink()
        env["crm.team.member"].create(
            [
                {"crm_team_id": self.team.id, "user_id": self.users[i].id}
                for i in org["team_members"]
            ]
        )
        for lead, owner in zip(self.leads, org["lead_users"], strict=False):
            lead.user_id = self.users[owner].id if owner is not None else False
        emails = env["crm.email"]
        for n, spec in enumerate(org["emails"]):
            email = (
                env["crm.email"]
                .sudo()
                .create(
                    {
                        "message_id": f"<prop-{n}@test>",
                        "fingerprint": "test",
                        "subject": f"Subject {n}",
                        "body_html": f"<p>Body {n}</p>",
                        "email_from": spec["sender"],
                        "email_to": ", ".join(sorted(spec["to"])),
                        "partner_ids": [
                            Command.set([self.partners[k].id for k in spec["partners"]])
                        ],
                        "lead_id": self.leads[spec["lead"]].id
                        if spec["lead"] is not None
                        else False,
                        "sent_from_crm": spec["sent"],
                    }
                )
            )
            for i in spec["owners"]:
                env["crm.email.presence"].sudo().create(
                    {
                        "email_id": email.id,
                        "mailbox_id": self.mailboxes[i].id,
                        "share_override": spec["overrides"][i],
                    }
                )
            emails |= email
        return emails

    def _reference(self, org):
        users = {
            i: sharing.User(
                mode=org["modes"][i],
                audience_users=set(org["aud_users"][i]),
                audience_groups={"g"} if org["aud_group"][i] else set(),
                groups={"g"} if i in org["group_members"] else set(),
                manager=org["managers"][i],
                excluded_domains=list(org["user_domains"][i]),
                shared_contacts=set(org["shared_contacts"][i]),
                addresses={self.users[i].email},
                sales=SALES[i],
                companies={1},
            )
            for i in range(N_USERS)
        }
        ref_org = sharing.Organisation(
            users=users,
            teams=[(org["team_leader"], set(org["team_members"]))],
            excluded_domains=list(org["org_domains"]),
            partners={0: sharing.Partner(None), 1: sharing.Partner(None), 2: sharing.Partner(2)},
            leads={k: sharing.Lead(user=org["lead_users"][k]) for k in range(2)},
            visibility_level=org["level"],
        )
        emails = {
            n: sharing.Email(
                owners=set(spec["owners"]),
                participants=[spec["sender"], *sorted(spec["to"])],
                partners=set(spec["partners"]),
                lead=spec["lead"],
                sent_from_crm=spec["sent"],
                overrides={i: spec["overrides"][i] for i in spec["owners"]},
            )
            for n, spec in enumerate(org["emails"])
        }
        return sharing.readable(ref_org, emails)

    def _orm(self, emails):
        result = {}
        for i, user in enumerate(self.users):
            found = self.env["crm.email"].with_user(user).search([("id", "in", emails.ids)])
            contents = (
                self.env["crm.email.content"]
                .with_user(user)
                .search([("email_id", "in", found.ids)])
            )
            parts = {(c.email_id.id, c.part) for c in contents}
            seen = {}
            for n, email in enumerate(emails):
                if email not in found:
                    continue
                seen[n] = (
                    "full"
                    if (email.id, "body") in parts
                    else "subject"
                    if (email.id, "subject") in parts
                    else "metadata"
                )
            result[i] = seen
        return result

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(org=org_strategy)
    def test_orm_matches_reference(self, org):
        with contextlib.suppress(_Rollback), self.env.cr.savepoint():
            emails = self._build(org)
            self.assertEqual(self._orm(emails), self._reference(org), org)
            raise _Rollback
        self.env.invalidate_all()
