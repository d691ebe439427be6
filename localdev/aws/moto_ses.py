"""Read back the raw emails a moto server accepted through SES (``GET /moto-api/data.json``).

Only for local runs: the code under test sends through the real SES API; this looks at
what moto stored, as a mailbox would.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email.message import Message

import requests

from chalicelib import settings


@dataclass(frozen=True)
class SentEmail:
    message_id: str
    source: str
    destinations: tuple[str, ...]
    raw: bytes

    def parsed(self) -> Message:
        return email.message_from_bytes(self.raw)


def sent_raw_emails(endpoint: str | None = None) -> list[SentEmail]:
    endpoint = endpoint or settings.aws_endpoint_url()
    if not endpoint:
        raise RuntimeError("AWS_ENDPOINT_URL is not set: there is no moto server to read from")
    data = requests.get(f"{endpoint.rstrip('/')}/moto-api/data.json", timeout=30).json()
    return [
        SentEmail(m["id"], m["source"], tuple(m["destinations"]), m["raw_data"].encode("utf-8", "surrogateescape"))
        for m in data.get("ses", {}).get("RawMessage", [])
    ]
