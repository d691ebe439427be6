"""Provider errors are recorded as codes and ids only (ledger ``error``, logs): a provider's error
body or a request's validation message can echo the number, the name or the message text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from chalicelib.reminders.providers import (
    ProviderRejected,
    RetryPolicy,
    VoiceClient,
    WhatsAppClient,
    _invalid_fields,
    _vonage_problem,
)
from localdev.fakes.tls import rsa_key_pair

PHONE, NAME, TEXT = "6281234567890", "Budi Wahyuni", "Halo Budi Wahyuni, tagihan Anda Rp 1.250.000 jatuh tempo"
POLICY = RetryPolicy(rate_per_second=1000, max_attempts=1, backoff_base=0, backoff_max=0, timeout=5)


def _leaks(text: str) -> list[str]:
    return [s for s in (PHONE, PHONE[2:], NAME, "Budi", "tagihan") if s in text]


class _GraphError(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {
            "message": f"(#100) Invalid parameter: to {PHONE} ({NAME}) text '{TEXT}'", "type": "OAuthException",
            "code": 100, "error_subcode": 2494010, "error_data": {"details": f"{NAME} {PHONE}"},
            "fbtrace_id": "AbCdEf123_-x"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def graph() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _GraphError)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v19.0"
    server.shutdown()


def test_a_whatsapp_refusal_keeps_the_code_subcode_and_trace_id_only(graph):
    client = WhatsAppClient(POLICY, base_url=graph, token="t", phone_number_id="106540352242922")
    with pytest.raises(ProviderRejected) as refused:
        client.send_template(PHONE, "t3_reminder", [NAME, TEXT], "ref")
    assert str(refused.value) == "HTTP 400 code 100 subcode 2494010 fbtrace AbCdEf123_-x"
    assert refused.value.code == 100


def test_a_number_vonage_cannot_call_is_not_repeated_in_the_error():
    private, _public = rsa_key_pair()
    client = VoiceClient(POLICY, base_url="https://127.0.0.1:9", application_id="app", private_key=private,
                         from_number="6281100000001")
    with pytest.raises(ProviderRejected) as refused:
        client.call("0812-3456-7890 " + NAME, TEXT, "https://example.invalid/cb")
    assert not _leaks(str(refused.value)) and str(refused.value).startswith("invalid_number")


def test_validation_errors_name_fields_not_values():
    from pydantic import BaseModel, ValidationError

    class Call(BaseModel):
        to: int
        text: int

    with pytest.raises(ValidationError) as invalid:
        Call(to=PHONE + "x", text=TEXT)  # type: ignore[arg-type]
    assert _invalid_fields(invalid.value) == "text, to"
    assert PHONE in str(invalid.value)  # what pydantic's own message would have put in the ledger


def test_a_vonage_problem_keeps_its_kind_and_instance_id_only():
    resp = requests.Response()
    resp.status_code = 400
    resp._content = json.dumps({"type": "https://developer.nexmo.com/api-errors#validation",
                                "title": "Bad Request", "detail": f"to: {PHONE} is not valid for {NAME}",
                                "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
                                "invalid_parameters": [{"name": "to", "reason": PHONE}]}).encode()
    assert _vonage_problem(resp) == " validation instance bf0ca0bf927b3b52e3cb03217e1a1ddf"
    resp._content = b"<html>Budi Wahyuni 6281234567890</html>"
    assert _vonage_problem(resp) == ""
