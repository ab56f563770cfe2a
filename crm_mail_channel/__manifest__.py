{
    "name": "CRM Mail Channel",
    "summary": "Sync users' mailboxes into CRM: emails on contacts, companies and deals, "
    "with sharing rules, deal linking and domain authentication",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-channel/crm_mail_channel",
    "author": "crm_mail_channel developers",
    "license": "LGPL-3",
    "depends": ["crm", "mail", "link_tracker"],
    "external_dependencies": {
        "python": ["imapclient", "dnspython", "dkimpy", "pyspf", "crm_mail_channel"],
    },
    "data": [
        "security/crm_mail_channel_security.xml",
        "security/ir.model.access.csv",
        "security/crm_mail_channel_rules.xml",
        "data/ir_cron_data.xml",
        "views/crm_email_views.xml",
        "views/crm_mailbox_views.xml",
        "views/res_partner_views.xml",
        "views/res_users_views.xml",
        "views/crm_mail_channel_menus.xml",
    ],
    "demo": [],
    "assets": {
        "web.assets_tests": [
            "crm_mail_channel/static/src/js/tours/*.js",
        ],
    },
    "installable": True,
    "application": False,
}
