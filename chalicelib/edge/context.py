"""What the SQS and the scheduled handler share: settings loaded at cold start, a lazily leased connection,
the AWS clients to hand to the domain."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Generic, cast

import psycopg2.extensions
from typing_extensions import TypeVar

from chalicelib.aws import AwsClients
from chalicelib.edge.connection import ConnectionLifetime
from chalicelib.settings import Settings

S = TypeVar("S", default=None)


class ColdStartSettings(Generic[S]):
    """A function's settings, loaded once per container at the first invocation (None without a loader).

    A settings class is loaded with ``from_environment``: once per container, and again only when the
    variables it reads changed (what a local run or a test does; in Lambda that is a new container)."""

    def __init__(self, load: type[Settings] | Callable[[], S] | None) -> None:
        self._load = load
        self._loaded: list[S] = []

    def get(self) -> S:
        if isinstance(self._load, type) and issubclass(self._load, Settings):
            return cast(S, self._load.from_environment())
        if not self._loaded:
            self._loaded.append(cast(S, self._load()) if self._load else cast(S, None))
        return self._loaded[0]


class LeasedContext(Generic[S]):
    """One invocation's (or record's) view: its settings, ``conn`` (leased on first use, given back at the
    end) and ``aws``, the AWS clients to hand to what the handler builds (the handler's)."""

    def __init__(self, settings: S, lifetime: ConnectionLifetime, stack: ExitStack, aws: AwsClients) -> None:
        self.settings = settings
        self.aws = aws
        self._lifetime = lifetime
        self._stack = stack
        self._conn: psycopg2.extensions.connection | None = None

    @property
    def conn(self) -> psycopg2.extensions.connection:
        """The database connection (leased from the shared lifetime on first use)."""
        if self._conn is None:
            self._conn = self._stack.enter_context(self._lifetime.lease())
        return self._conn
