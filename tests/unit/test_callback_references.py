"""Our callback references carry our own HMAC: any change to the reference, a MAC made with another
key, or no MAC at all is refused; a rotation's previous key still verifies. A provider id bound to
one entry never binds another; a Vonage token id is accepted once for its acceptance window."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef, ProviderIdTaken, apply_whatsapp_status, bound_entry
from chalicelib.reminders.replay import MemoryReplayCache, vonage_token_key
from chalicelib.reminders.signatures import VONAGE_MAX_AGE_SECONDS
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus, Outcome
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone

KEY = "unit-callback-reference-key-0123456789abcdef"
OLD_KEY = "unit-callback-reference-key-before-rotation"
RUN = StageRun(Zone.WITA, date(2026, 11, 20), Stage.ROBOCALL_2, 1)
WHATSAPP = StageRun(Zone.WIB, date(2026, 11, 20), Stage.WHATSAPP)

refs = st.builds(lambda pid, zone, stage, attempt: CallbackRef(pid, StageRun(zone, date(2026, 11, 20), stage,
                                                                            attempt)),
                 st.integers(1, 2**62), st.sampled_from(list(Zone)), st.sampled_from(list(Stage)), st.integers(0, 9))


@given(refs)
def test_a_signed_reference_verifies_to_itself(ref):
    signed = references.sign(ref, KEY)
    assert references.verify(signed, [KEY]) == ref
    assert references.unverified(signed) == ref
    assert len(signed) <= 100 and signed.isascii()  # Vonage SMS takes a client-ref of 100 characters at most


@given(refs, refs)
def test_another_payments_reference_with_this_mac_is_refused(ref, other):
    """The old attack: keep the genuine MAC, change the payment (or anything else) in the reference."""
    signed = references.sign(ref, KEY)
    forged = other.encode() + "|" + signed.rsplit("|", 1)[1]
    if other == ref:
        assert references.verify(forged, [KEY]) == ref
    else:
        with pytest.raises(references.InvalidReference):
            references.verify(forged, [KEY])


@given(refs, st.integers(0, 200), st.characters(codec="utf-8"))
def test_any_changed_character_is_refused(ref, position, char):
    signed = references.sign(ref, KEY)
    i = position % len(signed)
    changed = signed[:i] + char + signed[i + 1:]
    if changed == signed:
        return
    with pytest.raises((references.InvalidReference, ValueError)):
        assert references.verify(changed, [KEY]) != ref


def test_unsigned_and_foreign_references_are_refused():
    ref = CallbackRef(400123, RUN)
    for text in (ref.encode(), "400123|2026-11-20|robocall_2|WITA", "", "x|y", "a" * 5000,
                 references.sign(ref, "a-key-that-is-not-ours-0123456789abc"),
                 references.sign(ref, KEY) + "x", "é" * 50):
        with pytest.raises(references.InvalidReference):
            references.verify(text, [KEY])


def test_the_previous_key_verifies_during_a_rotation_and_no_key_verifies_nothing():
    ref = CallbackRef(7, RUN)
    before = references.sign(ref, OLD_KEY)
    assert references.verify(before, [KEY, OLD_KEY]) == ref
    with pytest.raises(references.InvalidReference):
        references.verify(before, [KEY])
    with pytest.raises(references.ReferenceKeyMissing):
        references.verify(references.sign(ref, KEY), [])
    with pytest.raises(references.ReferenceKeyMissing):
        references.sign(ref, "")


def _placed(store: MemoryReminderStore, run: StageRun, payment_id: int, provider_id: str | None) -> None:
    assert store.claim(run, payment_id).fresh
    if provider_id is None:
        store.settle(run, payment_id, EntryStatus.UNCERTAIN, attempts=1, error="read timeout")
    else:
        store.settle(run, payment_id, EntryStatus.PLACED, attempts=1, provider_id=provider_id)


def test_a_provider_id_bound_to_one_entry_never_binds_another():
    store = MemoryReminderStore()
    _placed(store, RUN, 101, "call-101")
    _placed(store, RUN, 202, None)  # answer lost: a genuine callback may bind it
    with pytest.raises(ProviderIdTaken):
        bound_entry(store, CallbackRef(202, RUN), "call-101")
    assert store.get(RUN, 202).provider_id is None and store.get(RUN, 202).status == EntryStatus.UNCERTAIN
    assert bound_entry(store, CallbackRef(202, RUN), "call-202").provider_id == "call-202"  # its own call


def test_a_cross_bound_status_on_a_placed_entry_is_refused_and_changes_nothing():
    store = MemoryReminderStore()
    _placed(store, WHATSAPP, 101, "wamid.101")
    _placed(store, WHATSAPP, 202, "wamid.202")
    with pytest.raises(ProviderIdTaken):
        apply_whatsapp_status(store, CallbackRef(202, WHATSAPP), "wamid.101", "read")
    assert store.get(WHATSAPP, 202).outcome is None and store.get(WHATSAPP, 101).outcome is None
    assert apply_whatsapp_status(store, CallbackRef(101, WHATSAPP), "wamid.101", "read") == Outcome.SUCCEEDED


def test_a_token_is_accepted_once_for_its_window_and_again_after_a_release():
    cache = MemoryReplayCache()
    now = int(time.time())
    key, until = vonage_token_key({"jti": "0b1e4a3c", "iat": now})
    assert until == now + VONAGE_MAX_AGE_SECONDS + 60
    assert cache.first_use(key, until)
    assert not cache.first_use(key, until)
    cache.release(key)  # the callback failed (5xx): the provider's retry may carry the same token
    assert cache.first_use(key, until)
    other, _ = vonage_token_key({"jti": "x" * 5000, "iat": now})
    assert len(other) < 200 and cache.first_use(other, until)
