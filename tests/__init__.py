"""Layer-1 tests: crm_mail_channel_core against real servers on loopback, no Odoo."""
