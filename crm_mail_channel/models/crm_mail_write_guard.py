from odoo import api, models
from odoo.exceptions import AccessError


class CrmMailWriteGuard(models.AbstractModel):
    """Records changed only by the addon's own methods, never directly.

    Emails, their content and their presences carry identity, ownership, sharing and deal
    links. RPC callers (administrators included) reach create/write/unlink/copy/load directly
    and set whatever context they like, so neither ``readonly`` nor a context key protects
    them. The addon's methods check who may make a change, then write in superuser mode; any
    other caller may only change the fields listed in ``_crm_user_writable_fields``.
    """

    _name = "crm.mail.write.guard"
    _description = "Guard against direct changes of synced mail"

    # Fields a user may change directly (their inverse touches only the user's own data).
    _crm_user_writable_fields = frozenset()

    def _crm_refuse_direct_change(self, fnames=None):
        if self.env.su:
            return
        if fnames is not None and set(fnames) <= self._crm_user_writable_fields:
            return
        raise AccessError(
            self.env._(
                "Emails cannot be created, edited or deleted directly. Use the actions on "
                "the email (deal, sharing, read state) instead."
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        self._crm_refuse_direct_change()
        return super().create(vals_list)

    def write(self, vals):
        self._crm_refuse_direct_change(vals)
        return super().write(vals)

    def unlink(self):
        self._crm_refuse_direct_change()
        return super().unlink()

    def copy(self, default=None):
        self._crm_refuse_direct_change()
        return super().copy(default)

    @api.model
    def load(self, fields, data):
        self._crm_refuse_direct_change()
        return super().load(fields, data)
