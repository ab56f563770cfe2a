"""The end of a provider sign-in for a crm.mailbox, shared by the Google and Microsoft bridges.

Odoo's own callbacks (/google_gmail/confirm, /microsoft_outlook/confirm) are for system
administrators and bind the state to the record only. The bridges extend those routes: a
state naming a crm.mailbox comes here, where it must be the current user's own mailbox and
carry a token bound to that mailbox and that user. Anything else gets a plain error page.
"""

import json
import logging

from odoo.exceptions import UserError
from odoo.http import request
from odoo.tools import consteq

_logger = logging.getLogger(__name__)

MAILBOX_MODEL = "crm.mailbox"


def mailbox_state(state):
    """``(mailbox id, csrf token)`` when ``state`` names a crm.mailbox, None when it names
    another model (Odoo's own callback handles it). A state that cannot be read at all gives
    ``(0, "")``: refused with a plain page rather than Odoo's bare 403."""
    try:
        values = json.loads(state or "")
        if values.get("model") != MAILBOX_MODEL:
            return None
        return int(values["id"]), str(values.get("csrf_token") or "")
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0, ""


def error_page(message, status=400):
    return request.render(
        "crm_mail_channel.crm_mailbox_oauth_error", {"error": message}, status=status
    )


def finish_sign_in(mailbox_id, csrf_token, code, provider_error=None):
    """Check the mailbox, the user and the state; then exchange ``code`` for tokens."""
    env = request.env
    # sudo: reading the owner only, to refuse anyone else before anything is done.
    mailbox = env[MAILBOX_MODEL].sudo().browse(mailbox_id).exists()
    if (
        not mailbox
        or mailbox.user_id != env.user
        or not csrf_token
        or not consteq(csrf_token, mailbox.with_env(env)._crm_oauth_state_token())
    ):
        _logger.warning(
            "Mailbox sign-in refused: user %s, mailbox %s, wrong owner or state",
            env.uid,
            mailbox_id,
        )
        return error_page(
            env._(
                "This sign-in link is not for your mailbox, or it was changed. Open My Mailbox "
                "and press Connect again."
            ),
            status=403,
        )
    mailbox = mailbox.with_env(env)
    if provider_error:
        return error_page(mailbox._crm_oauth_consent_error(provider_error))
    if not code:
        return error_page(env._("The provider did not send a sign-in code. Try again."))
    try:
        mailbox._crm_oauth_exchange_code(code)
    except UserError as exc:
        return error_page(exc.args[0])
    return request.redirect("/odoo/my-mailbox")
