"""The local API server answers what API Gateway answers itself (JSON 4xx), never a dropped
connection or an HTML page: schemathesis drew ``Content-Length: ''`` and chalice local closed the
connection without an answer (RemoteDisconnected, a flaky fuzz failure)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from chalice import Chalice

from localdev.servers import ports
from tests.api_support import local_server

echo = Chalice(app_name="gateway-handler-test")


@echo.route("/echo", methods=["POST", "GET"])
def echo_body() -> dict[str, str]:
    raw = echo.current_request.raw_body or b""
    return {"body": raw.decode()}


@pytest.fixture(scope="module")
def base() -> Iterator[tuple[str, int]]:
    port = ports.free_port()
    server = local_server(echo, "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield ("127.0.0.1", port)
    server.server.shutdown()
    thread.join(timeout=10)


def _exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict, bool]:
    status, body, closed, _ = _exchange_with_headers(address, request)
    return status, body, closed


def _exchange_with_headers(address: tuple[str, int], request: bytes) -> tuple[int, dict, bool, dict[str, str]]:
    """(status, JSON body, whether the server closed the connection after answering)."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed the connection without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
        sock.settimeout(2)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        return status, json.loads(rest[:length]), closed, headers


@pytest.mark.parametrize("lengths", [[""], ["abc"], ["-1"], ["3", "4"]],
                         ids=["empty", "not-a-number", "negative", "two-different"])
def test_a_malformed_content_length_is_a_json_400_and_the_connection_closes(base, lengths):
    header_lines = "".join(f"Content-Length: {value}\r\n" for value in lengths)
    request = f"POST /echo HTTP/1.1\r\nHost: x\r\n{header_lines}\r\nabc".encode()
    status, body, closed = _exchange(base, request)
    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert "Content-Length" in body["error"]["message"]
    assert closed  # the body's end is unknown: the next bytes cannot be read as a request


def test_a_verb_without_a_handler_is_a_json_405_naming_the_routes_methods(base):
    status, body, _, headers = _exchange_with_headers(base, b"TRACE /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body["error"]["code"], headers["allow"]) == (405, "method_not_allowed", "GET, POST")


def test_a_well_formed_body_reaches_the_app(base):
    status, body, closed = _exchange(base, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                           b"Content-Type: application/json\r\n\r\n123")
    assert (status, body, closed) == (200, {"body": "123"}, False)
