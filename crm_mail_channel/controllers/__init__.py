from . import crm_dropbox
from . import crm_email_tracking
