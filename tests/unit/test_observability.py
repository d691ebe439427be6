"""The template tells somebody: every alarm notifies the stack's SNS topic; the dashboard and the alarms
read exactly the metrics the code writes (captured from the EMF lines the functions print)."""

from __future__ import annotations

import json
from datetime import date

from chalicelib.reminders import metrics
from chalicelib.reminders.day_report import emit_day_metrics
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone
from infra.manifest import load_manifest
from infra.observability import dashboard_body
from infra.package import build_template


def _template() -> dict:
    return build_template({"Resources": {}}, load_manifest())


def _emitted(capsys) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every EMF line printed so far."""
    found = set()
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for m in directive["Metrics"]:
                    found.add((directive["Namespace"], m["Name"], frozenset(dims)))
    return found


def test_every_alarm_notifies_the_stacks_topic_and_an_email_can_subscribe():
    t = _template()
    res = t["Resources"]
    alarms = {k: v for k, v in res.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) >= 5 + 3  # a success-rate alarm per stage, an age alarm per dispatch queue
    for name, alarm in alarms.items():
        actions = alarm["Properties"]["AlarmActions"]["Fn::If"]
        assert actions[0] == "HasAlarmTopic" and {"Ref": "AlarmTopic"} in actions[1] and actions[2] == [
            {"Ref": "AlarmTopic"}], name
    topic = res["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic" and topic["Properties"]["KmsMasterKeyId"] == {"Ref": "PiiKey"}
    key_policy = res["PiiKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy), \
        "CloudWatch cannot publish to a topic under a key it may not use"
    sub = res["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail" and sub["Properties"]["Protocol"] == "email"
    assert t["Parameters"]["AlarmEmail"]["Default"] == ""
    for queue in ("reminder-dispatch-robocall", "reminder-dispatch-whatsapp", "reminder-dispatch-sms"):
        age = next(a for a in alarms.values() if a["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
                   and queue.split("-")[-1] in json.dumps(a["Properties"]["Dimensions"]).lower())
        assert age["Properties"]["Threshold"] == {"Ref": "DispatchQueueMaxAgeSeconds"}
    assert {k for k in alarms if k.endswith("DlqDepthAlarm")} >= {  # a dispatch DLQ not empty
        "ReminderDispatchSmsDlqDepthAlarm", "ReminderDispatchWhatsappDlqDepthAlarm",
        "ReminderDispatchRobocallDlqDepthAlarm"}


def test_the_success_rate_alarms_read_what_the_summary_writes(capsys):
    emit_day_metrics({"zone": "WIB", "business_date": "2026-11-20", "stages": {
        str(s): {"placed": 10, "succeeded": 3, "failed": 7} for s in Stage}})
    emitted = _emitted(capsys)
    res = _template()["Resources"]
    for stage in Stage:
        alarm = res[f"{''.join(p.capitalize() for p in str(stage).split('_'))}SuccessRateAlarm"]["Properties"]
        assert alarm["Threshold"] == {"Ref": "StageSuccessRateThreshold"}
        assert alarm["ComparisonOperator"] == "LessThanThreshold"
        for query in alarm["Metrics"]:
            if "MetricStat" not in query:
                continue
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert dims["stage"] == str(stage)
            assert (metric["Namespace"], metric["MetricName"], frozenset(dims)) in emitted


def test_the_dashboard_shows_each_zone_and_reads_only_metrics_the_code_writes(capsys):
    day = {"zone": "WIT", "business_date": date(2026, 11, 20).isoformat(),
           "stages": {str(s): {"placed": 1, "succeeded": 1} for s in Stage}}
    emit_day_metrics(day)
    for counts in (metrics.DISPATCH_COUNTS, metrics.SELECTION_COUNTS):
        metrics.emit(metrics.run_dimensions("WIT", "sms", "sms"), {name: 1 for name in counts.values()})
    metrics.emit_values({"channel": "sms"}, metrics.PROVIDER_LATENCY, [12.0])
    metrics.emit({"channel": "sms", "result": "succeeded"}, {metrics.CALLBACKS_RECEIVED: 1})
    emitted = _emitted(capsys)
    body = dashboard_body()
    titles = [w["properties"].get("markdown", "") for w in body["widgets"] if w["type"] == "text"]
    assert [t.split(":")[0] for t in titles] == [f"## {z.name}" for z in Zone]
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            namespace, name, *rest = [x for x in line if not isinstance(x, dict)]
            dims = frozenset(rest[0::2])
            assert (namespace, name, dims) in emitted, (name, dims)
