"""SQS consumer of ``disbursement-events``: one event applied per record, its email sent from the outbox."""

from __future__ import annotations

from chalicelib.disbursements.consumer import POISON, handle_record, logger
from chalicelib.edge.sqs import SqsBatchHandler
from chalicelib.settings import DisbursementSettings

handler = SqsBatchHandler("disbursement-events", handle_record, logger=logger, poison=POISON,
                          settings=DisbursementSettings)
