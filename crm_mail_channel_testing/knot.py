"""A private Knot DNS server on loopback whose records tests change at run time.

``KnotServer(base_dir=None, zones=(...)).start()`` writes a config under ``base_dir`` (listen on
127.0.0.1 at a free port, private rundir/pidfile/storage, an ACL allowing dynamic updates from
127.0.0.1, no ``user:`` line so it runs as whoever starts it) and launches ``knotd`` in its own
session: it keeps running after the Python process exits until ``stop()`` (or ``knotc stop``).
``start(background=True)`` therefore only skips the atexit clean-up, which is what
``scripts/services.py`` wants; ``info()`` / ``KnotServer.attach(info)`` share it between
processes through the JSON file named by ``$CMC_SERVICES_FILE`` (key ``"knot"``).

Records change through RFC 2136 dynamic updates (``set_txt``, ``set_cname``, ``set_a``,
``delete``); ``add_zone`` adds a zone at run time through ``knotc conf-*``.
``blackhole_nameserver()`` gives a nameserver address that never answers, to test timeouts.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.update

from ._process import HOST, Launcher, SharedServer, free_port, pid_alive, terminate_pid, wait_until

if TYPE_CHECKING:  # typing.Self exists from Python 3.11; Odoo 18 also runs on 3.10
    from typing import Self

KNOTD_BIN = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC_BIN = shutil.which("knotc") or "/usr/sbin/knotc"
DEFAULT_ZONES = ("example.test", "customer.test")
TTL = 60

TxtValues = str | Sequence[str] | Sequence[Sequence[str]]


def _zone_file_text(zone: str) -> str:
    return (
        f"$ORIGIN {zone}.\n$TTL {TTL}\n"
        f"@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 {TTL}\n"
        f"@ NS ns.{zone}.\nns A {HOST}\n"
    )


class KnotServer(Launcher):
    """A knotd with private config, zones and state under ``base_dir``."""

    host = HOST

    def __init__(
        self, base_dir: str | os.PathLike | None = None, zones: Iterable[str] = DEFAULT_ZONES
    ) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="cmc-knot-"))
        self.zones = [z.lower().rstrip(".") for z in zones]
        self.port = 0
        self.managed = True  # False when attached to a server another process started
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    # ---- paths -----------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.base_dir / "knot.conf"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def zone_dir(self) -> Path:
        return self.base_dir / "zones"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "knot.pid"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "knot.log"

    @property
    def nameserver(self) -> str:
        """The entry for ``make_resolver`` / the system parameter: ``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, background: bool = False) -> KnotServer:
        """Launch knotd and wait until it answers; ``background`` skips the atexit stop."""
        if self.is_running():
            return self
        for path in (self.base_dir, self.run_dir, self.zone_dir, self.base_dir / "db"):
            path.mkdir(parents=True, exist_ok=True)
        for zone in self.zones:
            zone_file = self.zone_dir / f"{zone}.zone"
            if not zone_file.exists():
                zone_file.write_text(_zone_file_text(zone))
        for attempt in range(5):
            if not self.port or attempt:
                self.port = free_port(udp=True)  # DNS listens on both
            self._write_config()
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [KNOTD_BIN, "-c", str(self.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # survives the parent (scripts/services.py)
                )
            if self._wait_ready():
                break
            self._terminate_process()
        else:
            raise RuntimeError(f"knotd did not start; see {self.log_path}")
        if not background:
            atexit.register(self.cleanup)
        return self

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        def exited() -> bool:
            return self._process is not None and self._process.poll() is not None

        return wait_until(
            lambda: not exited() and all(self._serves(zone) for zone in self.zones),
            timeout,
            failed=exited,
        )

    def _terminate_process(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None

    def stop(self) -> None:
        """Stop knotd (also one started by another process) and wait until it is gone."""
        terminate_pid(self._pid(), poll=self._reap)
        self._terminate_process()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()  # reaps our child so it does not linger as a zombie

    def _owned_dir(self) -> Path | None:
        return self.base_dir if self._owns_dir else None

    def is_running(self) -> bool:
        if not pid_alive(self._pid()):
            return False
        return self._process is None or self._process.poll() is None

    def _pid(self) -> int | None:
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _write_config(self) -> None:
        zones = "\n".join(f"  - domain: {zone}" for zone in self.zones)
        self.config_path.write_text(
            f"""# Written by crm_mail_channel_testing.knot; private test server.
server:
    rundir: "{self.run_dir}"
    pidfile: "{self.pid_path}"
    listen: {self.host}@{self.port}
control:
    listen: "{self.run_dir}/knot.sock"
log:
  - target: stderr
    any: notice
database:
    storage: "{self.base_dir / "db"}"
acl:
  - id: local_update
    address: {self.host}
    action: update
template:
  - id: default
    storage: "{self.zone_dir}"
    file: "%s.zone"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
    acl: local_update
zone:
{zones}
"""
        )

    # ---- sharing between processes ---------------------------------------------------------
    def info(self) -> dict:
        """What ``scripts/services.py`` stores under ``"knot"`` in the services JSON."""
        return {
            "host": self.host,
            "port": self.port,
            "nameserver": self.nameserver,
            "base_dir": str(self.base_dir),
            "zones": list(self.zones),
            "pid": self._pid(),
            "log_path": str(self.log_path),
        }

    @classmethod
    def attach(cls, info: dict) -> KnotServer:
        """Use a Knot already started elsewhere; ``cleanup()`` will leave it running."""
        server = cls(info["base_dir"], zones=info.get("zones") or DEFAULT_ZONES)
        server._owns_dir = False
        server.managed = False
        server.port = int(info["port"])
        return server

    # ---- records ---------------------------------------------------------------------------
    def zone_for(self, name: str) -> str:
        """The served zone containing ``name`` (longest match)."""
        name = name.lower().rstrip(".")
        matches = [z for z in self.zones if name == z or name.endswith("." + z)]
        if not matches:
            raise ValueError(f"{name} is in none of the zones {self.zones}")
        return max(matches, key=len)

    def _update(self, name: str, build) -> None:
        zone = self.zone_for(name)
        update = dns.update.UpdateMessage(zone)
        build(update, dns.name.from_text(name))
        response = dns.query.tcp(update, self.host, port=self.port, timeout=5)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(
                f"DNS update of {name} refused: {dns.rcode.to_text(response.rcode())}"
            )

    def set_txt(self, name: str, values: TxtValues, ttl: int = TTL) -> None:
        """Replace the TXT records at ``name``.

        ``values``: one string (one record), a list of strings (one record each) or a list of
        lists (records given as their character-strings). Strings over 255 bytes are split.
        """
        if isinstance(values, str):
            records: list[list[str]] = [[values]]
        else:
            records = [[v] if isinstance(v, str) else list(v) for v in values]
        rdatas = []
        for strings in records:
            chunks: list[bytes] = []
            for text in strings:
                data = text.encode()
                chunks += [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
            rdatas.append(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks))

        def build(update: dns.update.UpdateMessage, qname: dns.name.Name) -> None:
            update.delete(qname, "CNAME")  # a CNAME would hide the TXT
            update.replace(qname, ttl, *rdatas)

        self._update(name, build)

    def set_cname(self, name: str, target: str, ttl: int = TTL) -> None:
        """Make ``name`` a CNAME to ``target`` (removing everything else at ``name``)."""
        rdata = dns.rdtypes.ANY.CNAME.CNAME(
            dns.rdataclass.IN, dns.rdatatype.CNAME, dns.name.from_text(target)
        )

        def build(update: dns.update.UpdateMessage, qname: dns.name.Name) -> None:
            update.delete(qname)
            update.add(qname, ttl, rdata)

        self._update(name, build)

    def set_a(self, name: str, ip: str | Sequence[str], ttl: int = TTL) -> None:
        """Replace the A records at ``name``."""
        ips = [ip] if isinstance(ip, str) else list(ip)
        rdatas = [dns.rdtypes.IN.A.A(dns.rdataclass.IN, dns.rdatatype.A, i) for i in ips]

        def build(update: dns.update.UpdateMessage, qname: dns.name.Name) -> None:
            update.delete(qname, "CNAME")
            update.replace(qname, ttl, *rdatas)

        self._update(name, build)

    def delete(self, name: str, rdtype: str | None = None) -> None:
        """Delete the records of ``rdtype`` at ``name`` (every type when None)."""

        def build(update: dns.update.UpdateMessage, qname: dns.name.Name) -> None:
            if rdtype:
                update.delete(qname, rdtype)
            else:
                update.delete(qname)

        self._update(name, build)

    def add_zone(self, zone: str) -> None:
        """Serve a new zone (created empty but for SOA/NS) without restarting knotd."""
        zone = zone.lower().rstrip(".")
        if zone in self.zones:
            return
        if self._serves(zone):  # added by another process sharing this server
            self.zones.append(zone)
            return
        zone_file = self.zone_dir / f"{zone}.zone"
        if not zone_file.exists():
            zone_file.write_text(_zone_file_text(zone))
        with self._lock:
            self._knotc("conf-begin")
            try:
                self._knotc("conf-set", f"zone[{zone}]")
                self._knotc("conf-commit")
            except RuntimeError:
                self._knotc("conf-abort", check=False)
                raise
            self.zones.append(zone)
        # conf-commit returns before the zone is loaded; wait for its SOA.
        if not wait_until(lambda: self._serves(zone), 5):
            raise RuntimeError(f"knotd did not load the new zone {zone}; see {self.log_path}")

    def _serves(self, zone: str) -> bool:
        query = dns.message.make_query(zone, "SOA")
        try:
            response = dns.query.udp(query, self.host, port=self.port, timeout=0.5)
        except (dns.exception.Timeout, OSError):
            return False
        return response.rcode() == dns.rcode.NOERROR and bool(response.answer)

    def _knotc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [KNOTC_BIN, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"knotc {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result


class Blackhole:
    """A UDP and TCP port on loopback that accepts queries and never answers."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.tcp.bind((HOST, self.port))
            self.tcp.listen(8)
        except OSError:  # TCP port taken: UDP alone is what resolvers try first
            self.tcp.close()
            self.tcp = None  # type: ignore[assignment]

    @property
    def nameserver(self) -> str:
        return f"{HOST}:{self.port}"

    def close(self) -> None:
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def blackhole_nameserver() -> Blackhole:
    """A nameserver that never replies (a bound socket, so no ICMP 'refused' either)."""
    return Blackhole()


def _attach_running(info: dict) -> KnotServer | None:
    server = KnotServer.attach(info)
    return server if server.is_running() else None


_SHARED: SharedServer[KnotServer] = SharedServer("knot", _attach_running)


def ensure_knot(zones: Iterable[str] = DEFAULT_ZONES) -> KnotServer:
    """Process-wide Knot: reuse the one in ``$CMC_SERVICES_FILE`` or start our own.

    Zones in ``zones`` that the server does not serve yet are added.
    """
    server = _SHARED.get(lambda: KnotServer(zones=zones).start())
    for zone in zones:
        server.add_zone(zone)
    return server


__all__ = ["Blackhole", "KnotServer", "blackhole_nameserver", "ensure_knot"]
