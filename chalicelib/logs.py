"""Structured JSON logs (Powertools Logger).

Log with the ids that let someone follow one payment or disbursement through every
function: ``logger.info("dispatched", extra={"payment_id": ..., "stage": ...})``.
Never a phone number, a name, an e-mail address or a message's text: ids, codes and counts.
As a last line of defence every serialized line goes through ``chalicelib.redaction.mask_text``,
which masks anything that still looks like a phone number or an e-mail address.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

from chalicelib import settings
from chalicelib.redaction import mask_text


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter whose output has phone numbers and e-mail addresses masked
    (message, extra keys, exception and stack trace alike: the whole serialized line)."""

    def serialize(self, log: LogRecord) -> str:
        return mask_text(super().serialize(log))


def get_logger(service: str) -> Logger:
    return Logger(service=service, level=settings.log_level(), logger_formatter=MaskingFormatter())
