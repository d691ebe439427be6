"""The one place AWS clients are built.

Every client takes its endpoint from ``AWS_ENDPOINT_URL`` (moto, LocalStack) or uses
the real AWS endpoint when it is unset. Domain code never imports boto3: it uses the
small adapters built on these clients.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib import config

_CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service: str) -> Any:
    """A boto3 client for ``service`` bound to the configured endpoint and region."""
    return _cached_client(service, config.aws_endpoint_url(), config.aws_region())


@lru_cache(maxsize=64)
def _cached_client(service: str, endpoint: str | None, region: str) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=region, config=_CLIENT_CONFIG
    )


def reset_clients() -> None:
    """Forget cached clients (after the endpoint changes, e.g. between test servers)."""
    _cached_client.cache_clear()
