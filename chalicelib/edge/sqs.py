"""The shared SQS batch handler: partial batch responses, backoff, one connection per message.

    handler = SqsBatchHandler("disbursement-events", handle_record, logger=logger,
                              poison=(InvalidEvent, UnknownDisbursement), settings=Settings)

Each record is handled on its own (Powertools ``BatchProcessor``); only failed records are
reported in ``batchItemFailures``, so good ones of the same batch are deleted. A failed record:

- **poison** (one of ``poison``: retrying cannot help): made visible at once, so it reaches the
  DLQ after the queue's ``maxReceiveCount`` tries within seconds;
- **anything else** (database, SES, throttling, "an earlier event is not here yet"): hidden
  for ``Backoff.delay(receive count)`` seconds with ChangeMessageVisibility, so a long outage
  uses up the tries over hours, not minutes.

``ctx.conn`` leases a connection from the handler's ``ConnectionLifetime`` on first use (pinged,
rolled back and kept afterwards); ``ctx.aws`` is the handler's AWS clients (``aws``; default: the
configured endpoint's, ``settings.aws_clients()``). A test or the chaos harness gives a container its
own ``lifetime`` (whose ``connect`` it controls) and ``aws`` (clients with faults): seams, not patches.
``settings`` (a class or any zero-argument callable) is loaded once per container, at the first
invocation, and handed to every record as ``ctx.settings``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Generic, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from typing_extensions import TypeVar

from chalicelib import settings
from chalicelib.aws import AwsClients
from chalicelib.edge.backoff import Backoff
from chalicelib.edge.connection import FUNCTIONS, ConnectionLifetime
from chalicelib.edge.context import ColdStartSettings, LeasedContext

S = TypeVar("S", default=None)


class Visibility(Protocol):
    def hide(self, queue_arn: str, receipt_handle: str, seconds: int) -> None: ...


class SqsVisibility:
    """ChangeMessageVisibility on the record's own queue (found from ``eventSourceARN``), with the SQS
    client of ``clients()`` (the handler's)."""

    def __init__(self, clients: Callable[[], AwsClients] = settings.aws_clients) -> None:
        self._clients = clients

    def hide(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        self._clients().client("sqs").change_message_visibility(
            QueueUrl=queue_url_of(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)


def queue_url_of(queue_arn: str) -> str:
    """``arn:aws:sqs:<region>:<account>:<name>`` -> its URL (looked up under an emulator)."""
    _, _, _, region, account, name = queue_arn.split(":", 5)
    endpoint = settings.aws_endpoint_url()
    if endpoint:  # moto and LocalStack serve a queue at <endpoint>/<account>/<name>: no lookup call
        return f"{endpoint.rstrip('/')}/{account}/{name}"
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


class RecordContext(LeasedContext[S]):
    """One SQS record as a handler sees it (``lambda_context``: the invocation's Lambda context, or None)."""

    def __init__(self, record: SQSRecord, settings: S, lifetime: ConnectionLifetime, stack: ExitStack,
                 aws: AwsClients, lambda_context: Any = None) -> None:
        super().__init__(settings, lifetime, stack, aws)
        self.record = record
        self.lambda_context = lambda_context

    def remaining_seconds(self) -> float | None:
        """What is left of the invocation before Lambda's timeout (None without a Lambda context)."""
        if self.lambda_context is None:
            return None
        return float(self.lambda_context.get_remaining_time_in_millis()) / 1000

    @property
    def body(self) -> str:
        return self.record.body

    @property
    def message_id(self) -> str:
        return self.record.message_id

    @property
    def receive_count(self) -> int:
        return int(self.record.attributes.approximate_receive_count or 1)


RecordHandler = Callable[[RecordContext[S]], object]


class SqsBatchHandler(Generic[S]):
    def __init__(
        self,
        name: str,
        record_handler: RecordHandler[S],
        *,
        logger: Logger,
        poison: tuple[type[BaseException], ...] = (),
        backoff: Backoff | None = None,
        settings: Callable[[], S] | None = None,
        lifetime: ConnectionLifetime = FUNCTIONS,
        visibility: Visibility | None = None,
        aws: AwsClients | None = None,
    ) -> None:
        self.name = name
        self.record_handler = record_handler
        self.logger = logger
        self.poison = poison
        self.backoff = backoff or Backoff()
        self.lifetime = lifetime
        self.aws = aws  # None: the configured endpoint's clients, read at each invocation
        self.visibility: Visibility = visibility or SqsVisibility(self.clients)
        self._settings = ColdStartSettings(settings)
        self._processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @property
    def settings(self) -> S:
        """Loaded once per container (cold start)."""
        return self._settings.get()

    def clients(self) -> AwsClients:
        """The AWS clients this handler hands to the domain (and changes visibility with)."""
        return self.aws if self.aws is not None else settings.aws_clients()

    def __call__(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        settings = self.settings
        return process_partial_response(
            event=event, record_handler=lambda record: self._handle(record, settings, context),
            processor=self._processor, context=context)

    def _handle(self, record: SQSRecord, settings: S, context: Any) -> None:
        started = time.perf_counter()
        try:
            with ExitStack() as stack:
                self.record_handler(RecordContext(record, settings, self.lifetime, stack, self.clients(), context))
        except Exception as exc:
            self._after_failure(record, exc, time.perf_counter() - started)
            raise

    def _after_failure(self, record: SQSRecord, exc: Exception, elapsed_s: float) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        poison = isinstance(exc, self.poison)
        delay = 0 if poison else self.backoff.delay(receive_count)
        ids = {"function": self.name, "message_id": record.message_id, "receive_count": receive_count,
               "retry_in_s": delay, "error": type(exc).__name__, "elapsed_ms": round(elapsed_s * 1000, 1)}
        if poison:
            self.logger.exception("poison message: retried at once, then dead-lettered", extra=ids)
        else:
            self.logger.warning(f"transient failure: retried in {delay}s", extra={**ids, "detail": str(exc)[:500]})
        try:
            self.visibility.hide(record.event_source_arn, record.receipt_handle, delay)
        except Exception:  # the queue's own visibility timeout still brings it back
            self.logger.exception("could not change the message's visibility", extra=ids)
