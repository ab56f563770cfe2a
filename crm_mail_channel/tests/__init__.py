from . import (
    test_mailbox_connect,
    test_mailbox_sync,
    test_mailbox_sync_robustness,
    test_mailbox_tour,
    test_partner_emails,
    test_read_state,
)
from . import test_dkim_signing, test_mail_domain  # email domain authentication
from . import test_sharing  # email sharing
from . import (  # deals and sending
    test_deal_linking,
    test_deal_tour,
    test_relink_wizard,
    test_send_from_crm,
    test_send_tour,
)
from . import test_sharing_http, test_sharing_property  # email sharing
from . import test_sharing_rule_keys  # email sharing rule keys
from . import test_attack_identity
from . import test_attack_mailbox, test_attack_wizards  # privacy against a colleague
from . import test_attack_property
from . import test_attack_signing, test_attack_verification_code  # signing and codes
from . import test_orm_seams
from . import test_mailbox_setup  # the My Mailbox form and preferences
from . import test_email_thread, test_email_tour  # conversation, lists, empty states
from . import test_sync_store_contract  # the sync store implements the driver's protocols
from . import test_view_labels  # every field shown has a label
from . import test_domain_tour  # adding and verifying an email domain in Chromium
from . import test_first_hour_tour  # a new sales user, login to a sent threaded reply
from . import test_dropbox  # BCC dropbox
from . import test_insights_status  # Email Insights status, replies, bounces, filters
from . import test_insights_tracking  # Email Insights: pixel and links over HTTP, access
from . import test_best_time, test_best_time_sync, test_send_at_best_time  # best time, send later
from . import test_best_time_http  # best time over JSON-RPC
from . import test_dropbox_http  # BCC dropbox over HTTP
from . import test_sales_inbox, test_sales_inbox_tour  # SalesInbox
from . import test_push  # push service (IMAP IDLE), leases, throttling
from . import test_push_service_sql  # the push service's registry-free side
from . import test_connection_budget  # one connection budget per account
from . import test_mailbox_health  # push status and throttling in Mailbox Health
from . import test_send_through_account  # sending through the user's own account
from . import test_first_sync_backfill  # first sync newest first, pause/resume
