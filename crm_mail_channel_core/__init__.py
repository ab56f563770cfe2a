"""Plain-Python core of crm_mail_channel: mail protocols, MIME, sync driver (no Odoo imports)."""
