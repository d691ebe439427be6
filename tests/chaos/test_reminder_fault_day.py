"""A whole T-3 day with every provider fault mode at 10% each, and workers that crash after accepts.

The real state machine runs in moto; the stage and dispatch handlers run through the local Lambda
runtime; the fake Vonage and Meta answer with ``FaultRates.each(0.10)`` (429, 5xx, timeout with
nothing placed, placed but the answer lost, a crash-like cut after accept, slow answers, duplicated
and reordered webhooks); their signed webhooks go to the app's callback routes. On top, 10% of the
sends the provider accepted kill the dispatch worker before our ledger write (its chunk comes back).

What the borrowers and the operators would notice:
- nobody is called or messaged twice for a stage (the fakes count placements per reference);
- every selected payment is counted: per attempt selected = placed + place_failed + unknown +
  not_placed, from the execution's own stage summaries;
- the execution ends SUCCEEDED, or FAILED with a reason, without waiting out a heartbeat.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg2.extensions
import pytest

from chalicelib.reminders import providers
from localdev.aws.bootstrap import bootstrap
from localdev.fakes import FaultRates
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, assert_summary_adds_up, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
RATE = 0.10
SCENARIO = "provider faults at 10% each over a whole day"
INVARIANT = "no (payment, stage) called twice; every selected payment counted"


class WorkerKilled(RuntimeError):
    """The dispatch worker died after the provider accepted, before the ledger write."""


@dataclass
class FaultDay:
    pairs: Counter[tuple[int, str]]           # (payment id, stage) -> placements at the providers
    execution: dict[str, Any]
    stages: dict[str, dict[str, int]]
    faults: Counter[str]                      # request faults the fakes injected, by kind
    worker_crashes: int
    history_errors: list[str]


def _pair(reference: str) -> tuple[int, str]:
    """(payment id, stage) from a callback reference: WhatsApp's opaque data, or Vonage's event URL."""
    if reference.startswith("http"):
        reference = parse_qs(urlparse(reference).query)["ref"][0]
    payment_id, _day, stage = reference.split("|")[:3]
    return int(payment_id), stage


def _crash_after_accept(monkeypatch: pytest.MonkeyPatch, rng: random.Random, crashes: list[str]) -> None:
    def crashing(real: Callable[..., providers.Accepted]) -> Callable[..., providers.Accepted]:
        def send(self: Any, *args: Any, **kwargs: Any) -> providers.Accepted:
            accepted = real(self, *args, **kwargs)
            if rng.random() < RATE:
                crashes.append(real.__name__)
                raise WorkerKilled("killed between the provider's accept and the ledger write")
            return accepted
        return send

    monkeypatch.setattr(providers.VoiceClient, "call", crashing(providers.VoiceClient.call))
    monkeypatch.setattr(providers.WhatsAppClient, "send_template", crashing(providers.WhatsAppClient.send_template))


def _run_fault_day(conn: psycopg2.extensions.connection, monkeypatch: pytest.MonkeyPatch, payments: int,
                   seed: int) -> FaultDay:
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    for i in range(payments):
        make_loan(conn, postcode="10110", phone=f"08131{i:07d}", due_dates=[DUE])
    conn.commit()
    crashes: list[str] = []
    _crash_after_accept(monkeypatch, random.Random(f"crash|{seed}"), crashes)
    stack = LocalReminderStack(seed=seed, provider_timeout=0.3,
                               extra_env={"REMINDER_CHUNK_SIZE": "5", "PROVIDER_MAX_ATTEMPTS": "3"})
    with stack:
        stack.voice.slow_sleep = stack.whatsapp.slow_sleep = 0.05
        stack.voice.set_rates(FaultRates.each(RATE))
        stack.whatsapp.set_rates(FaultRates.each(RATE))
        day = Day(stack, BUSINESS_DATE)
        day.start()
        execution = day.finish()
        placed: Counter[tuple[int, str]] = Counter()
        for fake in (stack.voice, stack.whatsapp):
            for reference, n in fake.placed_by_reference().items():
                placed[_pair(reference)] += n
        faults = Counter(r.fault for r in [*stack.voice.records, *stack.whatsapp.records] if r.fault)
    stages = assert_summary_adds_up(execution) if execution["status"] == "SUCCEEDED" else {}
    print(f"fault day: {payments} payments, {sum(placed.values())} placed, faults {dict(faults)}, "
          f"{len(crashes)} worker crashes after accept, {execution['status']}, stages {stages}")
    return FaultDay(placed, execution, stages, faults, len(crashes), day.history_errors())


def _check(day: FaultDay, payments: int) -> None:
    twice = {pair: n for pair, n in day.pairs.items() if n > 1}
    assert twice == {}, f"called twice for a stage: {twice}"
    assert not [e for e in day.history_errors if "Timeout" in e], \
        f"a stage waited out its heartbeat: {day.history_errors}"
    assert day.execution["status"] in ("SUCCEEDED", "FAILED")
    if day.execution["status"] == "FAILED":
        assert day.execution.get("error") or day.execution.get("cause"), "failed without a reason"
        return
    assert day.stages["robocall_1"]["selected"] == payments, "every due payment was selected at 08:00"
    # the faults really happened: each lost answer and each cut left a placed call behind
    assert day.faults["answer_lost"] and day.faults["cut"] and day.worker_crashes


@pytest.mark.chaos(scenario=f"{SCENARIO} (60 payments)", invariant=INVARIANT)
def test_a_whole_day_under_every_provider_fault(aws: str, conn: psycopg2.extensions.connection,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    day = _run_fault_day(conn, monkeypatch, payments=60, seed=7)
    _check(day, 60)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23, 42])
@pytest.mark.chaos(scenario=f"{SCENARIO} (60 payments, other fault draws)", invariant=INVARIANT)
def test_the_same_day_under_other_fault_draws(aws: str, conn: psycopg2.extensions.connection,
                                              monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    day = _run_fault_day(conn, monkeypatch, payments=60, seed=seed)
    _check(day, 60)
