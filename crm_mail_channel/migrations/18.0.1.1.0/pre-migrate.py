"""18.0.1.1.0: emails are identified by Message-ID and content fingerprint.

Rows stored before have no fingerprint; they get the legacy marker, which only a mailbox
that already holds the email (or, for mail sent from CRM, its sender's mailbox) can claim, so
the first sync after the update duplicates nothing and a Message-ID alone still grants
nothing.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute("ALTER TABLE crm_email ADD COLUMN IF NOT EXISTS fingerprint varchar")
    cr.execute("UPDATE crm_email SET fingerprint = 'legacy' WHERE fingerprint IS NULL")
    cr.execute("ALTER TABLE crm_email DROP CONSTRAINT IF EXISTS crm_email_message_id_unique")
    # Who sent mail recorded from CRM: the user whose post created the row.
    cr.execute("ALTER TABLE crm_email ADD COLUMN IF NOT EXISTS crm_sender_user_id int4")
    cr.execute(
        "UPDATE crm_email SET crm_sender_user_id = create_uid"
        " WHERE sent_from_crm AND crm_sender_user_id IS NULL"
    )
