"""A dispatch chunk: place one stage's calls or messages for up to CHUNK_SIZE payments.

For each payment: claim the ledger entry first (conditional write; a payment already claimed
for this date and stage is never called again — redelivery or restarted stage), call the
provider (rate-limited, bounded retries), record the result. Then count the chunk once on
the stage record; whoever finishes the last chunk completes the stage's task token.
"""

from __future__ import annotations

import binascii
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg2.extensions

from chalicelib import config
from chalicelib.logs import get_logger
from chalicelib.reminders import templates
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.ledger import ATTEMPTING, FAILED, PLACED, Ledger
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.providers import ProviderError, VoiceClient, WhatsAppClient, international
from chalicelib.reminders.stage_worker import complete_if_done, decode_rows
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone

logger = get_logger("reminders")

MARK_BLASTED_SQL = (
    "UPDATE payment SET is_whatsapp_blasted = TRUE WHERE payment_id = ANY(%s) AND NOT is_whatsapp_blasted"
)


@dataclass(frozen=True)
class Chunk:
    zone: Zone
    business_date: date
    stage: Stage
    attempt: int
    chunk_id: str
    payments: list[dict[str, Any]]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Chunk:
        try:
            fields = body["fields"]
            payments = [dict(zip(fields, row, strict=True)) for row in decode_rows(body["rows_gz"])]
            if not all(isinstance(p.get("payment_id"), int) for p in payments):
                raise ValueError("every row needs an integer payment_id")
            return cls(Zone.parse(body["zone"]), date.fromisoformat(body["business_date"]), Stage(body["stage"]),
                       int(body["attempt"]), str(body["chunk_id"]), payments)
        except (KeyError, ValueError, TypeError, OSError, binascii.Error) as exc:
            raise ValueError(f"malformed dispatch chunk: {exc}") from exc


def callback_base_url() -> str:
    return config.env_str("REMINDER_CALLBACK_BASE_URL", "").rstrip("/")


def robocall_event_url(ref: CallbackRef, template: str) -> str:
    return f"{callback_base_url()}/v1/callbacks/robocall?ref={ref.encode()}&template={template}"


class Dispatcher:
    def __init__(self, conn: psycopg2.extensions.connection, *, ledger: Ledger | None = None,
                 voice: VoiceClient | None = None, whatsapp: WhatsAppClient | None = None,
                 tasks: TaskCallbacks | None = None) -> None:
        self.conn = conn
        self.ledger = ledger or Ledger()
        self.tasks = tasks or TaskCallbacks()
        self._voice, self._whatsapp = voice, whatsapp
        self.concurrency = max(1, config.env_int("DISPATCH_CONCURRENCY", 4))

    @property
    def voice(self) -> VoiceClient:
        if self._voice is None:
            self._voice = VoiceClient()
        return self._voice

    @property
    def whatsapp(self) -> WhatsAppClient:
        if self._whatsapp is None:
            self._whatsapp = WhatsAppClient()
        return self._whatsapp

    def _place(self, chunk: Chunk, p: dict[str, Any]) -> tuple[str, int]:
        ref = CallbackRef(int(p["payment_id"]), chunk.business_date, chunk.stage, chunk.zone)
        due = date.fromisoformat(p["due_date"])
        tpl = templates.templates_for(p.get("product"))
        if chunk.stage is Stage.WHATSAPP:  # to the number that has WhatsApp, with how to pay
            params = templates.whatsapp_parameters(p["name"], int(p["amount"]), due, int(p["loan_id"]),
                                                   p.get("bank"), p.get("virtual_account"))
            accepted = self.whatsapp.send_template(international(p.get("whatsapp_phone") or ""),
                                                   tpl.whatsapp_template, params, ref.encode())
        else:
            text = templates.robocall_text(p.get("product"), p["name"], int(p["amount"]), due)
            accepted = self.voice.call(international(p.get("phone") or ""), text,
                                       robocall_event_url(ref, tpl.robocall_template))
        return accepted.provider_id, accepted.attempts

    def _one(self, chunk: Chunk, p: dict[str, Any]) -> tuple[str, bool]:
        """(placed | place_failed, whether the borrower now has the message) for one payment."""
        payment_id = int(p["payment_id"])
        ids = {"payment_id": payment_id, "loan_id": p.get("loan_id"), "stage": str(chunk.stage),
               "zone": chunk.zone.name}
        entry = self.ledger.claim(payment_id, chunk.business_date, chunk.stage, chunk.zone)
        if entry is None:  # claimed before: never call twice; count what happened then
            existing = self.ledger.get(payment_id, chunk.business_date, chunk.stage, chunk.zone)
            status = existing.status if existing else ATTEMPTING
            logger.info("already attempted; not called again", extra={**ids, "status": status})
            return ("placed", True) if status == PLACED else ("place_failed", False)
        try:
            provider_id, attempts = self._place(chunk, p)
        except ProviderError as exc:
            self.ledger.mark(entry, FAILED, attempts=exc.attempts, error=str(exc))
            logger.warning("provider gave up", extra={**ids, "attempts": exc.attempts, "error": str(exc)})
            return "place_failed", False
        self.ledger.mark(entry, PLACED, attempts=attempts, provider_id=provider_id)
        return "placed", True

    def run(self, chunk: Chunk) -> dict[str, int]:
        counts = {"placed": 0, "place_failed": 0}
        delivered: list[int] = []
        _ = self.whatsapp if chunk.stage is Stage.WHATSAPP else self.voice  # build the client before the threads
        if chunk.stage is Stage.WHATSAPP:
            templates.add_whatsapp_details(self.conn, chunk.payments)
        # a few calls in flight at once (provider latency), paced by the shared rate limiter
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for p, (counter, sent) in zip(chunk.payments, pool.map(lambda p: self._one(chunk, p), chunk.payments),
                                          strict=True):
                counts[counter] += 1
                if sent:
                    delivered.append(int(p["payment_id"]))
        if chunk.stage is Stage.WHATSAPP and delivered:
            with self.conn.cursor() as cur:
                cur.execute(MARK_BLASTED_SQL, (delivered,))
            self.conn.commit()
        record = self.ledger.finish_chunk(chunk.zone, chunk.business_date, chunk.stage, chunk.attempt,
                                          chunk.chunk_id, counts)
        if record is not None:
            if record.task_token:
                self.tasks.heartbeat(record.task_token)
            complete_if_done(self.ledger, self.tasks, record, chunk.zone, chunk.business_date, chunk.stage)
        return counts
