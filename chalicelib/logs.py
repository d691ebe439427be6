"""Structured JSON logs (Powertools Logger).

Log with the ids that let someone follow one payment or disbursement through every
function: ``logger.info("dispatched", extra={"payment_id": ..., "stage": ...})``.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger


def get_logger(service: str) -> Logger:
    return Logger(service=service, level=os.environ.get("LOG_LEVEL", "INFO"))
