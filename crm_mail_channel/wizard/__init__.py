from . import crm_mail_domain_code_wizard
from . import mail_compose_message
from . import crm_email_relink_wizard
from . import crm_lead_pull_threads_wizard
from . import mail_compose_message_tracking
from . import mail_compose_message_insights
from . import mail_compose_message_best_time
from . import crm_dropbox_sender_code_wizard  # BCC dropbox
