"""The push service's share of each account's connection budget (``connection_budget``).

Every IDLE connection holds one slot of its account, taken on the service's one database
connection (session advisory locks outlive its transactions) and given back when the watcher
disconnects. When that database connection is lost, its slots are gone with it: the next
``check`` names the mailboxes that held one, and the service restarts their watchers, which
take a slot again before reconnecting. An IDLE watcher never takes the last slot of a budget
(``connection_budget.idle_budget``): the sync it wakes needs one.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import connection_budget

__all__ = ["PushSlots", "mailbox_account"]


def mailbox_account(cr, mailbox_id: int) -> tuple[str, int] | None:
    """``(account, budget)`` of a mailbox, read in plain SQL (None: no server or login)."""
    cr.execute(
        """
        SELECT m.host, m.login,
               (SELECT value FROM ir_config_parameter WHERE key = %s)
          FROM crm_mailbox m
         WHERE m.id = %s AND m.host IS NOT NULL AND m.login IS NOT NULL
        """,
        (connection_budget.PARAMETER, int(mailbox_id)),
    )
    row = cr.fetchone()
    if not row:
        return None
    host, login, override = row
    return connection_budget.account_key(host, login), connection_budget.budget_for(host, override)


class PushSlots:
    """Slots held by one push service, by mailbox, all on one database connection."""

    def __init__(self) -> None:
        self.held: dict[int, tuple[str, int]] = {}
        self._connection = None

    def check(self, cr) -> set[int]:
        """Mailboxes whose slot died with an earlier database connection (now forgotten)."""
        if cr.connection is self._connection:
            return set()
        self._connection = cr.connection
        lost, self.held = set(self.held), {}
        return lost

    def take(self, cr, mailbox_id: int) -> bool:
        """A slot for this mailbox's IDLE connection (True if it holds one already)."""
        self.check(cr)
        if mailbox_id in self.held:
            return True
        found = mailbox_account(cr, mailbox_id)
        if found is None:
            return True  # nothing to connect to: the watcher finds out without a slot
        account, budget = found
        slot = connection_budget.try_take(cr, account, connection_budget.idle_budget(budget))
        if slot is None:
            return False
        self.held[mailbox_id] = (account, slot)
        return True

    def release(self, cr, mailbox_id: int) -> None:
        held = self.held.pop(mailbox_id, None)
        if held is not None and cr.connection is self._connection:
            connection_budget.release(cr, *held)

    def without_lost(self, cr, leased: Mapping[int, str]) -> dict[int, str]:
        """``leased`` minus the mailboxes whose slot was lost: their watchers stop now and
        start again at the next refresh."""
        lost = self.check(cr)
        return {mailbox_id: v for mailbox_id, v in leased.items() if mailbox_id not in lost}
