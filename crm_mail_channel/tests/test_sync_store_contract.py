"""The Odoo sync store implements the core driver's whole store protocols."""

import inspect

from odoo.tests import TransactionCase, tagged

from crm_mail_channel_core import sync

from ..sync_store import MailboxStore


def protocol_mismatches(protocol, cls):
    """Members of ``protocol`` that ``cls`` does not define, or defines with other parameters."""
    problems = []
    for name, member in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        impl = inspect.getattr_static(cls, name, None)
        if impl is None or impl is member:
            problems.append(f"{name} is missing")
        elif list(inspect.signature(impl).parameters) != list(inspect.signature(member).parameters):
            problems.append(f"{name}{inspect.signature(impl)} != {inspect.signature(member)}")
    return problems


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestSyncStoreContract(TransactionCase):
    def test_mailbox_store_implements_both_protocols(self):
        self.assertEqual(protocol_mismatches(sync.SyncStore, MailboxStore), [])
        self.assertEqual(protocol_mismatches(sync.Pop3Store, MailboxStore), [])
        store = MailboxStore(self.env["crm.mailbox"])
        self.assertIsInstance(store, sync.SyncStore)
        self.assertIsInstance(store, sync.Pop3Store)
