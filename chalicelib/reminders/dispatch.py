"""A dispatch chunk: place one stage's calls or messages for up to a chunk of payments.

For each payment: claim the ledger entry first (conditional write; a payment already claimed for
this stage is never sent again — redelivered chunk, duplicated or retried stage — whatever state
the entry is in, ``attempting`` and ``uncertain`` included), call the provider once (the provider
client retries only answers that say nothing was placed), record what happened:

- ``Accepted`` → ``placed`` with the provider's id;
- ``ProviderRejected`` / ``ProviderGaveUp`` → ``failed`` (nothing placed);
- ``OutcomeUnknown`` (the request went out, the answer was lost) → ``uncertain``: never retried; the
  first signed final status with our reference binds it, otherwise it is counted ``unknown``.

Before each payment and again just before the request goes out (after the rate limiter's wait,
before every retry), the contact policy is asked with the clock: a refusal settles the entry
``skipped`` with its reason (nothing is sent, and it is never retried in this stage).

Then the chunk is counted once on the stage record of its attempt; whoever finishes the last chunk
completes the stage's task token. A chunk of an attempt that no longer owns the stage is dropped
without calling anyone. The chunk's own pacing (payments per second) is recorded for sizing the
next stage's chunks, and no payment is started once the function is about to time out.

A ledger write that fails (throttled past the store's retries, a 5xx) costs that payment's step,
never the chunk: a claim that did not go through leaves the payment for the chunk's redelivery
(nothing was sent; ``ChunkDeferred`` once the rest of the chunk is done), a settle that did not go
through after the send leaves the entry ``attempting``, counted ``unknown`` until the send's signed
status callback binds it. The redelivered chunk continues where it stopped: payments claimed before
are counted as they stand, never sent again.

A provider refusing our credentials is retried once with credentials read afresh (see
``providers``); refused again, it is a configuration error, not the borrower's failure: the
payment's claim is released (nothing was placed), the rest of the chunk is not tried, an error log
line and the ``ProviderCredentialsRefused`` metric (the template's alarm) report it, and the
chunk comes back (``ChunkDeferred``) to be sent once the configuration is fixed; on its last
receive it fails the stage with that reason. A chunk delivered again after it was counted answers
the stage's task if the answer has not been taken (``completion.answer_if_finished``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import psycopg2.extensions

from chalicelib.contact_data.history import Contact
from chalicelib.contact_policy import Clock, ContactPolicy, Decision, Send
from chalicelib.logs import get_logger
from chalicelib.reminders import metrics, references, templates
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.completion import answer_if_finished, complete_if_done, fail_stage
from chalicelib.reminders.contact import (
    ContactRecords,
    PgContactRecords,
    contact_clock,
    contact_hours,
    load_policy,
    stage_now,
)
from chalicelib.reminders.messages import Chunk, PaymentRow, PoisonChunk
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.providers import (
    Accepted,
    CredentialsRefused,
    OutcomeUnknown,
    ProviderError,
    ProviderRejected,
    VoiceClient,
    WhatsAppClient,
    _Paced,
    international,
)
from chalicelib.reminders.sms_provider import SmsClient
from chalicelib.reminders.sms_text import SmsTooLong, render_sms
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import (
    Claim,
    Entry,
    EntryStatus,
    Pacing,
    Parts,
    ReminderStore,
    StoreUnavailable,
    counter_for,
    skip_error,
)
from chalicelib.settings import DispatchSettings

logger = get_logger("reminders")

MARK_BLASTED_SQL = (
    "UPDATE payment SET is_whatsapp_blasted = TRUE WHERE payment_id = ANY(%s) AND NOT is_whatsapp_blasted"
)
# Chunks smaller than this say too little about the pacing to be recorded.
PACING_SAMPLE_MIN = 10
# No payment is started with less than this left before the function's timeout.
STOP_MARGIN_SECONDS = 30.0


def contact_groups(payments: list[PaymentRow]) -> list[list[PaymentRow]]:
    """The chunk's payments as contacts: by their ``contact`` (the leading payment id), the leader first; a
    payment without one is a contact of its own."""
    groups: dict[int, list[PaymentRow]] = {}
    for p in payments:
        groups.setdefault(p.contact if p.contact is not None else p.payment_id, []).append(p)
    return [sorted(g, key=lambda m: (m.payment_id != key, m.payment_id)) for key, g in groups.items()]


class ChunkDeferred(Exception):
    """Some payments of the chunk were left for its redelivery (the rest is done and kept)."""


class ChunkOutOfTime(ChunkDeferred):
    """The function is about to time out: the rest of the chunk is placed on redelivery."""


class PolicyRefused(Exception):
    """The contact policy refused the send at the last moment: no request went out."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.detail)
        self.decision = decision


def robocall_event_url(base_url: str, signed_ref: str, template: str) -> str:
    """Where Vonage posts the call's events (``base_url``: ``REMINDER_CALLBACK_BASE_URL``), with our signed
    reference (Vonage signs the body only, so the reference in the URL carries our own MAC:
    ``chalicelib.reminders.references``)."""
    query = urlencode({"ref": signed_ref, "template": template})
    return f"{base_url}/v1/callbacks/robocall?{query}"


def sms_receipt_url(base_url: str) -> str:
    """Where Vonage posts the SMS delivery receipts (the reference travels as ``client-ref``)."""
    return f"{base_url}/v1/callbacks/sms"


class Dispatcher:
    def __init__(self, conn: psycopg2.extensions.connection, settings: DispatchSettings | None = None, *,
                 store: ReminderStore, tasks: TaskCallbacks, voice: VoiceClient | None = None,
                 whatsapp: WhatsAppClient | None = None, clock: Clock | None = None,
                 policy: ContactPolicy | None = None, records: ContactRecords | None = None,
                 sms: SmsClient | None = None, reference_key: str | None = None) -> None:
        self.conn = conn
        # the function's settings (ctx.settings); a test's dispatcher: the settings' defaults
        self.settings = settings or DispatchSettings()
        self.store = store
        self.tasks = tasks
        self.clock = clock or contact_clock(self.settings.contact_clock)
        self.policy = policy  # None: loaded per chunk (the decreed days may change between chunks)
        self.records: ContactRecords = records or PgContactRecords(conn)
        self._voice, self._whatsapp, self._sms = voice, whatsapp, sms
        self._reference_key = reference_key
        self.concurrency = max(1, self.settings.threads)
        self.callback_base_url = (self.settings.reminder_callback_base_url or "").rstrip("/")
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        """The calls in flight, on threads kept for the dispatcher's life (a warm container's chunks): each
        thread's provider client keeps its connection, so a chunk does not open (and TLS-handshake) a new
        one per thread, as a pool made per chunk did."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="dispatch")
            weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    @property
    def sms_receipt_url(self) -> str:
        return sms_receipt_url(self.callback_base_url)

    @property
    def reference_key(self) -> str:
        """The key our callback references are signed with (``CALLBACK_REFERENCE_KEY``)."""
        if self._reference_key is None:
            self._reference_key = references.signing_key()
        return self._reference_key

    @property
    def voice(self) -> VoiceClient:
        if self._voice is None:
            self._voice = VoiceClient(settings=self.settings)
        return self._voice

    @property
    def whatsapp(self) -> WhatsAppClient:
        if self._whatsapp is None:
            self._whatsapp = WhatsAppClient(settings=self.settings)
        return self._whatsapp

    @property
    def sms(self) -> SmsClient:
        if self._sms is None:
            self._sms = SmsClient(settings=self.settings)
        return self._sms

    def client_for(self, stage: Stage) -> object:
        """The stage's provider client (built once, before the chunk's threads use it)."""
        if stage is Stage.WHATSAPP:
            return self.whatsapp
        return self.sms if stage is Stage.SMS else self.voice

    def _decide(self, policy: ContactPolicy, run: StageRun, send: Send) -> Decision:
        return policy.may_send(send, stage_now(self.clock, run))

    def _gate(self, policy: ContactPolicy, run: StageRun, send: Send,
              sent_at: list[datetime]) -> Callable[[], None]:
        """The send-time check the provider client runs just before each request (``sent_at``: when)."""
        def gate() -> None:
            decision = self._decide(policy, run, send)
            if not decision.allowed:
                raise PolicyRefused(decision)
            sent_at.append(decision.local)
        return gate

    def _place(self, run: StageRun, p: PaymentRow, gate: Callable[[], None],
               group: list[PaymentRow]) -> Accepted:
        """One call or message for the contact led by ``p``: the total of ``group`` (its payments) and its loans."""
        ref = CallbackRef(p.payment_id, run)
        signed = references.sign(ref, self.reference_key)
        dues = [m.due_date for m in group]
        total = sum(m.amount for m in group)
        loans = list(dict.fromkeys(m.loan_id for m in group))
        tpl = templates.templates_for(p.product)
        if run.stage is Stage.SMS:  # the number the calls went to: the total, the first due date, how to pay
            accounts = ",".join(dict.fromkeys(str(m.virtual_account) for m in group if m.virtual_account))
            try:
                sms = render_sms(p.product, total, min(dues), p.bank, accounts or None)
            except SmsTooLong as exc:
                raise ProviderRejected(str(exc), attempts=0) from exc
            if sms.segments > 1:  # a receipt per part: the entry knows how many before any receipt can come
                self.store.expect_parts(run, ref.payment_id, sms.segments)  # StoreUnavailable: nothing sent
            accepted = self.sms.send(international(p.phone or ""), sms.text, signed, self.sms_receipt_url,
                                     gate=gate)
        elif run.stage is Stage.WHATSAPP:  # to the number that has WhatsApp, with how to pay
            params = templates.whatsapp_parameters(p.name, total, dues, loans, p.bank,
                                                   [m.virtual_account for m in group])
            accepted = self.whatsapp.send_template(international(p.whatsapp_phone or ""),
                                                   tpl.whatsapp_template, params, signed, gate=gate)
        else:
            text = templates.robocall_text(p.product, p.name, total, dues, loans)
            accepted = self.voice.call(international(p.phone or ""), text,
                                       robocall_event_url(self.callback_base_url, signed, tpl.robocall_template),
                                       gate=gate)
        return accepted

    def _number(self, run: StageRun, p: PaymentRow) -> str:
        """The number this payment's contact goes to: the one with WhatsApp, or the robocall number."""
        return international(p.whatsapp_phone or "" if run.stage is Stage.WHATSAPP else p.phone or "")

    def _contact_group(self, run: StageRun, group: list[PaymentRow], deadline: float | None,
                       policy: ContactPolicy, halted: threading.Event) -> list[tuple[str, bool, Contact | None]]:
        """One contact (the payments due of one number, led by the first): the leader is sent once for all;
        each other payment mirrors it (POJK 22/2023 Pasal 62 ayat (2) huruf d: one contact per slot)."""
        lead = self._one(run, group[0], deadline, policy, group, halted)
        return [lead, *(self._member(run, m, group[0], lead) for m in group[1:])]

    def _member(self, run: StageRun, m: PaymentRow, leader: PaymentRow,
                lead: tuple[str, bool, Contact | None]) -> tuple[str, bool, Contact | None]:
        """A payment reminded in another payment's contact: ``skipped`` (``merged``) when the contact went out
        (or maybe did), ``place_failed`` when it was not placed, the leader's reason when the policy refused it."""
        counter, _fresh, row = lead
        if counter == "deferred":
            return "deferred", False, None
        payment_id, leader_id = m.payment_id, leader.payment_id
        number = self._number(run, m)
        at = row.at if row is not None else stage_now(self.clock, run)
        if counter == "place_failed":
            status, error = EntryStatus.FAILED, f"the contact of payment {leader_id} was not placed"
        else:
            status = EntryStatus.SKIPPED
            error = row.reason if counter == "skipped" and row is not None and row.reason else \
                skip_error("merged", f"reminded in the contact of payment {leader_id}")
        try:  # claimed and settled in one write (nothing is sent for it); claimed before: as it stands
            entry = self.store.claim_settled(run, payment_id, status, error=error).entry
        except StoreUnavailable as exc:  # its step only: left for the chunk's redelivery (nothing is sent for it)
            logger.warning("ledger write of a merged payment failed; left for the chunk's redelivery",
                           extra={**run.ids(), "payment_id": payment_id, "error": str(exc)})
            return "deferred", False, None
        mine = counter_for(entry)
        contact = self._contact(run, m, number, mine, at, entry.error, entry.provider_id)
        return mine, False, replace(contact, contact_of=leader_id)

    def _one(self, run: StageRun, p: PaymentRow, deadline: float | None,
             policy: ContactPolicy, group: list[PaymentRow] | None = None,
             halted: threading.Event | None = None) -> tuple[str, bool, Contact | None]:
        """(placed | place_failed | unknown | skipped | deferred, whether the provider was asked now, the
        contact history row) for one payment (the leader of ``group``: one call or message for all of it).
        ``halted``: set once the provider refused our credentials (nothing more is tried in this chunk)."""
        group = group or [p]
        halted = halted or threading.Event()
        payment_id = p.payment_id
        ids = {**run.ids(), "payment_id": payment_id, "loan_id": p.loan_id}
        number = self._number(run, p)
        if (deadline is not None and time.monotonic() > deadline) or halted.is_set():
            return "deferred", False, None
        facts = self.records.facts(number, [m.loan_id for m in group])
        send = Send(run.zone, run.business_date, str(run.stage.channel), opted_out=facts.opted_out,
                    do_not_call=facts.do_not_call)
        decision = self._decide(policy, run, send)
        claimed = self._claim(run, p, number, ids, None if decision.allowed else decision)
        if not isinstance(claimed, Claim):  # not this caller's to send, or refused: how it counts
            return claimed
        sent_at: list[datetime] = []
        try:
            accepted = self._place(run, p, self._gate(policy, run, send, sent_at), group)
        except PolicyRefused as refused:
            counter, contact = self._skip(run, p, number, refused.decision, ids)
            return counter, False, contact
        except StoreUnavailable as exc:  # the SMS's part count was not recorded: nothing sent; given back
            logger.warning("ledger write failed before the send; payment left for the chunk's redelivery",
                           extra={**ids, "error": str(exc)})
            self._release(run, ids)
            return "deferred", False, None
        except CredentialsRefused as exc:  # ours to fix, not the borrower's failure: nothing was placed
            halted.set()
            self._credentials_refused(run, ids, exc)
            return "deferred", True, None
        except OutcomeUnknown as exc:
            logger.warning("send outcome unknown; never retried", extra={**ids, "error": str(exc)})
            counter, entry = self._settle(run, payment_id, ids, EntryStatus.UNCERTAIN, attempts=exc.attempts,
                                          error=str(exc))
        except ProviderError as exc:
            logger.warning("provider did not place it", extra={**ids, "attempts": exc.attempts, "error": str(exc)})
            counter, entry = self._settle(run, payment_id, ids, EntryStatus.FAILED, attempts=exc.attempts,
                                          error=str(exc))
        else:
            parts = Parts(accepted.part_ids, accepted.refused_parts) if accepted.part_ids else None
            counter, entry = self._settle(run, payment_id, ids, EntryStatus.PLACED, attempts=accepted.attempts,
                                          provider_id=accepted.provider_id, parts=parts)
        at = sent_at[-1] if sent_at else decision.local
        return counter, True, self._contact(run, p, number, counter, at, entry.error if entry else None,
                                            entry.provider_id if entry else None)

    def _claim(self, run: StageRun, p: PaymentRow, number: str, ids: dict[str, Any],
               refused: Decision | None) -> Claim | tuple[str, bool, Contact | None]:
        """The fresh claim that lets this caller send ``p``; otherwise how ``p`` counts (deferred: the claim did
        not go through; as it stands: claimed before, never sent twice; skipped: the contact policy ``refused``
        it, claimed and settled in one write)."""
        try:
            if refused is None:
                claim = self.store.claim(run, p.payment_id)
            else:
                claim = self.store.claim_settled(run, p.payment_id, EntryStatus.SKIPPED,
                                                 error=skip_error(str(refused.reason), refused.detail))
        except StoreUnavailable as exc:  # nothing sent: the chunk's redelivery takes this payment up again
            logger.warning("ledger claim failed; payment left for the chunk's redelivery",
                           extra={**ids, "error": str(exc)})
            return "deferred", False, None
        if refused is not None and claim.fresh:
            self._log_refusal(refused, ids)
            return "skipped", False, self._contact(run, p, number, "skipped", refused.local,
                                                   claim.entry.error, None)
        if not claim.fresh:  # claimed before: never sent twice; counted (and recorded, if a crash lost it) as it stands
            logger.info("already attempted; not sent again", extra={**ids, "status": claim.entry.status})
            counter = counter_for(claim.entry)
            return counter, False, self._contact(run, p, number, counter, stage_now(self.clock, run),
                                                 claim.entry.error, claim.entry.provider_id)
        return claim

    def _credentials_refused(self, run: StageRun, ids: dict[str, Any], exc: CredentialsRefused) -> None:
        """The provider refused credentials read afresh: alarm, give the payment back, stop the chunk."""
        channel = str(run.stage.channel)
        logger.error("provider refused our credentials (configuration error); the chunk is left for redelivery",
                     extra={**ids, "alarm": metrics.CREDENTIALS_REFUSED, "channel": channel, "error": str(exc)})
        metrics.emit({"channel": channel}, {metrics.CREDENTIALS_REFUSED: 1})
        self._release(run, ids)

    def _release(self, run: StageRun, ids: dict[str, Any]) -> None:
        """Give a claim back (nothing was sent): the payment is claimed and sent afresh later."""
        try:
            self.store.release_claim(run, int(ids["payment_id"]))
        except StoreUnavailable as release:  # left attempting: counted unknown, never sent (conservative)
            logger.warning("could not release the claim", extra={**ids, "error": str(release)})

    def _settle(self, run: StageRun, payment_id: int, ids: dict[str, Any], status: EntryStatus,
                **fields: Any) -> tuple[str, Entry | None]:
        """Record what the send did: how the payment counts and its entry (``unknown`` and None while the entry
        could not be written)."""
        try:
            entry = self.store.settle(run, payment_id, status, **fields)
            # None: a callback got there first (bound the entry); count the entry as it stands
            entry = entry or self.store.get(run, payment_id)
        except StoreUnavailable as exc:  # the send happened: never again; its signed callback binds the entry
            logger.warning("ledger write failed after the send; counted unknown until its callback binds it",
                           extra={**ids, "status": status, "error": str(exc)})
            return "unknown", None
        return (counter_for(entry) if entry else "unknown"), entry

    def _contact(self, run: StageRun, p: PaymentRow, number: str, counter: str, at: datetime,
                 reason: str | None, provider_id: str | None) -> Contact:
        result = {"placed": "placed", "place_failed": "place_failed", "skipped": "skipped"}.get(counter, "unknown")
        return Contact(p.payment_id, p.loan_id, number or None, str(run.stage.channel), run.zone.name,
                       run.business_date, str(run.stage), run.attempt, at, result, reason, provider_id)

    def _skip(self, run: StageRun, p: PaymentRow, number: str, decision: Decision,
              ids: dict[str, Any]) -> tuple[str, Contact]:
        """Settle a refused send ``skipped`` with its reason (and record it, at the time it was refused)."""
        reason = str(decision.reason)
        payment_id = p.payment_id
        self._log_refusal(decision, ids)
        counter, _entry = self._settle(run, payment_id, ids, EntryStatus.SKIPPED, attempts=0,
                                       error=skip_error(reason, decision.detail))
        return counter, self._contact(run, p, number, counter, decision.local, skip_error(reason, decision.detail),
                                      None)

    @staticmethod
    def _log_refusal(decision: Decision, ids: dict[str, Any]) -> None:
        logger.info("contact policy refused the send", extra={**ids, "reason": str(decision.reason),
                                                               "local_time": decision.local.isoformat()})

    def owns_stage(self, run: StageRun) -> bool:
        """False when a newer attempt owns the stage: this chunk is stale and must not call anyone."""
        state = self.store.stage(run)
        if state is not None and state.run.attempt > run.attempt:
            return False
        if state is not None and state.task_token and not state.answered:  # until the answer is taken
            try:
                self.tasks.heartbeat(state.task_token)
            except Exception as exc:  # a lost heartbeat is not worth the chunk: the next one comes soon
                logger.warning("stage heartbeat failed", extra={**run.ids(), "error": f"{type(exc).__name__}: {exc}"})
        return True

    def run(self, chunk: Chunk, *, remaining_seconds: float | None = None) -> dict[str, int]:
        run = chunk.run
        counts = {"placed": 0, "place_failed": 0, "unknown": 0, "skipped": 0, "deferred": 0}
        if not self.owns_stage(run):
            logger.warning("chunk of an older attempt dropped", extra={**run.ids(), "chunk_id": chunk.chunk_id})
            return counts
        started = time.monotonic()
        deadline = None if remaining_seconds is None else started + remaining_seconds - STOP_MARGIN_SECONDS
        halted = threading.Event()  # the provider refused our credentials: nobody else in this chunk is tried
        asked, delivered, contacts = self._send_contacts(chunk, counts, deadline, halted)
        self.records.record(contacts, run.zone.tzinfo)  # the contact history: every attempt and every skip
        if run.stage is Stage.WHATSAPP and delivered:
            with self.conn.cursor() as cur:
                cur.execute(MARK_BLASTED_SQL, (delivered,))
            self.conn.commit()
        if remaining_seconds is not None and asked >= PACING_SAMPLE_MIN:
            self._record_pacing(run, asked / max(time.monotonic() - started, 1e-3), remaining_seconds)
        if counts["deferred"]:
            raise self._deferred(chunk, counts["deferred"], halted, deadline)
        self._emit_metrics(run, counts)
        state = self.store.finish_chunk(run, chunk.chunk_id, {k: v for k, v in counts.items() if k != "deferred"})
        if state is None:  # counted before (a redelivery): answer the stage if its answer was not taken
            answer_if_finished(self.store, self.tasks, run)
        else:
            complete_if_done(self.store, self.tasks, state)
        return counts

    def _send_contacts(self, chunk: Chunk, counts: dict[str, int], deadline: float | None,
                       halted: threading.Event) -> tuple[int, list[int], list[Contact]]:
        """Send the chunk's contacts (adding how each payment counts to ``counts``): how many the provider was
        asked for now, the payments maybe delivered, the contact history rows."""
        run = chunk.run
        client = self.client_for(run.stage)  # built before the threads
        policy = self.policy or load_policy(self.conn, run.business_date, contact_hours(self.settings.contact_hours))
        _ = self.reference_key
        payments = chunk.payments
        if run.stage in (Stage.WHATSAPP, Stage.SMS):  # the repayment bank and virtual account
            payments = templates.with_whatsapp_details(self.conn, payments)
        # a few calls in flight at once (provider latency), on the slots of the provider's grid that
        # every dispatch container shares (the chunk's contacts tell it how many to claim ahead)
        groups = contact_groups(payments)
        pacing = client.chunk(len(groups)) if isinstance(client, _Paced) else nullcontext()
        asked, delivered, contacts = 0, list[int](), list[Contact]()
        with pacing:
            pool = self._threads()
            sends = [pool.submit(self._contact_group, run, g, deadline, policy, halted) for g in groups]
            try:
                for group, send in zip(groups, sends, strict=True):
                    answers = send.result()
                    for counter, fresh, contact in answers:
                        counts[counter] += 1
                        asked += fresh
                        if contact is not None:
                            contacts.append(contact)
                    if answers[0][0] in ("placed", "unknown"):  # maybe delivered (to all of them): never again
                        delivered.extend(m.payment_id for m in group)
            finally:
                wait(sends)  # no send of this chunk outlives it (nor its pacing)
        return asked, delivered, contacts

    def _record_pacing(self, run: StageRun, per_second: float, remaining_seconds: float) -> None:
        try:
            self.store.record_pacing(run.stage.channel, Pacing(per_second, remaining_seconds))
        except StoreUnavailable as exc:  # a sizing hint: the next chunk records it
            logger.warning("pacing not recorded", extra={**run.ids(), "error": str(exc)})

    @staticmethod
    def _deferred(chunk: Chunk, deferred: int, halted: threading.Event, deadline: float | None) -> ChunkDeferred:
        """Why some payments were left for the chunk's redelivery."""
        left = f"chunk {chunk.chunk_id}: {deferred} payments left for redelivery"
        if halted.is_set():
            return ChunkDeferred(f"{left} (the provider refused our credentials: {metrics.CREDENTIALS_REFUSED})")
        out_of_time = deadline is not None and time.monotonic() > deadline
        return (ChunkOutOfTime if out_of_time else ChunkDeferred)(left)

    def _emit_metrics(self, run: StageRun, counts: dict[str, int]) -> None:
        channel = str(run.stage.channel)
        metrics.emit(metrics.run_dimensions(run.zone.name, str(run.stage), channel),
                     metrics.renamed(counts, metrics.DISPATCH_COUNTS))
        client = self.client_for(run.stage)
        if isinstance(client, _Paced):
            metrics.emit_values({"channel": channel}, metrics.PROVIDER_LATENCY, client.take_latencies())

    def fail(self, run: StageRun, cause: str, chunk_id: str | None = None) -> bool:
        """The chunk can no longer finish: fail its stage's task now, so the retry starts at once.

        A chunk that was counted already (it failed answering the stage, not placing its calls) does not
        fail the stage: its stage is answered instead.
        """
        state = self.store.stage(run) if chunk_id is not None else None
        if state is not None and state.run.attempt == run.attempt and chunk_id in state.done_chunks:
            return answer_if_finished(self.store, self.tasks, run)
        return fail_stage(self.store, self.tasks, run, cause)


def dispatch_message(dispatcher: Dispatcher, body: dict[str, Any], *, receive_count: int,
                     max_receives: int | None, remaining_seconds: float | None = None) -> dict[str, int]:
    """One dispatch message as the queue delivers it (raises to have it delivered again).

    A chunk that can never succeed (unreadable rows) fails its stage's task at once. A chunk that
    fails on its last allowed receive (the queue's ``maxReceiveCount``; the next failure would
    dead-letter it) fails its stage's task before giving up, so the Step Functions retry starts
    now instead of after the heartbeat timeout; the message still goes to the DLQ for inspection.
    """
    try:
        chunk = Chunk.parse(body)
    except PoisonChunk as exc:
        dispatcher.fail(exc.run, str(exc))
        raise
    try:
        return dispatcher.run(chunk, remaining_seconds=remaining_seconds)
    except Exception as exc:
        if max_receives is not None and receive_count >= max_receives:
            dispatcher.fail(chunk.run, f"chunk {chunk.chunk_id} failed on its last receive "
                                       f"({receive_count} of {max_receives}): {type(exc).__name__}: {exc}",
                            chunk.chunk_id)
        raise
