"""The push service process: ``python3 -m odoo crm_mail_push -d DB`` ends up here.

The Odoo command reads Odoo's configuration (database, credentials, log options), then
replaces its own process with ``python3 -m crm_mail_channel_core.push_main``: watchers,
leases and wake-ups need no Odoo registry, which would be most of the service's memory.
The configuration arrives in the environment: libpq's ``PG*`` variables for the database
connection and ``CRM_MAIL_PUSH`` (JSON) for the rest, including the command line that asks
Odoo for connection settings (``push_settings``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

import psycopg2

from . import push, push_lease
from .push_settings import SettingsCache, SubprocessSettingsSource
from .push_sql import SqlPushBackend

ENV_KEY = "CRM_MAIL_PUSH"
_logger = logging.getLogger("crm_mail_channel_core.push")


def _setup_logging(level: str, logfile: str | None) -> None:
    levels = {"debug": logging.DEBUG, "warn": logging.WARNING, "error": logging.ERROR}
    handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(levels.get(level, logging.INFO))


def connect(dbname: str | None):
    """A connection with libpq's environment (``PGHOST``, ``PGUSER``, ``PGAPPNAME``...)."""
    return psycopg2.connect(dbname=dbname)


async def _serve(service: push.PushService) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.run(stop)


def main() -> None:
    try:
        conf = json.loads(os.environ[ENV_KEY])
    except (KeyError, ValueError):
        sys.exit("crm_mail_channel_core.push_main is started by: python3 -m odoo crm_mail_push")
    _setup_logging(conf.get("log_level", "info"), conf.get("logfile"))
    holder = conf["holder"]
    child_env = dict(os.environ)
    child_env.pop(ENV_KEY, None)
    child_env["ODOO_PGAPPNAME"] = "crm_mail_push_settings"
    source = SubprocessSettingsSource(conf["settings_command"], env=child_env)
    backend = SqlPushBackend(
        connect, conf["dbname"], holder, conf["lease_seconds"], SettingsCache(source)
    )
    config = push.PushConfig(
        refresh_seconds=conf["refresh_seconds"],
        lease_seconds=conf["lease_seconds"],
        reidle_seconds=conf["reidle_seconds"],
    )
    _logger.info(
        "crm_mail_push %s watching database %s (%s)",
        holder,
        conf["dbname"],
        push_lease.application_name(holder),
    )
    asyncio.run(_serve(push.PushService(backend, config)))


if __name__ == "__main__":
    main()
