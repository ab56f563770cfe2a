# odoo shell runs as the superuser: every read below already sees every record.
# ruff: noqa: F821  (``env`` is given by odoo shell)
# Run by `odoo shell` with THIS checkout's code after `-u crm_mail_channel`.
import json
import os

with open(os.environ["CMC_UPGRADE_PLAN"]) as plan_file:
    plan = json.load(plan_file)
with open(plan["result"]) as before_file:
    before = json.load(before_file)
# Releases before 18.0.1.1.0 stored no content fingerprint: their emails become "legacy".
from_version = tuple(int(part) for part in os.environ["CMC_UPGRADE_FROM"].split("."))
from_before_fingerprints = from_version < (18, 0, 1, 1, 0)
Email = env["crm.email"]
Presence = env["crm.email.presence"]
problems = []
if Email.search_count([]) != before["emails"]:
    problems.append(f"emails {before['emails']} -> {Email.search_count([])}")
if Presence.search_count([]) != before["presences"]:
    problems.append(f"presences {before['presences']} -> {Presence.search_count([])}")
if sorted(Email.search([]).mapped("message_id")) != before["message_ids"]:
    problems.append("Message-IDs changed")
if from_before_fingerprints and set(Email.search([]).mapped("fingerprint")) != {"legacy"}:
    problems.append("stored emails are not marked legacy")
if not from_before_fingerprints and "legacy" in Email.search([]).mapped("fingerprint"):
    problems.append("emails with a fingerprint were turned into legacy emails")


def visible(login):
    user = env["res.users"].search([("login", "=", login)])
    seen = {}
    for email in env["crm.email"].with_user(user).search([]):
        seen[email.message_id] = [bool(email.subject), bool(email.body_html)]
    return seen


for login, seen_before in before["visible"].items():
    seen_after = visible(login)
    for message_id, (subject, body) in seen_after.items():
        was = seen_before.get(message_id)
        if was is None or (subject and not was[0]) or (body and not was[1]):
            problems.append(f"{login} sees more of {message_id} than before")
colleague = Email.search([("message_id", "=", "<c1@ourco.example>")])
if colleague and not colleague.is_colleague_mail:
    # carol@ourco.example is a plain contact: only the company's domain makes it colleague
    # mail, and no company domain is set here, so it stays as it was.
    pass
# Folders synced before newest-first backfills existed read as fully synced: no backfill to
# run, no progress shown, nothing paused; the health fields compute.
for folder in env["crm.mailbox.folder"].search([]):
    if folder.backfill_below or folder.backfill_total:
        problems.append(f"folder {folder.name} of {folder.mailbox_id.login} has a backfill")
for mailbox in env["crm.mailbox"].search([]):
    if mailbox.first_sync_progress or mailbox.first_sync_paused:
        problems.append(f"mailbox {mailbox.login} shows a first sync after the update")
    mailbox.read(["push_status"])
# First syncs after the update: incremental, then a full re-read of every folder.
for mailbox in env["crm.mailbox"].search([]):
    mailbox.with_user(mailbox.user_id).action_sync_now()
counts_after_sync = Email.search_count([])
for mailbox in env["crm.mailbox"].search([]):
    mailbox.folder_ids.write({"last_uid": 0, "highest_modseq": 0})
    mailbox.with_user(mailbox.user_id).action_sync_now()
if Email.search_count([]) != before["emails"] or counts_after_sync != before["emails"]:
    problems.append(
        f"sync after update duplicated mail: {before['emails']} -> {Email.search_count([])}"
    )
if Presence.search_count([]) != before["presences"]:
    problems.append(f"presences after re-read {Presence.search_count([])}")
for mailbox in env["crm.mailbox"].search([]):
    if mailbox.state != "connected":
        problems.append(f"mailbox {mailbox.login} is {mailbox.state}: {mailbox.last_error}")
claimed = Email.search([("fingerprint", "!=", "legacy")])
if from_before_fingerprints and not claimed:
    problems.append("the re-read claimed no legacy email")
for login, seen_before in before["visible"].items():
    for message_id, (subject, body) in visible(login).items():
        was = seen_before.get(message_id)
        if was is None or (subject and not was[0]) or (body and not was[1]):
            problems.append(f"{login} sees more of {message_id} after the sync")
env.cr.rollback()
print("\n".join(problems) if problems else "UPGRADE CHECK OK")
