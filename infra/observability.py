"""What the template adds so somebody is told: an SNS topic for every alarm (with an optional e-mail
subscription), the reminder day's alarms, and a CloudWatch dashboard of the day per zone.

- ``AlarmTopic`` (SNS, encrypted with the stack's key, which lets CloudWatch publish): every alarm of
  the template notifies it (and ``AlarmTopicArn`` too, when given). ``AlarmEmail``: an address to
  subscribe (empty: none; the address confirms the subscription from the mail AWS sends).
- alarms: a stage's success rate (``Succeeded / SummaryPlaced`` of the day, per stage) under
  ``StageSuccessRateThreshold``; the oldest message on a dispatch queue older than
  ``DispatchQueueMaxAgeSeconds``; a provider refusing the dispatch functions' credentials read afresh
  (``ProviderCredentialsRefused``, per channel: voice, WhatsApp, SMS);
  (already in the template: every DLQ not empty, API 5xx).
- ``ReminderDashboard``: per zone, what each stage selected, placed, succeeded, failed, did not place,
  skipped and left unknown; provider latency and callbacks received per channel.

Metric names and dimensions come from ``chalicelib.reminders.metrics`` (what the functions emit).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.reminders import metrics
from chalicelib.reminders.stages import Channel, Stage
from chalicelib.zones import Zone
from infra.manifest import Manifest

ALARM_TOPIC = "AlarmTopic"
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": ALARM_TOPIC}, {"Ref": "AlarmTopicArn"}],
                            [{"Ref": ALARM_TOPIC}]]}
PARAMETERS: dict[str, dict[str, Any]] = {
    "AlarmEmail": {"Type": "String", "Default": "",
                   "Description": "an e-mail address subscribed to the alarm topic (empty: no subscription)"},
    "DispatchQueueMaxAgeSeconds": {"Type": "Number", "Default": 3600, "MinValue": 60,
                                   "Description": "alarm when the oldest message on a dispatch queue is older "
                                                  "(a stage's calls or messages are not going out)"},
}
DAY_SECONDS = 86_400
# the channels whose dispatch client re-reads refused credentials and reports CredentialsRefused: every one
CREDENTIAL_CHANNELS = tuple(str(c) for c in Channel)
COUNT_WIDGETS = (("Placed", "placed"), ("Succeeded", "succeeded"), ("OutcomeFailed", "failed"),
                 ("NotPlaced", "not placed"), ("Skipped", "skipped"), ("Unknown", "unknown"))


def add_observability(t: dict[str, Any], manifest: Manifest, queue_ids: dict[str, str]) -> None:
    """The topic, its subscription, the reminder alarms and the dashboard; every alarm notifies the topic."""
    t["Parameters"].update(PARAMETERS)
    t["Conditions"]["HasAlarmEmail"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    res = t["Resources"]
    res[ALARM_TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": {
        "DisplayName": "julo-reminders alarms", "KmsMasterKeyId": {"Ref": "PiiKey"}}}
    res["AlarmEmailSubscription"] = {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
        "TopicArn": {"Ref": ALARM_TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}}
    res["PiiKey"]["Properties"]["KeyPolicy"]["Statement"].append({
        "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"})
    for stage in Stage:
        res[f"{_camel(str(stage))}SuccessRateAlarm"] = _success_rate_alarm(str(stage))
    for channel in CREDENTIAL_CHANNELS:
        res[f"{_camel(channel)}CredentialsRefusedAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": f"{channel}: the provider refused the credentials read afresh from the secret "
                                "(a revoked token or key): a configuration error, the payments wait for it",
            "Namespace": metrics.NAMESPACE, "MetricName": metrics.CREDENTIALS_REFUSED,
            "Dimensions": [{"Name": "channel", "Value": channel}, {"Name": "service", "Value": metrics.SERVICE}],
            "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": ALARM_ACTIONS}}
    for q in manifest.queues:
        if q.name.startswith("reminder-dispatch-"):
            res[f"{_camel(q.name)}AgeAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmDescription": f"The oldest message on {q.name} is older than DispatchQueueMaxAgeSeconds: "
                                    "its calls or messages are not going out",
                "Namespace": "AWS/SQS", "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_ids[q.name], "QueueName"]}}],
                "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1,
                "Threshold": {"Ref": "DispatchQueueMaxAgeSeconds"}, "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching", "AlarmActions": ALARM_ACTIONS}}
    for alarm in res.values():
        if alarm.get("Type") == "AWS::CloudWatch::Alarm":
            alarm["Properties"]["AlarmActions"] = ALARM_ACTIONS
    res["ReminderDashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": {"Fn::Sub": "${AWS::StackName}-reminder-day"},
        "DashboardBody": {"Fn::Sub": json.dumps(dashboard_body(), separators=(",", ":"))}}}


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.replace("-", "_").split("_") if p)


def _success_rate_alarm(stage: str) -> dict[str, Any]:
    def stat(metric_id: str, name: str) -> dict[str, Any]:
        return {"Id": metric_id, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": metrics.NAMESPACE, "MetricName": name, "Dimensions": [
                {"Name": "stage", "Value": stage}, {"Name": "service", "Value": metrics.SERVICE}]},
            "Period": DAY_SECONDS, "Stat": "Sum"}}

    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": f"Stage {stage}: the day's success rate (succeeded / placed, all zones) is under "
                            "StageSuccessRateThreshold: is the provider failing the calls or messages?",
        "Metrics": [stat("succeeded", "Succeeded"), stat("placed", "SummaryPlaced"),
                    {"Id": "rate", "Expression": "IF(placed > 0, succeeded / placed, 1)",
                     "Label": f"{stage} success rate", "ReturnData": True}],
        "EvaluationPeriods": 1, "Threshold": {"Ref": "StageSuccessRateThreshold"},
        "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": ALARM_ACTIONS}}


def dashboard_body() -> dict[str, Any]:
    """One row per zone (a graph per count, each stage a line), then provider latency and callbacks."""
    widgets: list[dict[str, Any]] = []
    y = 0
    for zone in Zone:
        widgets.append({"type": "text", "x": 0, "y": y, "width": 24, "height": 1,
                        "properties": {"markdown": f"## {zone.name}: the T-3 day per stage"}})
        y += 1
        for i, (name, label) in enumerate(COUNT_WIDGETS):
            widgets.append({"type": "metric", "x": (i % 3) * 8, "y": y + (i // 3) * 6, "width": 8, "height": 6,
                            "properties": {
                                "title": f"{zone.name} {label}", "region": "${AWS::Region}", "stat": "Sum",
                                "period": 3600, "view": "timeSeries", "stacked": True,
                                "metrics": [[metrics.NAMESPACE, name, "zone", zone.name, "stage", str(s),
                                             "channel", str(s.channel), "service", metrics.SERVICE,
                                             {"label": str(s)}] for s in Stage]}})
        y += 12
    channels = sorted({str(s.channel) for s in Stage})
    widgets.append({"type": "metric", "x": 0, "y": y, "width": 12, "height": 6, "properties": {
        "title": "provider latency (p90, ms)", "region": "${AWS::Region}", "stat": "p90", "period": 300,
        "metrics": [[metrics.NAMESPACE, metrics.PROVIDER_LATENCY, "channel", c, "service", metrics.SERVICE]
                    for c in channels]}})
    widgets.append({"type": "metric", "x": 12, "y": y, "width": 12, "height": 6, "properties": {
        "title": "callbacks received", "region": "${AWS::Region}", "stat": "Sum", "period": 300,
        "metrics": [[metrics.NAMESPACE, metrics.CALLBACKS_RECEIVED, "channel", c, "result", r,
                     "service", metrics.SERVICE] for c in channels
                    for r in ("succeeded", "failed", "progress", "ignored", "repeat", "refused")]}})
    return {"widgets": widgets}
