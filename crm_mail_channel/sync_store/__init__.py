"""The Odoo side of the core sync driver: persists what ``crm_mail_channel_core.sync`` fetched.

``MailboxStore`` implements the core's ``SyncStore`` and ``Pop3Store`` protocols on one
``crm.mailbox``. It is an adapter, not a model; its capabilities live in one module each:

- ``cursors``: folders, sync cursors, server flags, POP3 UIDLs already handled;
- ``messages``: storing a batch, message by message when the batch fails, quarantine;
- ``emails``: which email a message is (Message-ID and content fingerprint), its record;
- ``rescans``: mail fetched again by UID (an address became a contact, a quarantine retry).
"""

from .messages import SYSTEMIC_ERRORS, StoreItem
from .store import MailboxStore

__all__ = ["SYSTEMIC_ERRORS", "MailboxStore", "StoreItem"]
