from odoo import models


class FetchmailServer(models.Model):
    """After reading the catch-all, store the dropbox mail it held in batches (see
    crm.dropbox.queue); messages left by an interrupted run are stored by the next one."""

    _inherit = "fetchmail.server"

    def fetch_mail(self, raise_exception=True):
        result = super().fetch_mail(raise_exception=raise_exception)
        self.env["crm.dropbox.queue"]._crm_import_pending()
        return result
