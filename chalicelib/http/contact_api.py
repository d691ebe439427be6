"""Staff routes of the contact policy's data (staff ``x-api-key``); each change is audited with the
key, the time and the reason given.

- ``GET /v1/crm/contact-preferences?phone=<digits>`` → ``{"phone", "whatsapp": "allowed"|"opted_out",
  "sms": "allowed"|"opted_out", "calls": "allowed"|"ignored", "changed_at", "source"}``;
- ``PUT /v1/crm/contact-preferences?phone=<digits>`` body ``{"whatsapp"?, "sms"?, "calls"?, "reason"}``: set
  (``opted_out`` / ``ignored``) or clear (``allowed``); answers the preference as GET does;
- ``GET /v1/crm/payments/{payment_id}/contacts``: the payment's contact history (every attempt and
  every policy skip, oldest first);
- ``GET /v1/crm/contact-calendar?year=YYYY``: the decreed days of the year (cuti bersama, corrections)
  and the ``holidays`` library's national holidays, for reference;
- ``PUT /v1/crm/contact-calendar/{day}`` body ``{"kind", "name", "source", "reason"}``;
  ``DELETE /v1/crm/contact-calendar/{day}?reason=...``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice import Blueprint

from chalicelib.bounds import MAX_INT
from chalicelib.contact_data import calendar_days, history, preferences
from chalicelib.contact_policy.calendar import library_holidays
from chalicelib.http.errors import ApiError, BadRequest
from chalicelib.http.routes import Call, staff_route, staff_write_route

contact_api = Blueprint(__name__)
MIN_YEAR, MAX_YEAR = 2000, 2100


def _phone(call: Call) -> str:
    phone = call.params.text("phone", max_chars=32)
    if phone is None:
        raise BadRequest("phone is required", code="invalid_parameter")
    return preferences.parse_phone(phone)


@staff_route(contact_api, "/v1/crm/contact-preferences", params=("phone",))
def get_preference(call: Call) -> dict[str, Any]:
    return preferences.preference(call.conn, _phone(call))


@staff_write_route(contact_api, "/v1/crm/contact-preferences", "PUT", params=("phone",))
def set_preference(call: Call) -> dict[str, Any]:
    phone = _phone(call)
    changes = preferences.parse_changes(call.body)
    preferences.change(call.conn, phone, changes, source="staff", reason=call.body.get("reason"),  # type: ignore[arg-type]
                       api_key_id=call.principal.api_key_id)
    return preferences.preference(call.conn, phone)


@staff_route(contact_api, "/v1/crm/payments/{payment_id}/contacts")
def payment_contacts(call: Call) -> dict[str, Any]:
    raw = call.uri_params.get("payment_id", "")
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_INT):
        raise BadRequest(f"payment_id must be an integer between 1 and {MAX_INT}", code="invalid_parameter")
    return {"payment_id": int(raw), "contacts": history.of_payment(call.conn, int(raw))}


def _day(call: Call) -> date:
    raw = call.uri_params.get("day", "")
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        raise BadRequest(f"day must be a date YYYY-MM-DD from {MIN_YEAR} to {MAX_YEAR}", code="invalid_parameter")
    return day


@staff_route(contact_api, "/v1/crm/contact-calendar", params=("year",))
def get_calendar(call: Call) -> dict[str, Any]:
    year = call.params.integer("year", minimum=MIN_YEAR, maximum=MAX_YEAR)
    if year is None:
        raise BadRequest("year is required", code="invalid_parameter")
    rows = calendar_days.decreed_days(call.conn, date(year, 1, 1), date(year, 12, 31))
    return {"year": year, "decreed": [r.as_dict() for r in rows],
            "national_holidays": [{"day": d.isoformat(), "name": n, "source": "holidays library"}
                                  for d, n in sorted(library_holidays(year).items())]}


@staff_write_route(contact_api, "/v1/crm/contact-calendar/{day}", "PUT")
def set_calendar_day(call: Call) -> dict[str, Any]:
    return calendar_days.set_day(call.conn, _day(call), dict(call.body), call.principal.api_key_id).as_dict()


@staff_write_route(contact_api, "/v1/crm/contact-calendar/{day}", "DELETE", params=("reason",))
def clear_calendar_day(call: Call) -> dict[str, Any]:
    day = _day(call)
    reason = call.params.text("reason", max_chars=calendar_days.MAX_REASON)
    if reason is None:
        raise BadRequest("reason is required", code="invalid_parameter")
    if not calendar_days.clear_day(call.conn, day, reason, call.principal.api_key_id):
        raise ApiError(f"no decreed day on {day}", code="not_found", status=404)
    return {"day": day.isoformat(), "cleared": True}
