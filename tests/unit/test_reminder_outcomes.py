"""Provider statuses → the ledger: a progress status reads and writes nothing; a final status is one
conditional write when the send recorded the provider's id, and binds the entry when it did not."""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib.reminders.outcomes import CallbackRef, apply_robocall_status, apply_whatsapp_status
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus, Outcome
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone

WHATSAPP = StageRun(Zone.WIB, date(2026, 11, 20), Stage.WHATSAPP)
ROBOCALL = StageRun(Zone.WIT, date(2026, 11, 20), Stage.ROBOCALL_2)


class CountingStore:
    """The in-memory store, recording which of its methods a callback used."""

    def __init__(self) -> None:
        self.inner = MemoryReminderStore()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


def _placed(store: Any, run: StageRun, payment_id: int, provider_id: str) -> None:
    store.claim(run, payment_id)
    store.settle(run, payment_id, EntryStatus.PLACED, attempts=1, provider_id=provider_id)
    store.calls.clear()


def _no_database() -> Any:
    raise AssertionError("only a successful call opens a database connection")


def test_progress_statuses_read_nothing_and_a_final_status_is_one_write() -> None:
    store = CountingStore()
    _placed(store, WHATSAPP, 1, "wamid-1")
    assert apply_whatsapp_status(store, CallbackRef(1, WHATSAPP), "wamid-1", "sent") is None
    assert store.calls == []
    assert apply_whatsapp_status(store, CallbackRef(1, WHATSAPP), "wamid-1", "delivered") == Outcome.SUCCEEDED
    assert store.calls == ["record_outcome"]
    _placed(store, ROBOCALL, 2, "call-2")
    for status in ("started", "ringing", "answered"):
        assert apply_robocall_status(_no_database, store, CallbackRef(2, ROBOCALL), "call-2", status) is None
    assert store.calls == []
    assert apply_robocall_status(_no_database, store, CallbackRef(2, ROBOCALL), "call-2", "busy") == Outcome.FAILED
    assert store.calls == ["record_outcome"]


def test_the_final_status_binds_an_entry_whose_answer_was_lost_and_the_first_final_wins() -> None:
    store = MemoryReminderStore()
    ref = CallbackRef(3, WHATSAPP)
    store.claim(WHATSAPP, 3)
    store.settle(WHATSAPP, 3, EntryStatus.UNCERTAIN, attempts=1, error="answer lost")
    assert apply_whatsapp_status(store, ref, "wamid-3", "sent") is None
    assert store.get(WHATSAPP, 3).status == EntryStatus.UNCERTAIN  # a progress status changes nothing
    assert apply_whatsapp_status(store, ref, "wamid-3", "read") == Outcome.SUCCEEDED
    entry = store.get(WHATSAPP, 3)
    assert (entry.status, entry.provider_id, entry.outcome) == (EntryStatus.PLACED, "wamid-3", Outcome.SUCCEEDED)
    assert apply_whatsapp_status(store, ref, "wamid-3", "failed") is None       # later final: changes nothing
    assert apply_whatsapp_status(store, ref, "wamid-other", "failed") is None   # another id: not ours
    assert store.get(WHATSAPP, 3).outcome == Outcome.SUCCEEDED
    assert apply_whatsapp_status(store, CallbackRef(99, WHATSAPP), "wamid-99", "read") is None  # never sent
    assert store.get(WHATSAPP, 99) is None
