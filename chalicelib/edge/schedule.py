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

from typing_extensions import TypeVar as DefaultTypeVar

from chalicelib import settings as configured
from chalicelib.aws import AwsClients
from chalicelib.edge import clock
from chalicelib.edge.connection import FUNCTIONS, ConnectionLifetime
from chalicelib.edge.context import ColdStartSettings, LeasedContext
from chalicelib.zones import Zone

S = DefaultTypeVar("S", default=None)
R = TypeVar("R")


class ScheduleContext(LeasedContext[S]):
    def __init__(self, event: dict[str, Any], settings: S, lifetime: ConnectionLifetime, stack: ExitStack,
                 aws: AwsClients) -> None:
        super().__init__(settings, lifetime, stack, aws)
        self.event = event
        self.fired_at: datetime = clock.event_time(event)

    def business_date(self, zone: Zone) -> date:
        """The event's ``business_date`` if given, else ``zone``'s local date when the schedule fired."""
        return clock.business_date(self.event, zone, self.fired_at)


class ScheduledHandler(Generic[R, S]):
    def __init__(
        self,
        name: str,
        run: Callable[[ScheduleContext[S]], R],
        *,
        settings: Callable[[], S] | None = None,
        lifetime: ConnectionLifetime = FUNCTIONS,
        aws: AwsClients | None = None,
    ) -> None:
        self.name = name
        self.run = run
        self.lifetime = lifetime
        self.aws = aws  # None: the configured endpoint's clients, read at each invocation
        self._settings = ColdStartSettings(settings)

    @property
    def settings(self) -> S:
        """Loaded once per container (cold start)."""
        return self._settings.get()

    def __call__(self, event: dict[str, Any], context: Any) -> R:
        with ExitStack() as stack:
            aws = self.aws if self.aws is not None else configured.aws_clients()
            return self.run(ScheduleContext(event, self.settings, self.lifetime, stack, aws))
