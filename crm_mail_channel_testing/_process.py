"""Helpers shared by the test-server launchers (dovecot, knot, smtp_sink) and scripts/services.py.

Ports on loopback, pids of detached daemons, and the process-wide server each launcher's
``ensure_*()`` returns, reused from the JSON file named by ``$CMC_SERVICES_FILE`` when another
process (``scripts/services.py``) already started one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:  # typing.Self exists from Python 3.11; Odoo 18 also runs on 3.10
    from typing import Self

HOST = "127.0.0.1"
SERVICES_FILE_ENV = "CMC_SERVICES_FILE"


def free_port(udp: bool = False) -> int:
    """A TCP port free on loopback; with ``udp`` free for both UDP and TCP (DNS uses both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            if udp:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    try:
                        sock.bind((HOST, port))
                    except OSError:
                        continue
        return port
    raise RuntimeError("no free port for both UDP and TCP")


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists (also when it belongs to another user); False for None."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(
    ready: Callable[[], object],
    timeout: float = 10.0,
    failed: Callable[[], object] | None = None,
    interval: float = 0.02,
) -> bool:
    """Poll ``ready()`` until it is true (True), or ``failed()`` is true or time is up (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if (failed is not None and failed()) or time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_pid_gone(
    pid: int, timeout: float = 10.0, poll: Callable[[], object] | None = None
) -> bool:
    """Wait until ``pid`` is gone; ``poll`` runs each round (to reap our own child)."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        if poll is not None:
            poll()
        time.sleep(0.02)
    return not pid_alive(pid)


def terminate_pid(
    pid: int | None,
    timeout: float = 10.0,
    poll: Callable[[], object] | None = None,
    kill: bool = True,
) -> None:
    """SIGTERM a running ``pid``, wait for it to go, then SIGKILL it (when ``kill``)."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    if not wait_pid_gone(pid, timeout, poll) and kill:
        os.kill(pid, signal.SIGKILL)


def services_entry(name: str) -> dict | None:
    """The entry ``name`` of the services JSON named by ``$CMC_SERVICES_FILE``, if any."""
    services_file = os.environ.get(SERVICES_FILE_ENV)
    if services_file and Path(services_file).is_file():
        return json.loads(Path(services_file).read_text()).get(name)
    return None


class _Server(Protocol):
    def is_running(self) -> bool: ...


S = TypeVar("S", bound=_Server)


class SharedServer(Generic[S]):
    """One server per process: the running one, else the entry ``name`` of the services file
    (``attach(info)`` returns a server for it, or None when it is unusable), else a new one.
    """

    def __init__(self, name: str, attach: Callable[[dict], S | None]) -> None:
        self.name = name
        self._attach = attach
        self._lock = threading.Lock()
        self.server: S | None = None

    def get(self, start: Callable[[], S]) -> S:
        """The shared server; ``start()`` launches one when there is none to reuse."""
        with self._lock:
            if self.server is not None and self.server.is_running():
                return self.server
            info = services_entry(self.name)
            server = self._attach(info) if info else None
            if server is None:
                server = start()
            self.server = server
            return server


class Launcher:
    """``cleanup()`` and ``with`` support shared by the launchers.

    A subclass defines ``start()``, ``stop()``, ``managed`` (False when attached to a server
    another process started) and ``_owned_dir()`` (a folder it created, removed on clean-up).
    """

    managed: bool = True

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _owned_dir(self) -> Path | None:
        return None

    def cleanup(self) -> None:
        """Stop and remove the folder we created (no-op when attached)."""
        if self.managed:
            self.stop()
            owned = self._owned_dir()
            if owned is not None:
                shutil.rmtree(owned, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
