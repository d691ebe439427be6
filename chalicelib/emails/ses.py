"""SES adapter: sends a raw MIME message (boto3 client from chalicelib.aws)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from chalicelib import aws, config


class SesMailer:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("ses")

    def send_raw(self, message: EmailMessage, sender: str, to: list[str]) -> str:
        """Send ``message`` as-is; returns SES's MessageId."""
        resp = self._client.send_raw_email(
            Source=sender, Destinations=to, RawMessage={"Data": message.as_bytes()},
        )
        return resp["MessageId"]


DEFAULT_SENDER = "no-reply@example.co.id"


def sender_address() -> str:
    """The verified SES identity mail is sent from (``SENDER_EMAIL``)."""
    return config.env_str("SENDER_EMAIL", DEFAULT_SENDER)
