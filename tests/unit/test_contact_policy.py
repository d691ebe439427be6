"""The send-time check and the windows, against the rule's source.

- POJK 22/2023 Pasal 62 ayat (2) huruf f: 08:00-20:00 in the consumer's local time, Monday to
  Saturday, not on national holidays;
- SEOJK 19/2023 (P2P lending): the 08:00-20:00 window in the zone of the borrower's address;
- Meta's WhatsApp Business policy: an opt-out request is honoured (for WhatsApp);
- the source schema (report 000): ``loan.is_ignore_calls`` is the borrower's refusal of calls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.contact_policy import ContactHours, ContactPolicy, Reason, ReplayClock, Send
from chalicelib.contact_policy.clock import clock_from_setting
from chalicelib.reminders.contact import slots_outside_hours
from chalicelib.settings import DispatchSettings, SettingError, StageSettings
from chalicelib.zones import Zone

FRIDAY = date(2026, 11, 20)
POLICY = ContactPolicy()


def at(zone: Zone, day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=zone.tzinfo).astimezone(UTC)


@given(st.sampled_from(list(Zone)), st.integers(min_value=0, max_value=24 * 3600 - 1))
def test_a_send_is_allowed_exactly_between_08_00_and_20_00_local(zone: Zone, second: int) -> None:
    now = at(zone, FRIDAY, 0) + timedelta(seconds=second)
    decision = POLICY.may_send(Send(zone, FRIDAY, "robocall"), now)
    local = now.astimezone(zone.tzinfo).time()
    assert decision.allowed is (time(8) <= local < time(20))
    if not decision.allowed:
        assert decision.reason is Reason.OUTSIDE_HOURS


def test_the_window_is_the_borrowers_zone_not_jakarta() -> None:
    """SEOJK 19/2023: the zone of the borrower's address. 07:30 WIB is 09:30 WIT."""
    instant = at(Zone.WIB, FRIDAY, 7, 30)
    assert POLICY.may_send(Send(Zone.WIT, FRIDAY, "robocall"), instant).allowed
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "robocall"), instant).reason is Reason.OUTSIDE_HOURS
    late = at(Zone.WIB, FRIDAY, 18, 30)  # 20:30 WIT
    assert POLICY.may_send(Send(Zone.WIT, FRIDAY, "whatsapp"), late).reason is Reason.OUTSIDE_HOURS


def test_no_send_on_a_sunday_or_a_holiday_even_in_hours() -> None:
    sunday, holiday = date(2026, 12, 6), date(2026, 8, 17)
    assert POLICY.may_send(Send(Zone.WIB, sunday, "robocall"), at(Zone.WIB, sunday, 10)).reason is Reason.SUNDAY
    decision = POLICY.may_send(Send(Zone.WITA, holiday, "whatsapp"), at(Zone.WITA, holiday, 10))
    assert decision.reason is Reason.NATIONAL_HOLIDAY and "Kemerdekaan" in decision.detail


def test_a_send_planned_for_one_day_never_goes_out_the_next_morning() -> None:
    """A chunk redelivered after midnight: 09:00 on Saturday is allowed hours, but not the planned day."""
    decision = POLICY.may_send(Send(Zone.WIB, FRIDAY, "robocall"), at(Zone.WIB, FRIDAY + timedelta(days=1), 9))
    assert decision.reason is Reason.NOT_PLANNED_DAY


def test_opt_out_and_do_not_call_apply_to_their_channels_only() -> None:
    now = at(Zone.WIB, FRIDAY, 13)
    opted = frozenset({"whatsapp"})
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "whatsapp", opted_out=opted), now).reason is Reason.OPTED_OUT
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "robocall", opted_out=opted), now).allowed
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "robocall", do_not_call=True), now).reason is Reason.DO_NOT_CALL
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "whatsapp", do_not_call=True), now).allowed
    calls_off = frozenset({"calls"})
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "robocall", opted_out=calls_off), now).reason is Reason.OPTED_OUT
    assert POLICY.may_send(Send(Zone.WIB, FRIDAY, "sms"), now).allowed  # a new channel plugs in as it is


def test_a_late_stage_gets_only_what_is_left_before_20_00() -> None:
    start, end = at(Zone.WIB, FRIDAY, 19), at(Zone.WIB, FRIDAY, 21)  # a window that runs past 20:00
    assert POLICY.window_left(Zone.WIB, FRIDAY, start, end, start) == (start, at(Zone.WIB, FRIDAY, 20))
    assert POLICY.window_left(Zone.WIB, FRIDAY, start, end, at(Zone.WIB, FRIDAY, 19, 50)) == (
        at(Zone.WIB, FRIDAY, 19, 50), at(Zone.WIB, FRIDAY, 20))
    assert POLICY.window_left(Zone.WIB, FRIDAY, start, end, at(Zone.WIB, FRIDAY, 21, 33)) is None
    early = at(Zone.WIB, FRIDAY, 6)  # a trigger that fires before 08:00 waits for 08:00
    assert POLICY.window_left(Zone.WIB, FRIDAY, early, end, early)[0] == at(Zone.WIB, FRIDAY, 8)
    sunday = date(2026, 12, 6)
    assert POLICY.window_left(Zone.WIB, sunday, at(Zone.WIB, sunday, 8), at(Zone.WIB, sunday, 10),
                              at(Zone.WIB, sunday, 8)) is None


def test_contact_hours_setting_and_cold_start_check() -> None:
    hours = ContactHours.parse("08:00-20:00,WIT=09:00-19:00")
    assert str(hours.window(Zone.WIB)) == "08:00-20:00" and str(hours.window(Zone.WIT)) == "09:00-19:00"
    for bad in ("8-20", "20:00-08:00", "08:00-20:00,MARS=08:00-09:00", "WIT=08:00-20:00", "25:00-26:00"):
        with pytest.raises(ValueError):
            ContactHours.parse(bad)
    assert slots_outside_hours("08:00-20:00") == []
    assert slots_outside_hours("08:30-20:00") == [f"{z} robocall_1 08:00-10:00" for z in ("WIB", "WITA", "WIT")]
    for cls in (StageSettings, DispatchSettings):
        with pytest.raises(SettingError, match="stage slots outside CONTACT_HOURS"):
            cls.load({"DATABASE_URL": "postgresql://x", "CONTACT_HOURS": "09:00-20:00", **_dispatch_required()})
        with pytest.raises(SettingError, match="CONTACT_HOURS"):
            cls.load({"DATABASE_URL": "postgresql://x", "CONTACT_HOURS": "whenever", **_dispatch_required()})


def _dispatch_required() -> dict[str, str]:
    return {"REMINDER_CALLBACK_BASE_URL": "https://api.example.co.id", "VOICE_FROM_NUMBER": "6281100000001",
            "WHATSAPP_PHONE_NUMBER_ID": "100000000000001", "VONAGE_APPLICATION_ID": "app",
            "VONAGE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----x", "WHATSAPP_API_TOKEN": "t",
            "VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s", "CALLBACK_REFERENCE_KEY": "k" * 32}


def test_replay_clock_starts_each_scene_at_its_slot_and_can_be_anchored(tmp_path) -> None:
    clock = clock_from_setting(f"replay:{tmp_path / 'clock.json'}")
    assert isinstance(clock, ReplayClock)
    slot = at(Zone.WIB, FRIDAY, 10)
    first = clock.now("WIB#2026-11-20#robocall_2", slot)
    assert timedelta(0) <= first - slot < timedelta(seconds=5)
    clock.anchor("WIB#2026-11-20#whatsapp", at(Zone.WIB, FRIDAY, 19, 50), rate=60.0)
    later = clock.now("WIB#2026-11-20#whatsapp", at(Zone.WIB, FRIDAY, 13))
    assert at(Zone.WIB, FRIDAY, 19, 50) <= later < at(Zone.WIB, FRIDAY, 19, 56)
    with pytest.raises(ValueError):
        clock_from_setting("tomorrow")
