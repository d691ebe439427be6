"""The reminder workflow's messages: a stage message (Step Functions → stage worker) and a dispatch
chunk (stage worker → dispatch function). Both carry a ``StageRun``'s fields at the top level.

A chunk's payments travel as ``rows_gz``: gzip + base64 of a JSON array of rows in ``fields``
order (about 5x smaller than plain JSON; SQS bills per 64 KB), and are read as ``PaymentRow``s.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.reminders.stages import Channel, StageRun

DISPATCH_QUEUES = {Channel.ROBOCALL: "reminder-dispatch-robocall", Channel.WHATSAPP: "reminder-dispatch-whatsapp",
                   Channel.SMS: "reminder-dispatch-sms"}
# "contact": the leading payment of the row's contact (one contact per borrower per slot); a chunk
# without it (enqueued before the field existed) makes each payment its own contact
CHUNK_FIELDS = ("payment_id", "loan_id", "phone", "name", "amount", "due_date", "product", "postcode", "contact")


class PoisonChunk(ValueError):
    """A chunk whose stage run is readable but whose payments are not: it can never succeed."""

    def __init__(self, run: StageRun, chunk_id: str, reason: str) -> None:
        super().__init__(f"dispatch chunk {chunk_id} of {run.stage} is unreadable: {reason}")
        self.run = run
        self.chunk_id = chunk_id


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """One payment of a dispatch chunk (a row in ``CHUNK_FIELDS`` order), with the repayment details the
    WhatsApp and SMS stages look up before sending (``templates.with_whatsapp_details``)."""

    payment_id: int
    loan_id: int
    phone: str | None
    name: str
    amount: int  # rupiah
    due_date: date
    product: str | None = None
    postcode: str | None = None
    contact: int | None = None  # the leading payment of the row's contact (None: a contact of its own)
    whatsapp_phone: str | None = None
    bank: str | None = None
    virtual_account: str | None = None

    @classmethod
    def from_row(cls, names: Sequence[str], row: Sequence[Any]) -> PaymentRow:
        """A row as the chunk carries it (``names``: the chunk's ``fields``; fields this code does not know are
        left out). ValueError / TypeError / KeyError when a field is missing or of the wrong type."""
        values = dict(zip(names, row, strict=True))
        if not isinstance(values.get("payment_id"), int):
            raise ValueError("every row needs an integer payment_id")
        contact = values.get("contact")
        return cls(payment_id=values["payment_id"], loan_id=int(values["loan_id"]), phone=values.get("phone"),
                   name=str(values["name"]), amount=int(values["amount"]),
                   due_date=date.fromisoformat(values["due_date"]), product=values.get("product"),
                   postcode=values.get("postcode"), contact=int(contact) if contact is not None else None)


@dataclass(frozen=True)
class StageMessage:
    run: StageRun
    task_token: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> StageMessage:
        try:
            return cls(StageRun.from_fields(body), str(body["task_token"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"malformed stage message: {exc}") from exc


def encode_rows(rows_json: str) -> str:
    return base64.b64encode(gzip.compress(rows_json.encode(), compresslevel=5)).decode()


def decode_rows(payload: str) -> list[list[Any]]:
    rows = json.loads(gzip.decompress(base64.b64decode(payload)))
    if not isinstance(rows, list):
        raise ValueError("rows must be a JSON array")
    return rows


def chunk_body(run: StageRun, chunk_id: str, rows_json: str) -> dict[str, Any]:
    return {**run.ids(), "chunk_id": chunk_id, "fields": list(CHUNK_FIELDS), "rows_gz": encode_rows(rows_json)}


@dataclass(frozen=True)
class Chunk:
    run: StageRun
    chunk_id: str
    payments: list[PaymentRow]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Chunk:
        """The chunk; ``PoisonChunk`` if its run is readable but its rows are not, else ValueError."""
        try:
            run = StageRun.from_fields(body)
            chunk_id = str(body["chunk_id"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"malformed dispatch chunk: {exc}") from exc
        try:
            names = body["fields"]
            payments = [PaymentRow.from_row(names, row) for row in decode_rows(body["rows_gz"])]
        except (KeyError, ValueError, TypeError, OSError, EOFError, zlib.error, binascii.Error) as exc:
            raise PoisonChunk(run, chunk_id, str(exc)) from exc
        return cls(run, chunk_id, payments)
