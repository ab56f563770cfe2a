"""18.0.1.1.0: re-evaluate stored mail and bind saved passwords to their mailbox.

- Mail between colleagues is never shared: stored mail is evaluated once.
- Wrong verification-code attempts are counted per purpose, domain and user in their own
  table; the per-domain counter columns go.
- A saved mailbox password is now used only with the server, port, security, certificate
  check, login and owner it was typed for; passwords saved before are bound to the settings
  their mailbox has now, so every mailbox keeps syncing after the update.
"""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    if not version:
        return
    # The attempt counter moved to crm.mail.code.attempt; the lock is computed from it.
    cr.execute(
        "ALTER TABLE crm_mail_domain DROP COLUMN IF EXISTS code_attempts,"
        " DROP COLUMN IF EXISTS code_locked_until"
    )
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["crm.mailbox"]._crm_fingerprint_saved_passwords()
    env["crm.email"]._crm_recompute_colleague_mail()
