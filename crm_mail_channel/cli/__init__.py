from . import crm_mail_push
