"""The repayment calendar (.ics) and its email: parsed back by icalendar and by vobject."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta

import pytest
import vobject
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from chalicelib.emails.mime import ICS_FILENAME, Recipient, build_repayment_email
from chalicelib.indonesian import format_rupiah
from chalicelib.products import ProductFamily
from chalicelib.repayment_calendar import CalendarLoan, Installment, People, calendar_bytes, uid_for
from chalicelib.zones import Zone

STAMP = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)

PEOPLE = People(organizer_email="no-reply@example.co.id", attendee_email="s@x.id", attendee_name="Siti Lestari")


def loan(family: ProductFamily = ProductFamily.JULO, bank: str = "BCA", zone: Zone = Zone.WIB, n: int = 3):
    return CalendarLoan(
        loan_id=3_000_001, product_family=family, julo_bank_name=bank, virtual_account="109948123456789",
        zone=zone,
        installments=tuple(Installment(40_000_000 + i, i, date(2026, 12, 1) + timedelta(days=31 * (i - 1)),
                                       1_250_000 + i) for i in range(1, n + 1)),
    )


def test_icalendar_reads_one_event_per_installment_with_alarm():
    subject = loan()
    cal = Calendar.from_ical(calendar_bytes(subject, STAMP, PEOPLE))
    assert "METHOD" not in cal and str(cal["VERSION"]) == "2.0"  # RFC 5546 PUBLISH forbids ATTENDEE
    assert "JULO" in str(cal["PRODID"])
    events = cal.walk("VEVENT")
    assert len(events) == 3
    for item, ev in zip(subject.installments, events, strict=True):
        assert str(ev["UID"]) == uid_for(item.payment_id)
        start = ev.decoded("DTSTART")
        assert start == datetime(item.due_date.year, item.due_date.month, item.due_date.day, 2, 0, tzinfo=UTC)
        assert ev.decoded("DTEND") - start == timedelta(minutes=30)
        assert ev.decoded("DTSTAMP") == STAMP
        assert format_rupiah(item.due_amount) in str(ev["SUMMARY"])
        description = str(ev["DESCRIPTION"])
        assert "109948123456789" in description and "m-BCA" in description
        alarms = ev.walk("VALARM")
        assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == timedelta(days=-1)
        assert str(alarms[0]["ACTION"]) == "DISPLAY"


def test_raw_text_uses_utc_and_no_tzid():
    text = calendar_bytes(loan(zone=Zone.WIT), STAMP, PEOPLE).decode()
    assert "TZID" not in text and "VTIMEZONE" not in text
    assert "DTSTART:20261201T000000Z" in text  # 09:00 WIT is 00:00 UTC
    assert "TRIGGER:-P1D" in text
    assert "\r\n" in text


def test_vobject_reads_the_same_calendar():
    subject = loan(n=4)
    parsed = vobject.readOne(calendar_bytes(subject, STAMP, PEOPLE).decode())
    assert not hasattr(parsed, "method")
    events = list(parsed.vevent_list)
    assert [e.uid.value for e in events] == [uid_for(i.payment_id) for i in subject.installments]
    assert [e.dtstart.value.astimezone(UTC).date() for e in events] == [i.due_date for i in subject.installments]
    assert all(e.valarm.trigger.value == timedelta(days=-1) for e in events)


def test_uid_is_stable_across_builds():
    first = Calendar.from_ical(calendar_bytes(loan(), STAMP, PEOPLE))
    second = Calendar.from_ical(calendar_bytes(loan(), STAMP + timedelta(days=1), PEOPLE))
    assert [str(e["UID"]) for e in first.walk("VEVENT")] == [str(e["UID"]) for e in second.walk("VEVENT")]


def test_templates_follow_bank_and_product():
    pede = Calendar.from_ical(calendar_bytes(loan(ProductFamily.PEDE, "Permata"), STAMP, PEOPLE)).walk("VEVENT")[0]
    assert str(pede["SUMMARY"]).startswith("Tagihan Ponsel Duit ke-1: Rp 1.250.001")
    assert "Indomaret" in str(pede["DESCRIPTION"])
    bri = Calendar.from_ical(calendar_bytes(loan(ProductFamily.JULO, "BRI"), STAMP, PEOPLE)).walk("VEVENT")[0]
    assert "BRIVA" in str(bri["DESCRIPTION"])
    other = Calendar.from_ical(calendar_bytes(loan(ProductFamily.JULO, "Permata"), STAMP, PEOPLE)).walk("VEVENT")[0]
    assert "Virtual Account Permata 109948123456789" in str(other["DESCRIPTION"])
    assert "1 Desember 2026" in str(other["DESCRIPTION"])


def test_email_mime_structure():
    subject = loan()
    ics = calendar_bytes(subject, STAMP, PEOPLE)
    msg = build_repayment_email(sender="no-reply@example.co.id", recipient=Recipient("Siti <Lestari>", "s@x.id"),
                                loan=subject, disburse_amount=2_850_000, ics=ics, sent_at=STAMP)
    parsed = email.message_from_bytes(msg.as_bytes())
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert "Rp 2.850.000" in plain.get_payload(decode=True).decode()
    html_text = html.get_payload(decode=True).decode()
    assert "Siti &lt;Lestari&gt;" in html_text and "Rp 1.250.003" in html_text
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") is None
    assert attachment.get_filename() == ICS_FILENAME
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_payload(decode=True) == ics
    assert parsed["To"] == '"Siti <Lestari>" <s@x.id>'


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_rupiah_format_round_trips_and_groups_by_three(amount):
    text = format_rupiah(amount)
    sign = -1 if text.startswith("-") else 1
    digits = text.removeprefix("-").removeprefix("Rp ")
    groups = digits.split(".")
    assert all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3
    assert sign * int(digits.replace(".", "")) == amount
    assert text.startswith("-Rp " if amount < 0 else "Rp ")


def test_rupiah_examples_and_type_guard():
    assert format_rupiah(1_250_000) == "Rp 1.250.000"
    assert format_rupiah(0) == "Rp 0"
    assert format_rupiah(999) == "Rp 999"
    with pytest.raises(TypeError):
        format_rupiah(1250.0)  # type: ignore[arg-type]


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 12, 31)), st.sampled_from(list(Zone)),
       st.integers(min_value=0, max_value=10**11))
def test_event_is_on_the_due_date_in_the_borrowers_zone(due, zone, amount):
    subject = CalendarLoan(3, ProductFamily.JULO, "BNI", "8277123", zone, (Installment(9, 1, due, amount),))
    (ev,) = Calendar.from_ical(calendar_bytes(subject, STAMP, PEOPLE)).walk("VEVENT")
    start = ev.decoded("DTSTART")
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    local = start.astimezone(zone.tzinfo)
    assert local.date() == due and local.hour == 9
    assert ev.decoded("DTEND") > start
    assert format_rupiah(amount) in str(ev["SUMMARY"])
