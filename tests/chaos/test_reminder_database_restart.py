"""Chaos: the database restarts between two stages and in the middle of two more (after the stage
worker enqueued, before dispatch). On its own PostgreSQL server, started and stopped here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import psycopg2
import pytest

from chalicelib import db
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.pg_instance import PgInstance
from tests.chaos.reminder_support import Day, assert_summary_adds_up, called_twice
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)


@pytest.fixture
def own_database(monkeypatch) -> Iterator[PgInstance]:
    pg = PgInstance().start()
    admin = psycopg2.connect(pg.url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE julo")
    admin.close()
    conn = psycopg2.connect(pg.url("julo"))
    db.migrate(conn)
    make_partner(conn, 1, "Lendana P2P")
    for i in range(4):
        make_loan(conn, postcode="10110", phone=f"08140000{i:04d}", due_dates=[date(2026, 11, 23)])
    conn.commit()
    conn.close()
    monkeypatch.setenv("DATABASE_URL", pg.url("julo"))
    yield pg
    pg.stop()


@pytest.mark.slow
@pytest.mark.chaos(scenario="database restart between and during stages",
                   invariant="no stage or chunk fails for it (nothing waits for a redelivery or a heartbeat); "
                             "no (payment, stage) called twice; execution SUCCEEDED")
def test_a_database_restart_between_and_during_stages_costs_no_redelivery(aws, own_database) -> None:
    bootstrap()
    with LocalReminderStack() as stack:
        for i in range(4):
            stack.voice.force_outcome("62" + f"08140000{i:04d}"[1:], "busy")
        day = Day(stack, BUSINESS_DATE)
        day.start()
        day.run_stage_normally("robocall_1")
        own_database.restart()                                 # between stages
        day.run_stage_normally("robocall_2")
        assert day.stage_failures == 0, "the first stage message after the restart failed (back after 900 s)"
        for stage in ("robocall_3", "whatsapp"):               # during: after enqueue, before dispatch
            day.send_stage_message(day.take_stage_message(stage))
            day.deliver_stage()
            own_database.restart()
            day.drain_dispatch()
            assert day.dispatch_failures == 0, f"a {stage} chunk failed on the restarted database"
        execution = day.finish()
        twice = called_twice(stack)
    assert (day.stage_failures, day.dispatch_failures) == (0, 0)
    assert execution["status"] == "SUCCEEDED" and twice == {}
    assert_summary_adds_up(execution)
