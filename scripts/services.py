#!/usr/bin/env python3
"""Start/stop the project's test servers in the background.

    python3 scripts/services.py start|stop|status [--only dovecot,knot,smtp]

State lives under .run/services/; ports and paths are written to .run/services.json, which
tests and the demo read through the CMC_SERVICES_FILE environment variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_mail_channel_testing._process import pid_alive as _pid_alive  # noqa: E402

RUN_DIR = ROOT / ".run" / "services"
SERVICES_FILE = ROOT / ".run" / "services.json"


def _load() -> dict:
    try:
        return json.loads(SERVICES_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _save(data: dict) -> None:
    SERVICES_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = SERVICES_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, SERVICES_FILE)


def _pid_running(info: dict) -> bool:
    return _pid_alive(info.get("pid"))


# ---- dovecot ---------------------------------------------------------------------------------
def start_dovecot(info: dict | None) -> dict:
    from crm_mail_channel_testing.dovecot import DovecotServer

    if info:
        server = DovecotServer.attach(info)
        if server.is_running():
            return server.info()
    base = RUN_DIR / "dovecot"
    server = DovecotServer(base)
    server._owns_dir = False  # keep state under .run/services for inspection
    server.start()  # dovecot daemonises: it outlives this script
    return server.info()


def stop_dovecot(info: dict) -> None:
    from crm_mail_channel_testing.dovecot import DovecotServer

    DovecotServer.attach(info).stop()


dovecot_running = _pid_running


# ---- knot / smtp sink (launchers written by other engineers; imported lazily) ---------------
def start_knot(info: dict | None) -> dict:
    try:
        from crm_mail_channel_testing.knot import KnotServer
    except ImportError as exc:
        raise RuntimeError(f"knot launcher not available ({exc})") from exc
    if info:
        server = KnotServer.attach(info)
        if server.is_running():
            return server.info()
    server = KnotServer(base_dir=RUN_DIR / "knot")
    server._owns_dir = False
    server.start(background=True)  # detached: survives this script
    return server.info()


def stop_knot(info: dict) -> None:
    from crm_mail_channel_testing.knot import KnotServer

    KnotServer.attach(info).stop()


def start_smtp(info: dict | None) -> dict:
    try:
        from crm_mail_channel_testing.smtp_sink import SmtpSink
    except ImportError as exc:
        raise RuntimeError(f"smtp sink launcher not available ({exc})") from exc
    if info and _pid_alive(info.get("pid")):
        return info
    spool = RUN_DIR / "smtp" / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    sink = SmtpSink(spool_dir=spool)
    sink.start(background=True)  # a detached process writing into the spool folder
    return sink.info()


def stop_smtp(info: dict) -> None:
    from crm_mail_channel_testing.smtp_sink import SmtpSink

    SmtpSink.attach(info).stop()


# name -> (start(previous_info) -> info, stop(info), running(info) -> bool)
SERVICES = {
    "dovecot": (start_dovecot, stop_dovecot, dovecot_running),
    "knot": (start_knot, stop_knot, _pid_running),
    "smtp": (start_smtp, stop_smtp, _pid_running),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--only",
        default=",".join(SERVICES),
        help="comma-separated subset of: " + ", ".join(SERVICES),
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    data = _load()
    status = 0
    for name in names:
        start, stop, running = SERVICES[name]
        info = data.get(name)
        if args.action == "start":
            try:
                data[name] = start(info)
                print(f"{name}: running {json.dumps(data[name])}")
            except Exception as exc:  # keep going: one missing server must not block others
                print(f"{name}: not started: {exc}", file=sys.stderr)
                # Only dovecot is mandatory today; the others may not exist yet.
                status = status or (1 if name == "dovecot" else 0)
        elif args.action == "stop":
            if info:
                stop(info)
                data.pop(name, None)
            print(f"{name}: stopped")
        else:
            print(f"{name}: {'running' if info and running(info) else 'stopped'}")
        _save(data)
    if args.action == "start":
        print(f"services file: {SERVICES_FILE}")
    return status


if __name__ == "__main__":
    sys.exit(main())
