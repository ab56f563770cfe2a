{
    "name": "CRM Mail Channel - Microsoft sign-in",
    "summary": "Connect Microsoft 365 and Outlook.com mailboxes with a Microsoft sign-in (OAuth)",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-channel/crm_mail_channel",
    "author": "crm_mail_channel developers",
    "license": "LGPL-3",
    "depends": ["crm_mail_channel", "microsoft_outlook"],
    "data": ["views/crm_mailbox_views.xml"],
    "auto_install": True,
}
