{
    "name": "CRM Mail Channel - Job Queue",
    "summary": "Sync mailboxes as OCA queue jobs, one channel per mail provider",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-mail-channel/crm_mail_channel",
    "author": "crm_mail_channel developers",
    "license": "LGPL-3",
    "depends": ["crm_mail_channel", "queue_job"],
    "data": [
        "data/queue_job_channel_data.xml",
        "data/queue_job_function_data.xml",
    ],
    "auto_install": True,
}
