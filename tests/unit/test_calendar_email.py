"""The repayment-calendar email as mail readers see it: Python's email parser and Mozilla's
ical.js (the parser Thunderbird uses) both read it; it has a Date, a one-line Message-ID, and
every event names the sender as ORGANIZER and the borrower as ATTENDEE."""

from __future__ import annotations

import email
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.utils import parsedate_to_datetime

import pytest
from icalendar import Calendar

from chalicelib.emails.mime import Recipient, build_repayment_email
from chalicelib.products import ProductFamily
from chalicelib.repayment_calendar import CalendarLoan, Installment, People, calendar_bytes
from chalicelib.zones import Zone
from tests.node_tools import node_dir

SENT_AT = datetime(2026, 11, 20, 3, 15, 42, tzinfo=UTC)
SENDER = "no-reply@julo.co.id"
BORROWER = Recipient("Siti Nurhaliza Wahyuningsih Kusumawardhani", "siti.nurhaliza.wahyuningsih@example.com")
LOAN = CalendarLoan(
    loan_id=3_000_001, product_family=ProductFamily.JULO, julo_bank_name="BCA", virtual_account="109948123456789",
    zone=Zone.WITA,
    installments=tuple(Installment(40_000_000 + i, i, date(2026, 12, 1) + timedelta(days=30 * (i - 1)), 1_250_000)
                       for i in range(1, 4)),
)


def _raw() -> bytes:
    people = People(organizer_email=SENDER, attendee_email=BORROWER.email, attendee_name=BORROWER.fullname)
    message = build_repayment_email(sender=SENDER, recipient=BORROWER, loan=LOAN, disburse_amount=2_850_000,
                                    ics=calendar_bytes(LOAN, SENT_AT, people), sent_at=SENT_AT)
    return message.as_bytes()  # what SesMailer sends


def _ics(raw: bytes) -> bytes:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    (part,) = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    return part.get_payload(decode=True)


def test_python_email_parser_reads_date_and_one_line_message_id():
    raw = _raw()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsedate_to_datetime(parsed["Date"]) == SENT_AT
    header_lines = raw.split(b"\n\n", 1)[0].split(b"\n")
    (line,) = [h for h in header_lines if h.lower().startswith(b"message-id:")]
    assert line.rstrip().endswith(b"@julo.co.id>") and b"<loan-3000001." in line  # all on one line
    assert parsed["Message-ID"] != email.message_from_bytes(_raw(), policy=policy.default)["Message-ID"]  # unique
    assert not parsed.defects and all(not p.defects for p in parsed.walk())


def test_every_event_has_organizer_sender_and_attendee_borrower():
    events = Calendar.from_ical(_ics(_raw())).walk("VEVENT")
    assert len(events) == 3
    for ev in events:
        assert str(ev["ORGANIZER"]) == f"mailto:{SENDER}" and ev["ORGANIZER"].params["CN"] == "JULO"
        attendee = ev["ATTENDEE"]
        assert str(attendee) == f"mailto:{BORROWER.email}"
        assert attendee.params["CN"] == BORROWER.fullname and attendee.params["RSVP"] == "FALSE"


ICAL_JS_READER = """
import ICAL from 'ical.js';
import fs from 'node:fs';
const comp = new ICAL.Component(ICAL.parse(fs.readFileSync(0, 'utf8')));
console.log(JSON.stringify(comp.getAllSubcomponents('vevent').map((v) => {
  const ev = new ICAL.Event(v);
  return {uid: ev.uid, start: ev.startDate.toJSDate().toISOString(), organizer: ev.organizer,
          attendees: ev.attendees.map((a) => [a.getFirstValue(), a.getParameter('cn')]),
          alarm: v.getFirstSubcomponent('valarm').getFirstPropertyValue('trigger').toString()};
})));
"""


def test_mozilla_ical_js_reads_the_attachment():
    folder = node_dir()
    script = folder / "read_ics.mjs"
    script.write_text(ICAL_JS_READER)
    done = subprocess.run(["node", str(script)], input=_ics(_raw()), capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    events = json.loads(done.stdout)
    assert [e["uid"] for e in events] == [f"payment-{40_000_000 + i}@repayment.julo.co.id" for i in range(1, 4)]
    assert events[0]["start"] == "2026-12-01T01:00:00.000Z"  # 09:00 WITA
    assert all(e["organizer"] == f"mailto:{SENDER}" for e in events)
    assert all(e["attendees"] == [[f"mailto:{BORROWER.email}", BORROWER.fullname]] for e in events)
    assert all(e["alarm"] == "-P1D" for e in events)


@pytest.mark.parametrize("sent_at", [datetime(2026, 11, 20, 3, 15)])
def test_naive_send_time_is_refused(sent_at):
    with pytest.raises(ValueError, match="timezone-aware"):
        build_repayment_email(sender=SENDER, recipient=BORROWER, loan=LOAN, disburse_amount=1, ics=b"",
                              sent_at=sent_at)
