"""AWS clients of one endpoint and region, built once each and passed to whatever needs them.

``AwsClients`` takes what it depends on (the endpoint, the region, a boto3 session, the client
configuration), as chalice's ``TypedAWSClient`` takes its session: it reads no environment. The
clients of the configured endpoint (``AWS_ENDPOINT_URL``: moto, LocalStack; unset: AWS itself)
are ``settings.aws_clients()``; handlers hand them down (``ctx.aws``), and a test or the chaos
harness passes its own (``AwsClients.wrapped``) instead of replacing a module global. Domain code
never imports boto3: it uses the small adapters built on these clients.

Every session this module makes (``botocore_session``) shares one parsed copy of botocore's data per
process (``endpoints.json``, the service models and rule sets): a new session otherwise parses them again,
~70 ms of CPU per client (most of a Lambda container's cold start). pynamodb's models make their own
session and client once per model (their first calls run alone: ``store/dynamo_tables.FirstCalls``);
they are left to pynamodb, not patched. A session still
reads its credentials and configuration from the environment when it is made, as ``boto3.session.Session()``
does; only the data files, which do not change while the process runs, are shared.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)
UNSIGNED_CONFIG = Config(signature_version=UNSIGNED)


class _SearchPaths(list[str]):
    """A loader's search paths to which each ``boto3.session.Session`` adds its own data folder: once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_loaders: dict[str, botocore.loaders.Loader] = {}
_loaders_lock = threading.Lock()


def shared_loader(data_path: str | None) -> botocore.loaders.Loader:
    """The process's data loader for ``data_path`` (botocore's ``AWS_DATA_PATH`` setting), as
    ``botocore.loaders.create_loader`` makes it, made once: it caches what it parsed, and reading is all
    it does, so sessions in any thread can share it."""
    with _loaders_lock:
        found = _loaders.get(data_path or "")
        if found is None:
            extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep) if p]
            found = _loaders[data_path or ""] = botocore.loaders.Loader(extra_search_paths=_SearchPaths(extra))
        return found


def botocore_session() -> botocore.session.Session:
    """A new botocore session, as ``botocore.session.get_session()``, with the process's shared data loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
    return session


def boto3_session() -> boto3.session.Session:
    """A new boto3 session (credentials and configuration from the environment now) with the shared data."""
    return boto3.session.Session(botocore_session=botocore_session())


def parse_ahead(services: Iterable[str]) -> None:
    """Parse into the shared loader what a client of each of ``services`` reads (a process that forks Lambda
    containers does it once, before the forks: each container then starts with it parsed). Makes no request."""
    session = botocore_session()
    for service in services:
        session.create_client(service, region_name="us-east-1", config=UNSIGNED_CONFIG)  # no credential lookup


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
                session = self._session or boto3_session()
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
