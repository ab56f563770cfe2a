import logging
from collections import defaultdict

from odoo import SUPERUSER_ID, models, modules
from odoo.addons.base.models.ir_mail_server import MailDeliveryException
from odoo.exceptions import UserError

from .crm_mailbox_auth import OAuthConsentRevoked
from .crm_mailbox_smtp import SENT_BY_PROVIDER

_logger = logging.getLogger(__name__)


class MailMail(models.Model):
    """Mail a user sends as themselves leaves through their own account, when their mailbox
    says so ("Send through my own account", crm_mailbox_smtp.py).

    Which mails: created by that user (the ORM sets the creator, no caller chooses it, as for
    DKIM signing in mail_mail.py), with a From that is one of their own addresses, and no
    outgoing server chosen for them. The account is always the creator's own mailbox: a From
    naming a colleague never takes the colleague's account. Everything else is sent by Odoo
    as usual.
    """

    _inherit = "mail.mail"

    def send(self, auto_commit=False, raise_exception=False, post_send_callback=None):
        routed = set()
        for mailbox, mails in self._crm_account_routes():
            routed.update(mails.ids)
            mails._crm_send_through_account(
                mailbox,
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        if not routed:
            return super().send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        rest = self.browse([mail_id for mail_id in self.ids if mail_id not in routed])
        if rest:
            super(MailMail, rest).send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        return True

    def _crm_account_routes(self):
        """``[(mailbox, mails)]``: the mails of ``self`` that leave through their creator's
        own account."""
        if modules.module.current_test:
            return []  # Odoo sends nothing in test mode (tests lift it, see really_send)
        # sudo: creator, From and server of the mails being sent, read to choose the
        # creator's own mailbox (found by owner below), nothing else.
        mails = self.sudo().filtered(
            lambda m: (
                m.state == "outgoing"
                and not m.mail_server_id
                and m.create_uid
                and m.create_uid.id != SUPERUSER_ID
            )
        )
        if not mails:
            return []
        # sudo: the creators' own mailboxes, found by owner; only an administrator changes
        # who owns a mailbox, and only its owner switches sending through it on.
        Mailbox = self.env["crm.mailbox"].sudo()
        mailboxes = Mailbox.search(
            [("user_id", "in", mails.create_uid.ids), ("send_through_account", "=", True)],
            order="id",
        )
        by_owner = {}
        for mailbox in mailboxes:
            by_owner.setdefault(mailbox.user_id.id, mailbox)
        routes = defaultdict(list)
        for mail in mails:
            mailbox = by_owner.get(mail.create_uid.id)
            if mailbox and mailbox._crm_sends_as(mail.email_from):
                routes[mailbox].append(mail.id)
        return [(mailbox, self.browse(ids)) for mailbox, ids in routes.items()]

    def _crm_send_through_account(
        self, mailbox, auto_commit=False, raise_exception=False, post_send_callback=None
    ):
        """Send these mails of ``mailbox``'s owner through its account, with Odoo's own
        sending code (``_send`` with our session). A refused login leaves them in exception
        with the reason in plain words: nothing is lost, they can be retried."""
        try:
            session = mailbox._crm_smtp_connect()
        except OAuthConsentRevoked as exc:
            mailbox._crm_oauth_mark_revoked()
            return self._crm_account_failed(mailbox, exc.args[0], raise_exception)
        except UserError as exc:
            return self._crm_account_failed(mailbox, exc.args[0], raise_exception)
        keeps_copy = mailbox._crm_provider_keeps_sent_copy()
        # sudo: the Message-Ids of the mails being sent, to forget their copies below.
        message_ids = {mail.id: mail.message_id for mail in self.sudo()}
        token = SENT_BY_PROVIDER.set(mailbox.id if keeps_copy else None)
        try:
            self._send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                smtp_session=session,
                mail_server=self.env["ir.mail_server"],
                post_send_callback=post_send_callback,
            )
        finally:
            SENT_BY_PROVIDER.reset(token)
            try:
                session.quit()
            except Exception:  # sent already; closing is best effort
                _logger.debug("Closing the SMTP session failed", exc_info=True)
        if keeps_copy:
            # sudo: which of the mails just sent failed (sent ones may be deleted already).
            failed = self.sudo().exists().filtered(lambda m: m.state == "exception")
            sent = [mid for key, mid in message_ids.items() if key not in failed.ids and mid]
            # sudo: the provider keeps these copies; the queue has no access for users.
            self.env["crm.mailbox.pending.append"].sudo().search(
                [
                    ("mailbox_id", "=", mailbox.id),
                    ("state", "=", "waiting"),
                    ("message_id", "in", sent),
                ]
            ).unlink()
        return True

    def _crm_account_failed(self, mailbox, problem, raise_exception):
        reason = self.env._(
            "Not sent through your own account %(account)s: %(problem)s The email is kept; "
            "retry it once this is fixed.",
            account=mailbox._crm_account_address() or mailbox.display_name,
            problem=problem,
        )
        _logger.info("Mail through the account of mailbox %s failed: %s", mailbox.id, problem)
        if raise_exception:
            raise MailDeliveryException(reason)
        outgoing = self.filtered(lambda m: m.state == "outgoing")
        outgoing.write(
            {"state": "exception", "failure_reason": reason, "failure_type": "mail_smtp"}
        )
        outgoing._postprocess_sent_message(
            success_pids=[], failure_reason=reason, failure_type="mail_smtp"
        )
        return False
