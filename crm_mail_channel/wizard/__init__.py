from . import crm_mail_domain_code_wizard
from . import mail_compose_message
from . import crm_email_relink_wizard
from . import crm_lead_pull_threads_wizard
