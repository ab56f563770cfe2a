{
    "name": "CRM Mail Channel - Google sign-in",
    "summary": "Connect Gmail and Google Workspace mailboxes with a Google sign-in (OAuth)",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-channel/crm_mail_channel",
    "author": "crm_mail_channel developers",
    "license": "LGPL-3",
    "depends": ["crm_mail_channel", "google_gmail"],
    "data": ["views/crm_mailbox_views.xml"],
    "auto_install": True,
}
