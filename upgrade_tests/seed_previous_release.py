# odoo shell runs as the superuser: every read below already sees every record.
# ruff: noqa: F821  (``env`` is given by odoo shell)
# Run by `odoo shell` with the PREVIOUS release's code: users, contacts, mailboxes, a sync,
# then what every user can see, written to the plan's result file.
import json
import os

with open(os.environ["CMC_UPGRADE_PLAN"]) as plan_file:
    plan = json.load(plan_file)
Users = env["res.users"].with_context(no_reset_password=True)
sales = [
    (4, env.ref("sales_team.group_sale_salesman").id),
    (4, env.ref("base.group_user").id),
]
boss = Users.create(
    {"name": "Boss", "login": "up_boss", "email": "boss@ourco.example", "groups_id": sales}
)
victim = Users.create(
    {
        "name": "Victim",
        "login": "up_victim",
        "email": "victim@ourco.example",
        "groups_id": sales,
        "email_sharing_mode": "private",
    }
)
public = Users.create(
    {
        "name": "Public",
        "login": "up_public",
        "email": "pub@ourco.example",
        "groups_id": sales,
        "email_sharing_mode": "public",
        "email_manager_id": boss.id,
    }
)
outsider = Users.create(
    {"name": "Outsider", "login": "up_out", "email": "out@ourco.example", "groups_id": sales}
)
Partner = env["res.partner"]
company = Partner.create({"name": "Acme", "is_company": True})
joe = Partner.create({"name": "Joe", "email": "joe@acme.example", "parent_id": company.id})
Partner.create({"name": "Ann", "email": "ann@acme.example", "parent_id": company.id})
Partner.create({"name": "Carol", "email": "carol@ourco.example"})
users = {"victim": victim, "public": public, "boss": boss}
for name, (login, password) in plan["mailboxes"].items():
    mailbox = (
        env["crm.mailbox"]
        .with_user(users[name])
        .create(
            {
                "protocol": "imap",
                "host": plan["host"],
                "port": plan["port"],
                "security": "none",
                "login": login,
                "password": password,
                "state": "connected",
            }
        )
    )
    mailbox.with_user(users[name]).action_sync_now()
Email = env["crm.email"]
deal = env["crm.lead"].create(
    {"name": "Victim deal", "partner_id": joe.id, "type": "opportunity", "user_id": victim.id}
)
Email.search([("message_id", "=", "<v1@acme.example>")]).write(
    {"lead_id": deal.id, "link_reason": "manual"}
)
before = {
    "emails": Email.search_count([]),
    "presences": env["crm.email.presence"].search_count([]),
    "message_ids": sorted(Email.search([]).mapped("message_id")),
    "visible": {},
}
for user in (victim, public, boss, outsider):
    seen = {}
    for email in Email.with_user(user).search([]):
        seen[email.message_id] = [bool(email.subject), bool(email.body_html)]
    before["visible"][user.login] = seen
with open(plan["result"], "w") as handle:
    json.dump(before, handle)
env.cr.commit()
print("SEED OK", before["emails"])
