from crm_mail_channel_core import sync

from .cursors import FolderCursors
from .emails import EmailRecords
from .messages import MessageImport
from .rescans import Rescans


class MailboxStore(
    FolderCursors, MessageImport, EmailRecords, Rescans, sync.SyncStore, sync.Pop3Store
):
    """SyncStore and Pop3Store of one mailbox.

    ``mailbox`` is the crm.mailbox in superuser mode with its owner as user (the sync writes
    for the owner). Every method works on a whole batch with a constant number of queries.
    """

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env
        self.cr = mailbox.env.cr
        self.imported = 0  # new presences created during this sync
