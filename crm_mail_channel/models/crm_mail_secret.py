from odoo import api, fields, models


class CrmMailSecret(models.Model):
    """Secrets (mailbox passwords, DKIM private keys) kept out of every user-facing path.

    The model has no access rights at all: only code running with sudo() can read it, so no
    view, export, RPC call or record rule can ever return a secret, not even to admins.

    A secret may be bound to a fingerprint of what it was given for (a mailbox password to
    its server, port, security, login and owner): a caller that passes a fingerprint gets the
    value only when it matches, so a secret never serves another server or account, whatever
    path changed the record.
    """

    _name = "crm.mail.secret"
    _description = "CRM Mail Channel Secret"

    # What the secret belongs to
    res_model = fields.Char(required=True, index=True)
    res_id = fields.Integer(required=True, index=True)
    key = fields.Char(required=True)
    # The secret, and what it was given for
    value = fields.Text()
    fingerprint = fields.Char(help="Digest of the settings the value was given for.")

    _sql_constraints = [
        ("secret_unique", "unique(res_model, res_id, key)", "A secret is stored once per record."),
    ]

    def _find(self, record, key):
        # sudo: the model has no access rights; only the addon's own methods call this.
        return self.sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("key", "=", key)],
            limit=1,
        )

    @api.model
    def _get_secret(self, record, key, fingerprint=None):
        """The value, or False; with ``fingerprint``, False unless it is the stored one."""
        secret = self._find(record, key)
        if fingerprint is not None and secret.fingerprint != fingerprint:
            return False
        return secret.value or False

    @api.model
    def _set_secret(self, record, key, value, fingerprint=False):
        existing = self._find(record, key)
        if existing:
            existing.write({"value": value, "fingerprint": fingerprint})
        else:
            # sudo: the model has no access rights; only the addon's own methods call this.
            self.sudo().create(
                {
                    "res_model": record._name,
                    "res_id": record.id,
                    "key": key,
                    "value": value,
                    "fingerprint": fingerprint,
                }
            )

    @api.model
    def _drop_secrets(self, records, key=None):
        domain = [("res_model", "=", records._name), ("res_id", "in", records.ids)]
        if key:
            domain.append(("key", "=", key))
        # sudo: the model has no access rights; only the addon's own methods call this.
        self.sudo().search(domain).unlink()
