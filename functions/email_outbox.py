"""SQS consumer of ``email-outbox``: build and send one repayment-calendar email per message."""

from __future__ import annotations

from chalicelib.disbursements.outbox import InvalidEmailRequest, logger, send_record
from chalicelib.edge.sqs import SqsBatchHandler
from chalicelib.settings import EmailOutboxSettings

handler = SqsBatchHandler("email-outbox", send_record, logger=logger, poison=(InvalidEmailRequest,),
                          settings=EmailOutboxSettings)
