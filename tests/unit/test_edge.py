"""The Lambda edge: backoff delays, the business clock, the SQS batch handler's failure handling."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.edge import clock
from chalicelib.edge.backoff import SQS_MAX_VISIBILITY_S, Backoff
from chalicelib.edge.schedule import ScheduledHandler
from chalicelib.edge.sqs import RecordContext, SqsBatchHandler, queue_url_of
from chalicelib.logs import get_logger
from chalicelib.zones import Zone

ARN = "arn:aws:sqs:ap-southeast-3:000000000000:disbursement-events"


class Poison(ValueError):
    pass


class FakeVisibility:
    def __init__(self) -> None:
        self.hidden: dict[str, int] = {}

    def hide(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        assert queue_arn == ARN
        self.hidden[receipt_handle] = seconds


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    return {"Records": [{
        "messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": ARN, "awsRegion": "ap-southeast-3",
    } for i, body in enumerate(bodies)]}


def _record(ctx: RecordContext) -> None:
    body = json.loads(ctx.body)
    if body == "poison":
        raise Poison("never")
    if body == "down":
        raise ConnectionError("the database is down")


def handler(visibility: FakeVisibility) -> SqsBatchHandler:
    return SqsBatchHandler("test", _record, logger=get_logger("test"), poison=(Poison,), visibility=visibility)


@given(st.integers(min_value=1, max_value=10_000))
def test_backoff_doubles_and_never_exceeds_the_sqs_limit(receive_count: int) -> None:
    backoff = Backoff()
    assert 0 < backoff.delay(receive_count) <= SQS_MAX_VISIBILITY_S
    assert backoff.delay(receive_count + 1) in (2 * backoff.delay(receive_count), SQS_MAX_VISIBILITY_S)


def test_ten_tries_span_more_than_four_hours() -> None:
    assert Backoff().covered(10) > 4 * 3600
    assert [Backoff().delay(n) for n in (1, 2, 3)] == [30, 60, 120]


def test_good_records_are_deleted_and_only_failed_ones_reported() -> None:
    visibility = FakeVisibility()
    answer = handler(visibility)(sqs_event('"ok"', '"poison"', '"down"', '"ok"'), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert visibility.hidden == {"r1": 0, "r2": 30}  # poison back at once, transient backs off


def test_a_batch_that_fails_entirely_is_still_a_partial_response() -> None:
    visibility = FakeVisibility()
    answer = handler(visibility)(sqs_event('"down"', receive_count=4), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert visibility.hidden == {"r0": 240}


def test_settings_are_loaded_once_per_container() -> None:
    loads: list[int] = []

    def settings() -> dict[str, int]:
        loads.append(1)
        return {"n": len(loads)}

    seen: list[int] = []
    edge = SqsBatchHandler("test", lambda ctx: seen.append(ctx.settings["n"]), logger=get_logger("test"),
                           settings=settings, visibility=FakeVisibility())
    edge(sqs_event('"a"', '"b"'), None)
    edge(sqs_event('"c"'), None)
    assert seen == [1, 1, 1] and len(loads) == 1


def test_queue_url_from_the_record_arn_in_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert queue_url_of(ARN) == "https://sqs.ap-southeast-3.amazonaws.com/000000000000/disbursement-events"


def test_schedule_time_is_parsed_one_way() -> None:
    assert clock.event_time({"time": "2026-11-19T23:00:00Z"}) == datetime(2026, 11, 19, 23, tzinfo=UTC)
    assert clock.event_time({"time": "2026-11-20T06:00:00+07:00"}) == datetime(2026, 11, 19, 23, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        clock.event_time({"time": "2026-11-19T23:00:00"})


def test_business_date_is_the_zones_local_date_unless_given() -> None:
    fired = {"time": "2026-11-19T23:30:00Z"}
    assert clock.business_date(fired, Zone.WIB) == date(2026, 11, 20)  # 06:30 WIB
    assert clock.business_date({**fired, "business_date": "2026-11-01"}, Zone.WIB) == date(2026, 11, 1)
    assert clock.business_date({}, Zone.WIT, now=datetime(2026, 11, 19, 15, tzinfo=UTC)) == date(2026, 11, 20)


def test_scheduled_handler_hands_the_business_date_to_the_function() -> None:
    edge = ScheduledHandler("test", lambda ctx: ctx.business_date(Zone.WITA))
    assert edge({"time": "2026-11-19T16:00:00Z"}, None) == date(2026, 11, 20)  # 00:00 WITA
