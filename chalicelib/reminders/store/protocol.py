"""``ReminderStore``: the interface the domain code talks to, and the rules every store keeps.

Two implementations keep the same rules: ``store.dynamo.DynamoReminderStore`` (pynamodb, the
deployed one) and ``store.memory.MemoryReminderStore`` (tests, tools; no server). One contract test
module (tests/functional/test_reminder_store_contract.py) runs every rule against both. The rules,
each one conditional write:

Ledger entries (one per payment and stage, whatever the attempt):
- ``claim`` writes ``attempting`` *before* the provider is called; only the caller that wrote it
  (``Claim.fresh``) may call. A later attempt of the same stage *adopts* an existing entry (its
  ``attempt`` moves up, never down) so the entry is counted in that attempt's summary, but it is
  never called again.
- ``claim_settled`` claims a payment nothing will be sent for (the contact policy refused it, or it is
  reminded in another payment's contact) and settles it ``skipped`` / ``failed`` in the same write:
  ``fresh`` as ``claim``; an existing entry is adopted exactly as ``claim`` adopts it, and left as it is.
- ``settle`` records what the send did (``EntryStatus``): ``placed`` (with the provider id), ``failed`` (nothing was
  placed) or ``uncertain`` (maybe placed: a timeout after the request went out). ``failed`` and
  ``uncertain`` only replace ``attempting``; ``placed`` never replaces another provider id.
- ``bind`` is the first signed final status carrying our reference: it sets the provider id (if none
  is set) and ``placed`` — also for an entry left ``attempting`` by a crash or ``uncertain``.
- ``record_outcome`` sets the outcome (``Outcome``) once, for the bound provider id only (a message of one part).
- ``release_claim`` removes an entry its own attempt claimed when the provider certainly placed
  nothing and the payment is not the borrower's failure (our credentials were refused): the
  payment can be claimed and sent again once the configuration is fixed. Only ``attempting``
  entries without a provider id, of the caller's attempt.
- An SMS of several parts is settled on every part's receipt: ``expect_parts`` records, before the
  request goes out, how many parts the text takes (so no receipt of one part can settle it alone,
  however early it comes); ``settle`` adds the parts' ids from the answer (``Parts``); ``bind_part``
  binds a part id the send's answer did not give (lost answer) while fewer ids are known than parts;
  ``record_part`` adds a part's final status (once per part id, until the entry has an
  outcome); ``record_parts_outcome`` sets the entry's outcome once: ``failed`` as soon as a part failed,
  ``succeeded`` when every part was delivered (``parts_outcome``). A part refused when sent (a half-sent
  message) fails the message at ``settle``.
- ``bound_to`` answers which entries hold a provider id (the DynamoDB store asks the ledger's
  ``by-provider_id`` index): a callback may bind only an id no other entry holds.

Stage records (one per zone, day and stage), owned by the newest attempt:
- ``start_stage``: a newer attempt takes the record over (clean counters); the same attempt
  resumes it (redelivered or duplicated stage message); an older attempt changes nothing
  (``SUPERSEDED``); a completed record is never reset (``COMPLETED``).
- ``seal_stage`` stores the number of chunks and the selection counts, once per attempt, *before*
  any chunk is enqueued (the selection itself is sealed in PostgreSQL: ``stage_selection``);
  ``record_enqueued`` notes that every chunk of the sealed selection is on the queue.
- ``finish_chunk`` counts a chunk once per attempt; ``claim_completion`` is true for exactly one
  caller once every chunk of the owning attempt has finished, and stores the task's answer in the
  same write; ``record_answered`` notes that Step Functions took the answer (until then any later
  delivery of a chunk or of the stage message sends the stored answer again);
  ``claim_failure`` gives exactly one caller the right to fail the owning attempt's task (not once
  it completed), ``release_failure`` gives that right back when the failure could not be sent.

A store that cannot read or write (after its own retries of throttling) raises ``StoreUnavailable``;
the operation did not happen, unless the error was one after which it may have (a 5xx): every rule
above is safe to try again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from chalicelib.reminders.stages import Channel, StageRun
from chalicelib.reminders.store.model import (
    Claim,
    Entry,
    EntryStatus,
    Outcome,
    Pacing,
    Parts,
    StageStart,
    StageState,
)


class ReminderStore(Protocol):
    # --- ledger entries (run.attempt is the caller's attempt; the entry key ignores it) ---
    def claim(self, run: StageRun, payment_id: int) -> Claim: ...

    def claim_settled(self, run: StageRun, payment_id: int, status: EntryStatus, *, error: str) -> Claim: ...

    def get(self, run: StageRun, payment_id: int) -> Entry | None: ...

    def settle(self, run: StageRun, payment_id: int, status: EntryStatus, *, attempts: int,
               provider_id: str | None = None, error: str | None = None, parts: Parts | None = None) -> Entry | None:
        ...

    def bind(self, run: StageRun, payment_id: int, provider_id: str) -> Entry | None: ...

    def record_outcome(self, run: StageRun, payment_id: int, provider_id: str, outcome: Outcome,
                       provider_status: str) -> bool: ...

    def release_claim(self, run: StageRun, payment_id: int) -> bool: ...

    def expect_parts(self, run: StageRun, payment_id: int, count: int) -> bool: ...

    def bind_part(self, run: StageRun, payment_id: int, part_id: str) -> Entry | None: ...

    def record_part(self, run: StageRun, payment_id: int, part_id: str, outcome: Outcome) -> Entry | None: ...

    def record_parts_outcome(self, run: StageRun, payment_id: int, outcome: Outcome, provider_status: str) -> bool: ...

    def bound_to(self, provider_id: str) -> set[tuple[str, int]]:
        """(ledger key, payment id) of every entry holding ``provider_id``."""
        ...

    def entries(self, run: StageRun) -> Iterator[Entry]: ...

    # --- stage records ---
    def start_stage(self, run: StageRun, task_token: str) -> StageStart: ...

    def seal_stage(self, run: StageRun, chunks_total: int, counts: Mapping[str, int]) -> StageState | None: ...

    def finish_chunk(self, run: StageRun, chunk_id: str, counts: Mapping[str, int]) -> StageState | None: ...

    def record_enqueued(self, run: StageRun) -> StageState | None: ...

    def claim_completion(self, state: StageState, answer: Mapping[str, Any] | None = None) -> bool: ...

    def record_answered(self, run: StageRun) -> None: ...

    def claim_failure(self, run: StageRun) -> StageState | None: ...

    def release_failure(self, run: StageRun) -> None: ...

    def stage(self, run: StageRun) -> StageState | None: ...

    # --- measured pacing per channel ---
    def record_pacing(self, channel: Channel, pacing: Pacing) -> None: ...

    def pacing(self, channel: Channel) -> Pacing | None: ...
