"""The shared handler of scheduled functions (EventBridge): firing time, business date, connection.

    handler = ScheduledHandler("stuck-disbursement-report", run, settings=Settings)

    def run(ctx: ScheduleContext[Settings]) -> dict[str, Any]:
        report_date = ctx.business_date(Zone.WIB)
        ... ctx.conn ...

The firing time is read once (``clock.event_time``); ``ctx.conn`` is leased from the shared
``ConnectionLifetime`` on first use and given back when the function returns.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import psycopg2.extensions
from typing_extensions import TypeVar as DefaultTypeVar

from chalicelib.edge import clock
from chalicelib.edge.connection import FUNCTIONS, ConnectionLifetime
from chalicelib.zones import Zone

S = DefaultTypeVar("S", default=None)
R = TypeVar("R")


class ScheduleContext(Generic[S]):
    def __init__(self, event: dict[str, Any], settings: S, lifetime: ConnectionLifetime, stack: ExitStack) -> None:
        self.event = event
        self.settings = settings
        self.fired_at: datetime = clock.event_time(event)
        self._lifetime = lifetime
        self._stack = stack
        self._conn: psycopg2.extensions.connection | None = None

    def business_date(self, zone: Zone) -> date:
        """The event's ``business_date`` if given, else ``zone``'s local date when the schedule fired."""
        return clock.business_date(self.event, zone, self.fired_at)

    @property
    def conn(self) -> psycopg2.extensions.connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(self._lifetime.lease())
        return self._conn


class ScheduledHandler(Generic[R, S]):
    def __init__(
        self,
        name: str,
        run: Callable[[ScheduleContext[S]], R],
        *,
        settings: Callable[[], S] | None = None,
        lifetime: ConnectionLifetime = FUNCTIONS,
    ) -> None:
        self.name = name
        self.run = run
        self.lifetime = lifetime
        self._load_settings = settings
        self._settings: list[S] = []

    @property
    def settings(self) -> S:
        if not self._settings:
            self._settings.append(self._load_settings() if self._load_settings else None)  # type: ignore[arg-type]
        return self._settings[0]

    def __call__(self, event: dict[str, Any], context: Any) -> R:
        with ExitStack() as stack:
            return self.run(ScheduleContext(event, self.settings, self.lifetime, stack))
