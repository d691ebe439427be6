"""The Lambda event fixtures in tests/events are the shapes AWS sends, and carry valid messages."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, EventBridgeEvent, SQSEvent

from chalicelib.disbursements.event import InvalidEvent, parse_event
from chalicelib.zones import Zone
from tests.events import load_event, names, sqs_bodies, with_bodies


@pytest.mark.parametrize("name", [n for n in names() if n.startswith("sqs_")])
def test_every_sqs_fixture_is_an_sqs_batch_from_its_queue(name: str) -> None:
    event = SQSEvent(load_event(name))
    records = list(event.records)
    assert records
    queue = name.removeprefix("sqs_").replace("_", "-")
    for record in records:
        assert record.event_source == "aws:sqs"
        assert record.event_source_arn.split(":")[-1].startswith(queue.removesuffix("-summary"))
        assert record.message_id and record.receipt_handle and record.body


def test_the_disbursement_batch_holds_one_valid_event_and_one_poison_message() -> None:
    good, poison = sqs_bodies("sqs_disbursement_events")
    event = parse_event(json.dumps(good))
    assert (event.disbursement_id, event.status) == (501, "COMPLETED")
    with pytest.raises(InvalidEvent, match='not JSON'):
        parse_event(poison)


def test_the_scheduled_event_carries_its_firing_instant() -> None:
    event = EventBridgeEvent(load_event("eventbridge_scheduled"))
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.time == "2026-11-24T02:00:00Z"  # 09:00 WIB: the stuck-disbursement report's slot


def test_a_schedule_with_constant_input_sends_only_that_input() -> None:
    assert Zone.parse(load_event("schedule_input_reminder_wita")["zone"]) is Zone.WITA


def test_the_api_gateway_event_is_a_proxy_request() -> None:
    event = APIGatewayProxyEvent(load_event("apigateway_partner_summary"))
    assert (event.http_method, event.path) == ("GET", "/v1/partner/summary")
    assert event.headers["x-api-key"]


def test_fixtures_are_fresh_copies_and_bodies_can_be_replaced() -> None:
    first = load_event("sqs_disbursement_events")
    first["Records"].clear()
    event = with_bodies(load_event("sqs_disbursement_events"), ["a", {"b": 1}, "c"])
    ids = [r["messageId"] for r in event["Records"]]
    assert len(set(ids)) == 3
    assert [r["body"] for r in event["Records"]] == ["a", '{"b": 1}', "c"]
    assert load_event("sqs_disbursement_events")["Records"]


def test_an_unknown_fixture_names_the_ones_there_are() -> None:
    with pytest.raises(KeyError, match="sqs_disbursement_events"):
        load_event("no_such_event")
