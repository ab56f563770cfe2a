"""18.0.1.1.0: re-evaluate stored mail and bind saved passwords to their mailbox.

- Mail between colleagues is never shared: stored mail is evaluated once.
- A saved mailbox password is now used only with the server, port, security, certificate
  check, login and owner it was typed for; passwords saved before are bound to the settings
  their mailbox has now, so every mailbox keeps syncing after the update.
"""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["crm.mailbox"]._crm_fingerprint_saved_passwords()
    env["crm.email"]._crm_recompute_colleague_mail()
