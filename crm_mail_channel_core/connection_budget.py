"""One connection budget per mail account, shared by everything that connects to it.

Providers limit connections per account, not per program: Gmail allows 15 simultaneous IMAP
connections, Microsoft 365 about as many, small hosts often 5-10 per user and address, and
the user's own phone and desktop clients count against the same limit. Whatever CRM runs
(the push service's IDLE connection, the sync, copies to Sent, SalesInbox's live column...)
therefore takes one of a few *slots* of the account before connecting, and gives it back when
it disconnects. No free slot: the caller does not connect and tries again later.

- **Account**: provider host + login, case-folded (``account_key``): two Odoo mailboxes on the
  same account share one budget.
- **Budget**: a few connections per provider (``budget_for``), leaving the rest of the
  provider's limit to the user's own clients; the system parameter
  ``crm_mail_channel.connection_budget`` overrides it (``parse_override``).
- **Slots** are PostgreSQL session advisory locks (``pg_try_advisory_lock``) with a fixed
  namespace, a hash of the account and the slot number: shared by every process on the
  database, never waited for, and gone with the connection of a process that dies.
  A session never takes a slot twice (advisory locks nest within one session): a process
  that holds several slots on one connection, as the push service does, gets different ones.
- **One sync at a time per account** (``sync_lock``): a second advisory lock namespace, so two
  Odoo mailboxes on one account never sync together.

Plain DB-API: works with a psycopg2 cursor and with Odoo's. Session locks outlive the
transaction, so ``hold`` releases the slot when the block ends, before an Odoo cursor goes back
to its pool. A transaction that failed inside the block cannot run the release: it then runs
right after the rollback (or commit) of that cursor (Odoo's ``postrollback``/``postcommit``
hooks); on a plain psycopg2 connection the slot is kept until that connection closes (use
autocommit connections for long-held slots, as the push service does).
Advisory locks belong to one database: two Odoo databases on one account do not share.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Mapping

from .presets import PROVIDER_PRESETS

__all__ = [
    "DEFAULT_BUDGET",
    "PARAMETER",
    "account_key",
    "budget_for",
    "hold",
    "idle_budget",
    "in_use",
    "parse_override",
    "release",
    "slot_key",
    "sync_lock",
    "try_take",
]

_logger = logging.getLogger(__name__)

PARAMETER = "crm_mail_channel.connection_budget"
# Unknown servers: small hosts often allow 5-10 connections per user and address, and the
# user's phone and desktop client take some.
DEFAULT_BUDGET = 3
# Gmail allows 15 simultaneous IMAP connections per account, Microsoft 365 about as many:
# CRM keeps to a third of that.
PRESET_BUDGETS: Mapping[str, int] = {"gmail": 5, "microsoft": 5}
MAX_BUDGET = 50
MAX_SLOTS = 256  # the slot number is the key's low byte

# Key layout (one bigint): 16-bit namespace, 40-bit account hash, 8-bit slot number.
SLOT_NAMESPACE = 0x434D  # "CM": connection slots
SYNC_NAMESPACE = 0x434E  # one sync per account
_HASH_BITS = 40
# psycopg2's TRANSACTION_STATUS_INERROR: the transaction failed, only a rollback runs now.
_IN_ERROR = 3


def account_key(host: str | None, login: str | None) -> str:
    """The account a connection counts against: server name and login, case-folded."""
    server = (host or "").strip().rstrip(".").casefold()
    return f"{server}|{(login or '').strip().casefold()}"


def _account_hash(account: str) -> int:
    digest = hashlib.sha256(account.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _HASH_BITS)


def slot_key(account: str, slot: int, namespace: int = SLOT_NAMESPACE) -> int:
    """The advisory lock key of one slot of ``account`` (a positive bigint)."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot {slot} out of range")
    return (namespace << 48) | (_account_hash(account) << 8) | slot


def idle_budget(budget: int) -> int:
    """Slots an IDLE watcher may take: never the last one, which a sync (woken by that very
    IDLE) or a copy to Sent needs. A budget of 1 leaves push waiting: the cron polls."""
    return max(int(budget) - 1, 0)


def parse_override(text: str | None) -> tuple[int | None, dict[str, int]]:
    """``(budget for every account, {host: budget})`` from the system parameter.

    ``"4"`` gives every account 4 connections; ``"imap.gmail.com=8, mail.ourco.example=2"``
    sets them per server; both mix (``"4, imap.gmail.com=8"``). Unreadable items are ignored.
    """
    every, per_host = None, {}
    for item in (text or "").replace(";", ",").split(","):
        host, sep, value = item.strip().rpartition("=")
        try:
            number = max(1, min(int(value.strip()), MAX_BUDGET))
        except ValueError:
            if item.strip():
                _logger.warning("%s: %r is not a number of connections", PARAMETER, item)
            continue
        if sep:
            per_host[host.strip().rstrip(".").casefold()] = number
        else:
            every = number
    return every, per_host


def budget_for(host: str | None, override: str | None = None) -> int:
    """How many connections CRM may hold at once to an account on ``host``."""
    server = (host or "").strip().rstrip(".").casefold()
    every, per_host = parse_override(override)
    if server in per_host:
        return per_host[server]
    if every is not None:
        return every
    for key, budget in PRESET_BUDGETS.items():
        preset = PROVIDER_PRESETS.get(key)
        if preset and preset.host and preset.host.casefold() == server:
            return budget
    return DEFAULT_BUDGET


# ---- locks -------------------------------------------------------------------------------------
_MINE = """
    EXISTS (SELECT 1 FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid = (%(key)s::bigint >> 32)::oid
               AND objid = (%(key)s::bigint & 4294967295)::oid
               AND objsubid = 1)
"""


def _try_lock(cr, key: int) -> bool:
    # Not again in this session: advisory locks nest, so the same connection would "take"
    # a slot it already holds.
    cr.execute(
        f"SELECT CASE WHEN {_MINE} THEN false ELSE pg_try_advisory_lock(%(key)s) END",
        {"key": key},
    )
    return bool(cr.fetchone()[0])


def _unlock_sql(cr, key: int) -> None:
    cr.execute(
        f"SELECT CASE WHEN {_MINE} THEN pg_advisory_unlock(%(key)s) ELSE false END",
        {"key": key},
    )


def try_take(cr, account: str, budget: int) -> int | None:
    """Take a free slot of ``account`` on this cursor's connection; its number, or None."""
    for slot in range(max(0, min(int(budget), MAX_SLOTS))):
        if _try_lock(cr, slot_key(account, slot)):
            return slot
    return None


def _connection(cr):
    return getattr(cr, "connection", None) or getattr(cr, "_cnx", None)


def _release_key(cr, key: int) -> None:
    conn = _connection(cr)
    status = getattr(conn, "get_transaction_status", lambda: None)()
    if status != _IN_ERROR:
        _unlock_sql(cr, key)
        return
    hooks = [getattr(cr, name, None) for name in ("postrollback", "postcommit")]
    if any(hook is None for hook in hooks):
        _logger.warning(
            "Connection slot %x kept until its database connection closes: its transaction failed",
            key,
        )
        return

    def unlock():
        # The Odoo cursor may be closing: its own cursor object is gone, its connection not.
        with conn.cursor() as raw:
            _unlock_sql(raw, key)

    for hook in hooks:
        hook.add(unlock)


def release(cr, account: str, slot: int, namespace: int = SLOT_NAMESPACE) -> None:
    """Give back a slot taken on this cursor's connection (a no-op if it is not held)."""
    _release_key(cr, slot_key(account, slot, namespace))


@contextlib.contextmanager
def hold(cr, account: str, budget: int) -> Iterator[int | None]:
    """``with hold(cr, account, budget) as slot:`` a slot number, or None when all are in use
    (then do not connect). The slot is given back when the block ends, whatever happens."""
    slot = try_take(cr, account, budget)
    try:
        yield slot
    finally:
        if slot is not None:
            release(cr, account, slot)


@contextlib.contextmanager
def sync_lock(cr, account: str) -> Iterator[bool]:
    """``with sync_lock(cr, account) as mine:`` False when another sync of the account runs."""
    key = slot_key(account, 0, SYNC_NAMESPACE)
    mine = _try_lock(cr, key)
    try:
        yield mine
    finally:
        if mine:
            _release_key(cr, key)


def in_use(cr, accounts: Mapping[str, int]) -> dict[str, int]:
    """``{account: slots held now}`` (by any connection) for ``{account: budget}``."""
    keys = {
        slot_key(account, slot): account
        for account, budget in accounts.items()
        for slot in range(max(1, min(int(budget), MAX_SLOTS)))
    }
    counts = dict.fromkeys(accounts, 0)
    if not keys:
        return counts
    cr.execute(
        """
        SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((classid::bigint << 32) | objid::bigint) = ANY(%s)
        """,
        (sorted(keys),),
    )
    for (key,) in cr.fetchall():
        counts[keys[key]] += 1
    return counts
