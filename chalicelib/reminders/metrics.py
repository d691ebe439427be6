"""The reminder day's custom metrics: Powertools Metrics in CloudWatch's embedded metric format (EMF).

Each ``emit`` writes one EMF line to stdout (the function's log): CloudWatch turns it into metrics,
no API call and no permission needed. Namespace ``NAMESPACE``; every metric also carries the
``service`` dimension (``SERVICE``), as Powertools adds it.

- stage worker, per zone / stage / channel: ``Selected``, ``NotPlaced``, ``ZoneFallback``;
- dispatch, per zone / stage / channel and chunk: ``Placed``, ``PlaceFailed``, ``Unknown``, ``Skipped``;
  per channel: ``ProviderLatency`` (ms, one value per request that went out);
- the day's summary, per zone / stage / channel: ``Succeeded``, ``OutcomeFailed``, ``SummaryPlaced``;
  and the same per stage alone (``STAGE_DIMENSIONS``: what the success-rate alarms read);
- callback routes, per channel and result: ``CallbacksReceived`` (result: succeeded, failed, progress,
  ignored, refused);
- dispatch, per channel: ``ProviderCredentialsRefused`` (the provider refused credentials read afresh
  from the secret: a configuration error; the template alarms on it).

The dashboard and alarms of the template (``infra/observability.py``) read exactly these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib.logs import get_logger

NAMESPACE = "JuloReminders"
SERVICE = "julo-reminders"
STAGE_DIMENSIONS = ("stage",)
DAY_DIMENSIONS = ("zone", "stage", "channel")
DISPATCH_COUNTS = {"placed": "Placed", "place_failed": "PlaceFailed", "unknown": "Unknown", "skipped": "Skipped"}
SELECTION_COUNTS = {"selected": "Selected", "not_placed": "NotPlaced", "zone_fallback": "ZoneFallback"}
SUMMARY_COUNTS = {"placed": "SummaryPlaced", "succeeded": "Succeeded", "failed": "OutcomeFailed"}
PROVIDER_LATENCY = "ProviderLatency"
CALLBACKS_RECEIVED = "CallbacksReceived"
CREDENTIALS_REFUSED = "ProviderCredentialsRefused"
MAX_VALUES = 100  # EMF: at most 100 values of one metric per line

logger = get_logger("metrics")


def emit(dimensions: Mapping[str, str], counts: Mapping[str, float], *,
         unit: MetricUnit = MetricUnit.Count) -> None:
    """One EMF line: every metric of ``counts`` with ``dimensions`` (plus ``service``)."""
    if not counts:
        return
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for dim, dim_value in dimensions.items():
        metrics.add_dimension(name=dim, value=str(dim_value))
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=unit, value=float(value))
    _flush(metrics)


def emit_values(dimensions: Mapping[str, str], name: str, values: Iterable[float], *,
                unit: MetricUnit = MetricUnit.Milliseconds) -> None:
    """One metric with many values (e.g. each request's latency), in lines of at most 100 values."""
    batch: list[float] = []
    for value in values:
        batch.append(float(value))
        if len(batch) == MAX_VALUES:
            _values_line(dimensions, name, batch, unit)
            batch = []
    if batch:
        _values_line(dimensions, name, batch, unit)


def _values_line(dimensions: Mapping[str, str], name: str, values: list[float], unit: MetricUnit) -> None:
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for dim, dim_value in dimensions.items():
        metrics.add_dimension(name=dim, value=str(dim_value))
    for value in values:
        metrics.add_metric(name=name, unit=unit, value=value)
    _flush(metrics)


def _flush(metrics: EphemeralMetrics) -> None:
    try:
        metrics.flush_metrics()
    except Exception as exc:  # a metric is never worth the call or message it describes
        logger.warning("metrics not written", extra={"error": f"{type(exc).__name__}: {exc}"})


def run_dimensions(zone: str, stage: str, channel: str) -> dict[str, str]:
    return {"zone": zone, "stage": stage, "channel": channel}


def renamed(counts: Mapping[str, int], names: Mapping[str, str]) -> dict[str, int]:
    return {names[k]: int(v) for k, v in counts.items() if k in names}
