"""Small pure pieces: templates, money formatting, capacity, rate limiting, signatures, outcome mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import indonesian
from chalicelib.contact_policy import ContactPolicy
from chalicelib.reminders import capacity, templates
from chalicelib.reminders.outcomes import CallbackRef, robocall_outcome, whatsapp_outcome
from chalicelib.reminders.providers import international
from chalicelib.reminders.ratelimit import RateLimiter
from chalicelib.reminders.signatures import sign, verify
from chalicelib.reminders.stages import Stage, StageRun, slot_utc, window_end_utc
from chalicelib.settings import StageSettings
from chalicelib.zones import Zone


@given(st.integers(min_value=0, max_value=10**15))
def test_rupiah_format_round_trips(amount):
    text = indonesian.thousands(amount)
    assert int(text.replace(".", "")) == amount
    assert all(len(group) == 3 for group in text.split(".")[1:])


def test_pede_has_its_own_script_and_template():
    pede, julo = templates.templates_for("PEDE"), templates.templates_for("JULO")
    assert pede.whatsapp_template != julo.whatsapp_template and pede.robocall_script != julo.robocall_script
    assert templates.templates_for(None) == julo and templates.templates_for("UNKNOWN") == julo
    for family in (pede, julo):  # the approved body has exactly the variables we send
        params = templates.whatsapp_parameters("Siti", 1_250_000, date(2026, 11, 23), 77, "BCA", "1099412345678")
        assert templates.placeholders(family.whatsapp_body) == len(params)
        assert "Virtual Account" in family.whatsapp_body
    assert templates.whatsapp_parameters("Siti", 1_250_000, date(2026, 11, 23), 77, None, None)[3:5] == ["JULO", "-"]
    text = templates.robocall_text("PEDE", "Siti", 1_250_000, date(2026, 11, 23))
    assert "Ponsel Duit" in text and "1.250.000 rupiah" in text and "23 November 2026" in text


@given(st.sampled_from(list(Zone)), st.sampled_from(list(Stage)), st.floats(min_value=0.01, max_value=500),
       st.integers(min_value=-3 * 3600, max_value=14 * 3600))
def test_capacity_never_exceeds_the_time_left_of_the_window_and_a_late_stage_gets_only_the_rest(zone, stage, rate,
                                                                                                offset):
    """A stage that starts late (a delayed trigger, a replay, a retry) gets only what is left of its window;
    12 hours late, nothing (POJK 22/2023 Pasal 62 ayat (2) huruf f: no contact after 20:00 local)."""
    day = date(2026, 11, 20)
    start, end = slot_utc(zone, day, stage), window_end_utc(zone, day, stage)
    now = start + timedelta(seconds=offset)
    window = ContactPolicy().window_left(zone, day, start, end, now)
    plan = capacity.plan(window, stage.channel, StageSettings(), rate=rate)
    assert 0 <= plan.capacity <= max(0.0, (end - max(now, start)).total_seconds()) * rate
    if now >= end:
        assert plan.window_seconds == 0 and plan.capacity == 0
    if offset >= 12 * 3600:
        assert plan.capacity == 0


def test_capacity_at_one_call_per_second_is_under_two_hours_of_calls():
    day = date(2026, 11, 20)
    start, end = slot_utc(Zone.WIB, day, Stage.ROBOCALL_1), window_end_utc(Zone.WIB, day, Stage.ROBOCALL_1)
    window = ContactPolicy().window_left(Zone.WIB, day, start, end, datetime(2026, 11, 1, tzinfo=UTC))
    plan = capacity.plan(window, Stage.ROBOCALL_1.channel, StageSettings(), rate=1.0)
    assert plan.window_seconds == 7200 and plan.capacity == 6480  # 90% of 2 h at 1 call/s


def test_rate_limiter_spaces_calls_evenly():
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(9):
        limiter.acquire()
    assert now[0] == pytest.approx(102.0)  # 9 calls at 4/s: the last one 2 s after the first
    with pytest.raises(ValueError):
        RateLimiter(0)


@given(st.binary(max_size=512), st.binary(min_size=1, max_size=16))
def test_signatures_verify_only_the_exact_body(body, extra):
    header = sign("s3cret", body)
    assert verify("s3cret", body, header)
    assert not verify("s3cret", body + extra, header)
    assert not verify("other", body, header)
    assert not verify("s3cret", body, None) and not verify("", body, sign("", body))


def test_outcome_mapping():
    assert robocall_outcome("human") == "succeeded"
    for failure in ("machine", "busy", "unanswered", "timeout", "failed", "rejected", "cancelled"):
        assert robocall_outcome(failure) == "failed"
    for progress in ("started", "ringing", "answered", "completed"):
        assert robocall_outcome(progress) is None
    assert whatsapp_outcome("read") == "succeeded" and whatsapp_outcome("failed") == "failed"
    assert whatsapp_outcome("sent") is None


def test_callback_reference_round_trip_and_phone_format():
    ref = CallbackRef(400123, StageRun(Zone.WITA, date(2026, 11, 20), Stage.ROBOCALL_2, 1))
    assert CallbackRef.decode(ref.encode()) == ref
    assert CallbackRef.decode("400123|2026-11-20|robocall_2|WITA") == CallbackRef(400123, ref.run.with_attempt(0))
    with pytest.raises(ValueError):
        CallbackRef.decode("1|2026-11-20|robocall_9|WIB")
    assert international("0812-3456-7890") == "6281234567890" and international("+62812") == "62812"
