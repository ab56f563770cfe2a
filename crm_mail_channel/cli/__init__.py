from . import crm_mail_push, crm_mail_push_settings
