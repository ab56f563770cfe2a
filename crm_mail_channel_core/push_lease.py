"""Row leases in PostgreSQL: which push service watches which mailbox.

Several push services (crm_mail_channel_core.push) may run over one database. Each holds a
lease row per mailbox it watches (``mailbox_id``, ``holder``, ``expires_at``), renews its
leases at every refresh and takes over leases that expired: a service that dies stops
renewing, so its mailboxes move to the others within the lease time plus one refresh.

Services share the mailboxes evenly: a live service is one whose database connections carry
``application_name`` ``crm_mail_push:<holder>`` (they vanish from ``pg_stat_activity`` when
its process dies), and each takes at most its fair share, releasing the excess when another
service starts. Claims are one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement, so
two services never hold one mailbox, whatever their timing.

Plain DB-API (``%s`` parameters): works with psycopg2 cursors and Odoo's. The addon's
``crm.mailbox.lease`` model creates the table (same columns as LEASE_TABLE_DDL, used by
standalone tests). Times are UTC ``timestamp without time zone``, as Odoo stores them.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "APP_PREFIX",
    "LEASE_TABLE_DDL",
    "application_name",
    "candidates",
    "live_services",
    "make_holder",
    "mark_pushed",
    "pushed_ids",
    "refresh_leases",
    "release_leases",
    "report_status",
    "wake_crons",
]

APP_PREFIX = "crm_mail_push:"
NOW = "(now() AT TIME ZONE 'UTC')"
_FREE = "holder = NULL, expires_at = NULL, push_status = NULL, push_note = NULL"

LEASE_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS crm_mailbox_lease (
    id serial PRIMARY KEY,
    mailbox_id integer NOT NULL UNIQUE,
    holder varchar,
    expires_at timestamp,
    pushed_at timestamp,
    push_status varchar,
    push_note varchar
)
"""


def make_holder() -> str:
    """A name for this service, unique across hosts and restarts (fits application_name)."""
    host = socket.gethostname().split(".")[0][:24]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def application_name(holder: str) -> str:
    """What the service's database connections are called (PostgreSQL keeps 63 bytes)."""
    return (APP_PREFIX + holder)[:63]


def live_services(cr) -> int:
    """Push services connected to this database now (at least 1: the caller)."""
    cr.execute(
        "SELECT count(DISTINCT application_name) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name LIKE %s",
        (APP_PREFIX.replace("_", r"\_") + "%",),
    )
    return max(int(cr.fetchone()[0] or 0), 1)


def refresh_leases(
    cr,
    holder: str,
    candidates: Iterable[int],
    ttl_seconds: float,
    services: int | None = None,
) -> list[int]:
    """Renew, release and claim leases; return the mailbox ids ``holder`` now watches.

    ``candidates``: every mailbox that should be watched by some service. Leases on other
    mailboxes (paused, removed, switched to POP3) are released; the holder keeps at most
    ``ceil(len(candidates) / services)`` (``services`` defaults to the live services).
    """
    candidates = sorted({int(c) for c in candidates})
    ttl = f"{float(ttl_seconds)} seconds"
    # Mailboxes no longer to watch: let go (the row stays: it keeps pushed_at).
    cr.execute(
        f"UPDATE crm_mailbox_lease SET {_FREE} WHERE holder = %s AND NOT (mailbox_id = ANY(%s))",
        (holder, candidates),
    )
    cr.execute(
        f"UPDATE crm_mailbox_lease SET expires_at = {NOW} + %s::interval "
        "WHERE holder = %s AND mailbox_id = ANY(%s) RETURNING mailbox_id",
        (ttl, holder, candidates),
    )
    mine = sorted(row[0] for row in cr.fetchall())
    if services is None:
        services = live_services(cr)
    fair = math.ceil(len(candidates) / max(services, 1)) if candidates else 0
    if len(mine) > fair:
        # Another service started: hand over the excess (it claims it at its next refresh).
        cr.execute(
            f"UPDATE crm_mailbox_lease SET {_FREE} WHERE holder = %s AND mailbox_id = ANY(%s)",
            (holder, mine[fair:]),
        )
        mine = mine[:fair]
    elif len(mine) < fair:
        cr.execute(
            f"""
            INSERT INTO crm_mailbox_lease (mailbox_id, holder, expires_at)
            SELECT c.id, %s, {NOW} + %s::interval
              FROM unnest(%s::int[]) AS c(id)
             WHERE NOT EXISTS (
                   SELECT 1 FROM crm_mailbox_lease l
                    WHERE l.mailbox_id = c.id AND l.holder IS NOT NULL
                      AND l.expires_at > {NOW})
             ORDER BY c.id
             LIMIT %s
            ON CONFLICT (mailbox_id) DO UPDATE
               SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
                   push_status = NULL, push_note = NULL
             WHERE crm_mailbox_lease.holder IS NULL
                OR crm_mailbox_lease.expires_at IS NULL
                OR crm_mailbox_lease.expires_at <= {NOW}
                OR crm_mailbox_lease.holder = EXCLUDED.holder
            RETURNING mailbox_id
            """,
            (holder, ttl, candidates, fair - len(mine)),
        )
        mine = sorted(set(mine) | {row[0] for row in cr.fetchall()})
    return mine


def release_leases(cr, holder: str) -> None:
    """Give every lease of ``holder`` back (a clean shutdown): others take them at once."""
    cr.execute(f"UPDATE crm_mailbox_lease SET {_FREE} WHERE holder = %s", (holder,))


def mark_pushed(cr, mailbox_ids: Sequence[int]) -> None:
    """The server signalled new or changed mail in these mailboxes (now, database clock)."""
    if mailbox_ids:
        cr.execute(
            "UPDATE crm_mailbox_lease SET pushed_at = clock_timestamp() AT TIME ZONE 'UTC' "
            "WHERE mailbox_id = ANY(%s)",
            (sorted({int(i) for i in mailbox_ids}),),
        )


def report_status(cr, holder: str, statuses: Mapping[int, tuple[str, str | None]]) -> None:
    """Record each watched mailbox's push status (and why) on its lease row."""
    for mailbox_id, (status, note) in sorted(statuses.items()):
        cr.execute(
            "UPDATE crm_mailbox_lease SET push_status = %s, push_note = %s "
            "WHERE mailbox_id = %s AND holder = %s",
            (status, (note or None) and note[:500], int(mailbox_id), holder),
        )


def candidates(cr, states: Sequence[str]) -> dict[int, str]:
    """``{mailbox_id: version}`` of every mailbox some push service should watch: active IMAP
    mailboxes in one of ``states`` with a server and a login. The version changes with the
    connection settings or the saved password (not with each sync)."""
    cr.execute(
        """
        SELECT m.id, md5(concat_ws('|', m.protocol, m.host, m.port, m.security,
                         m.ssl_verify, m.login, m.user_id, m.auth_type,
                         s.fingerprint, s.value))
          FROM crm_mailbox m
     LEFT JOIN crm_mail_secret s ON s.res_model = 'crm.mailbox'
               AND s.res_id = m.id AND s.key = 'password'
         WHERE m.active AND m.protocol = 'imap' AND m.state = ANY(%s)
           AND m.host IS NOT NULL AND m.login IS NOT NULL
        """,
        (list(states),),
    )
    return dict(cr.fetchall())


def pushed_ids(cr, states: Sequence[str]) -> list[int]:
    """Mailboxes whose server signalled mail since their last sync started (oldest first)."""
    cr.execute(
        f"""
        SELECT m.id FROM crm_mailbox m
          JOIN crm_mailbox_lease l ON l.mailbox_id = m.id
         WHERE l.pushed_at > COALESCE(m.push_synced_at, '-infinity'::timestamp)
           AND m.active AND m.state = ANY(%s)
           AND (m.throttled_until IS NULL OR m.throttled_until < {NOW})
         ORDER BY l.pushed_at
        """,
        (list(states),),
    )
    return [row[0] for row in cr.fetchall()]


def wake_crons(cr, xmlids: Sequence[str]) -> int:
    """Schedule the active crons named by ``xmlids`` now, as ``ir.cron._trigger()`` does; the
    caller then commits and sends ``pg_notify('cron_trigger', dbname)`` on the ``postgres``
    database (Odoo's cron threads listen there). Returns how many were scheduled."""
    cr.execute(
        f"""
        INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid,
                                     create_date, write_date)
        SELECT c.id, {NOW}, 1, 1, {NOW}, {NOW}
          FROM ir_cron c
          JOIN ir_model_data d ON d.model = 'ir.cron' AND d.res_id = c.id
         WHERE d.module || '.' || d.name = ANY(%s) AND c.active
        RETURNING id
        """,
        (list(xmlids),),
    )
    return len(cr.fetchall())
