"""The HTTP side every fake shares: a threaded server on 127.0.0.1, plain or TLS, served from a
background thread, and the request handler's common behaviour (quiet, answers with a length, a
client that drops the connection ends only its own request, an answer that never comes)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any


class FakeServer(ThreadingHTTPServer):
    """One fake's server: a daemon thread per request; with ``tls``, the handshake happens in the
    request's thread, not the accept loop."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None, name: str = "fake") -> None:
        self.tls = tls
        self.name = name
        super().__init__((host, port), handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    # how often the serving loop looks whether stop() was asked (socketserver's default, 0.5 s, was up to half a
    # second per fake stopped: four at the end of each reminder day, one or more in many tests)
    POLL_SECONDS = 0.02

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, args=(self.POLL_SECONDS,), name=self.name, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that drops the connection or refuses our certificate is not the fake's problem

    def get_request(self) -> tuple[socket, Any]:
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class FakeHandler(BaseHTTPRequestHandler):
    """A fake's request handler: subclasses write ``do_GET`` / ``do_POST`` with these answers."""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None,
                  content_type: str = "application/json") -> None:
        self.send(status, json.dumps(payload).encode(), content_type, headers)

    def hang_up(self) -> None:
        """No answer: the connection closes once the request ends (the client sees it cut)."""
        self.close_connection = True
        self.wfile.flush()
