from odoo import api, fields, models


class CrmMailSecret(models.Model):
    """Secrets (mailbox passwords, DKIM private keys) kept out of every user-facing path.

    The model has no access rights at all: only code running with sudo() can read it, so no
    view, export, RPC call or record rule can ever return a secret, not even to admins.
    """

    _name = "crm.mail.secret"
    _description = "CRM Mail Channel Secret"

    res_model = fields.Char(required=True, index=True)
    res_id = fields.Integer(required=True, index=True)
    key = fields.Char(required=True)
    value = fields.Text()

    _sql_constraints = [
        ("secret_unique", "unique(res_model, res_id, key)", "A secret is stored once per record."),
    ]

    @api.model
    def _get_secret(self, record, key):
        secret = self.sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("key", "=", key)],
            limit=1,
        )
        return secret.value or False

    @api.model
    def _set_secret(self, record, key, value):
        secrets = self.sudo()
        existing = secrets.search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("key", "=", key)],
            limit=1,
        )
        if existing:
            existing.value = value
        else:
            secrets.create(
                {"res_model": record._name, "res_id": record.id, "key": key, "value": value}
            )

    @api.model
    def _drop_secrets(self, records):
        self.sudo().search(
            [("res_model", "=", records._name), ("res_id", "in", records.ids)]
        ).unlink()
