"""Faulty IMAP endpoints on loopback for tests: a server that throttles every login, and a
TCP proxy (to a real Dovecot) that can cut every connection going through it."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ThrottlingImapServer:
    """Greets like an IMAP server with IDLE, then refuses every login with ``answer``."""

    def __init__(self, answer: bytes = b"NO [UNAVAILABLE] Too many simultaneous connections"):
        self.answer = answer
        self.logins = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] ready\r\n")
                for line in self.rfile:
                    parts = line.strip().split(None, 2)
                    if len(parts) < 2:
                        continue
                    tag, command = parts[0], parts[1].upper()
                    if command == b"CAPABILITY":
                        self.wfile.write(b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN\r\n")
                        self.wfile.write(tag + b" OK done\r\n")
                    elif command in (b"LOGIN", b"AUTHENTICATE"):
                        outer.logins += 1
                        self.wfile.write(tag + b" " + outer.answer + b"\r\n")
                    elif command == b"LOGOUT":
                        self.wfile.write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                        return
                    else:
                        self.wfile.write(tag + b" BAD not here\r\n")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ThrottlingImapServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CuttingProxy:
    """Forwards loopback TCP connections to ``target_port``; ``cut()`` drops them all (no
    goodbye from the server: what a NAT timeout or a network failure looks like)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> CuttingProxy:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
