"""AWS clients of one endpoint and region, built once each and passed to whatever needs them.

``AwsClients`` takes what it depends on (the endpoint, the region, a boto3 session, the client
configuration), as chalice's ``TypedAWSClient`` takes its session: it reads no environment. The
clients of the configured endpoint (``AWS_ENDPOINT_URL``: moto, LocalStack; unset: AWS itself)
are ``settings.aws_clients()``; handlers hand them down (``ctx.aws``), and a test or the chaos
harness passes its own (``AwsClients.wrapped``) instead of replacing a module global. Domain code
never imports boto3: it uses the small adapters built on these clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


class AwsClients:
    """boto3 clients bound to one endpoint (None: AWS's own) and region, one per service."""

    def __init__(self, endpoint_url: str | None, region: str, *, session: boto3.session.Session | None = None,
                 config: Config = CLIENT_CONFIG,
                 wrap: Callable[[str, Any], Any] | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = session
        self._config = config
        self._wrap = wrap
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The client of ``service`` (built on first use, then reused: boto3 clients are thread-safe)."""
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                session = self._session or boto3.session.Session()
                found = session.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                                       config=self._config)
                if self._wrap is not None:
                    found = self._wrap(service, found)
                self._clients[service] = found
            return found

    def wrapped(self, wrap: Callable[[str, Any], Any]) -> AwsClients:
        """The same endpoint and region, each client passed through ``wrap(service, client)`` (a test's
        faults, a recorder) before it is handed out."""
        inner = self._wrap
        both = wrap if inner is None else (lambda service, client: wrap(service, inner(service, client)))
        return AwsClients(self.endpoint_url, self.region, session=self._session, config=self._config, wrap=both)
