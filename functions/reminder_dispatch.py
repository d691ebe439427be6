"""Dispatch queue consumer (robocall and WhatsApp queues): place the calls of one chunk."""

from __future__ import annotations

import json
import os

import psycopg2.extensions

from chalicelib.edge.sqs import RecordContext, SqsBatchHandler
from chalicelib.reminders.dispatch import Chunk, Dispatcher, logger

_dispatcher: dict[tuple[object, ...], Dispatcher] = {}


def _get_dispatcher(conn: psycopg2.extensions.connection) -> Dispatcher:
    """One dispatcher (and so one rate limiter per provider) per container, connection and configuration."""
    key = (id(conn), os.environ.get("VOICE_API_URL"), os.environ.get("WHATSAPP_API_URL"),
           os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _dispatcher:
        _dispatcher.clear()
        _dispatcher[key] = Dispatcher(conn)
    return _dispatcher[key]


def _record(ctx: RecordContext) -> None:
    _get_dispatcher(ctx.conn).run(Chunk.parse(json.loads(ctx.body)))


handler = SqsBatchHandler("reminder-dispatch", _record, logger=logger)
