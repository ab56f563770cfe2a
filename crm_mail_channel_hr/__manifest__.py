{
    "name": "CRM Mail Channel - HR bridge",
    "summary": "Email sharing: each user's email manager follows their employee's manager",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-channel/crm_mail_channel",
    "author": "crm_mail_channel developers",
    "license": "LGPL-3",
    "depends": ["crm_mail_channel", "hr"],
    "auto_install": True,
}
