"""SES adapter: sends a raw MIME message with the SES client it is given (the handler's ``ctx.aws``)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from chalicelib.settings import EmailOutboxSettings


class SesMailer:
    def __init__(self, client: Any) -> None:
        self._client = client

    def send_raw(self, message: EmailMessage, sender: str, to: list[str]) -> str:
        """Send ``message`` as-is; returns SES's MessageId."""
        resp = self._client.send_raw_email(
            Source=sender, Destinations=to, RawMessage={"Data": message.as_bytes()},
        )
        return resp["MessageId"]


def sender_address(settings: EmailOutboxSettings | None = None) -> str:
    """The verified SES identity mail is sent from (``SENDER_EMAIL``; without settings: its default)."""
    return (settings or EmailOutboxSettings()).sender_email
