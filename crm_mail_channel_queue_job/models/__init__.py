from . import crm_mailbox
