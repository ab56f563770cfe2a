"""Connection settings for the push service, read by a short-lived Odoo process:

    echo '[12, 15]' | python3 -m odoo crm_mail_push_settings -d DB

Reads mailbox ids (JSON) on standard input and prints one answer line on standard output
(crm_mail_channel_core.push_settings): each mailbox's settings with a fresh OAuth token, or
null when it is not to be watched. The push service runs it (crm_mail_push); it answers
only what ``crm.mailbox._crm_push_settings`` gives the push service.
"""

import json
import logging
import sys

from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry
from odoo.tools import config

from crm_mail_channel_core import push_settings

_logger = logging.getLogger(__name__)


class CrmMailPushSettings(Command):
    """Connection settings of CRM mailboxes for the push service (crm_mail_channel)"""

    name = "crm_mail_push_settings"

    def run(self, args):
        config.parse_config(args, setup_logging=True)
        dbname = (config["db_name"] or "").split(",")[0].strip()
        if not dbname:
            sys.exit("crm_mail_push_settings: give the database with -d DB")
        mailbox_ids = [int(i) for i in json.loads(sys.stdin.read() or "[]")]
        registry = Registry(dbname)
        answer = {}
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            Mailbox = env["crm.mailbox"]
            for mailbox_id in mailbox_ids:
                try:
                    with cr.savepoint():
                        answer[mailbox_id] = Mailbox._crm_push_settings(mailbox_id)
                except Exception:  # one mailbox's trouble never hides the others' settings
                    _logger.exception("Settings of mailbox %s could not be read", mailbox_id)
                    answer[mailbox_id] = None
        sys.stdout.write(push_settings.encode_answer(answer) + "\n")
        sys.stdout.flush()
