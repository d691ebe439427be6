"""Helpers for the HTTP API tests: an in-process Chalice client and keys."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2.extensions
from chalice import Chalice
from chalice.config import Config
from chalice.local import LocalChalice, LocalDevServer, create_local_server
from chalice.test import Client

from app import app
from chalicelib.partners.keys import create_key
from localdev.servers.gateway_handler import GatewayLikeHandler


@contextmanager
def api_client() -> Iterator[Client]:
    with Client(app) as client:
        yield client


def local_server(app_object: Chalice, host: str, port: int) -> LocalDevServer:
    """``chalice local``'s server for the app, answering as API Gateway does for requests no function
    sees (``localdev.servers.gateway_handler``). Chalice's ``create_local_server`` turns the app's class
    into a local one and cannot be called twice in a process (an inheritance cycle): the second
    module of a test worker that serves the app builds the server on the already-local app."""
    config = Config.create(chalice_stage="dev", app_name=app_object.app_name)
    if isinstance(app_object, LocalChalice):
        server = LocalDevServer(app_object, config, host, port)
    else:
        server = create_local_server(app_object, config, host, port)
    server.server.RequestHandlerClass = functools.partial(GatewayLikeHandler, app_object=server.app_object,
                                                          config=config)
    return server


def partner_key(conn: psycopg2.extensions.connection, partner_id: int) -> str:
    key = create_key(conn, scope="partner", partner_id=partner_id)
    conn.commit()
    return key


def staff_key(conn: psycopg2.extensions.connection) -> str:
    key = create_key(conn, scope="staff", owner="Test Staff <staff@julo.test>")
    conn.commit()
    return key


def get(client: Client, path: str, key: str | None = None, **headers: str) -> tuple[int, Any, dict[str, str]]:
    """(status, parsed JSON body or text, headers)."""
    if key is not None:
        headers["x-api-key"] = key
    response = client.http.get(path, headers=headers)
    text = response.body.decode()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return response.status_code, body, {k.lower(): v for k, v in response.headers.items()}


def all_report_rows(client: Client, key: str, query: str = "", limit: int = 500) -> list[dict[str, Any]]:
    """Every row of the report, following next_cursor to the end."""
    rows: list[dict[str, Any]] = []
    cursor = None
    sep = "&" if query else ""
    while True:
        path = f"/v1/partner/report?{query}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = get(client, path, key)
        assert status == 200, body
        rows.extend(body["rows"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
