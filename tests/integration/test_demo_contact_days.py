"""The demo's T-3 step on the days the issue names, as a newcomer runs them (strict: from the template).

- 2026-08-17, Independence Day (a national holiday, holidays library): zero provider requests,
  ``contact_day.allowed`` false and the reason names the holiday;
- 2026-08-15, the Saturday before it: requests for the payments due 18, 19 and 20 August (the T-3 of
  the 19th falls on Sunday 16, of the 20th on Monday 17), and ``covers_due_dates`` lists those dates;
- every ``calls.jsonl`` row: ``sent_local`` between 08:00 and 20:00 local on the business date itself.

Source: POJK 22/2023 Pasal 62 ayat (2) huruf f (Monday to Saturday, not on national holidays,
08:00-20:00 local).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

from chalicelib.reminders.contact import load_policy
from chalicelib.zones import Zone
from localdev.datagen.lending import load
from localdev.demo.context import DemoContext
from localdev.demo.reminders import step_t3_reminders

SATURDAY, HOLIDAY = date(2026, 8, 15), date(2026, 8, 17)


def _step(conn, tmp_path, day: date) -> tuple[dict, list[dict]]:
    out = tmp_path / day.isoformat()
    out.mkdir()
    step_t3_reminders(DemoContext(conn=conn, business_date=day, loans=300, seed=3, out_dir=out))
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()]
    return summary, rows


def test_the_demo_on_a_holiday_and_the_saturday_before_it(aws, conn, tmp_path) -> None:
    covered = load_policy(conn, SATURDAY).plan(Zone.WIB, SATURDAY).covers_due_dates
    load(conn, 300, 3, SATURDAY, due_dates=covered)
    summary, rows = _step(conn, tmp_path, HOLIDAY)
    assert rows == []
    assert summary["contact_day"] == {"allowed": False, "covers_due_dates": [],
                                      "reason": "national_holiday: Hari Kemerdekaan Republik Indonesia"}
    assert all(s["selected"] == 0 for z in summary["zones"].values() for s in z["stages"].values())

    summary, rows = _step(conn, tmp_path, SATURDAY)
    assert summary["contact_day"] == {"allowed": True, "reason": None,
                                      "covers_due_dates": ["2026-08-18", "2026-08-19", "2026-08-20"]}
    assert {r["due_date"] for r in rows} == {"2026-08-18", "2026-08-19", "2026-08-20"}
    for row in rows:
        sent = datetime.fromisoformat(row["sent_local"])
        assert sent.date() == SATURDAY and time(8) <= sent.time() < time(20), row
