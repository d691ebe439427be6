"""Run the T-3 workflow for a business day on this machine: fake providers, the Chalice app over
HTTP for their callbacks, the real state machine in moto, and Lambda-like SQS delivery.

    with LocalReminderStack(seed=7, calls_per_second=500) as stack:
        result = run_day(business_date, stack)

Ordering (what two real hours between slots give in production): a stage message is delivered
only once every dispatch queue is drained *and* the fake providers have no status callback
outstanding, so a Wait that passes at once for a past date never lets the next stage select
before the previous stage's outcomes are in.

Clock: the day runs on a replayed clock (``CONTACT_CLOCK=replay:<file>``, ``stack.clock``): each stage
starts at its own slot in its zone the first time it is asked about, and runs with the real clock
from there, so the contact policy sees the day's local times, not today's. A test may anchor a
stage elsewhere first (``stack.clock.anchor``), e.g. at 19:50 local.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from datetime import time as clock_time
from typing import Any

from chalice.config import Config
from chalice.local import LocalDevServer

from chalicelib.contact_policy import ReplayClock
from chalicelib.reminders.adapters import Executions
from chalicelib.reminders.scheduling import STATE_MACHINE, execution_name
from chalicelib.zones import Zone, local_to_utc
from localdev.aws.template_resolution import local_provider_settings
from localdev.fakes import FakeSms, FakeVoice, FakeWhatsApp
from localdev.fakes.slack import FakeSlack
from localdev.lambda_runtime.runtime import IN_PROCESS, LambdaRuntime
from localdev.servers.gateway_handler import GatewayLikeHandler
from localdev.servers.ports import free_port

COLLECTIONS_CHANNEL = "C0COLLECTIONS"  # the local collections channel the day reports go to
DISPATCH_FUNCTIONS = ("reminder-dispatch-robocall", "reminder-dispatch-whatsapp", "reminder-dispatch-sms")
STAGE_FUNCTION = "reminder-stage"
STAGE_POLL_SECONDS = 1  # long polling for each stage message of a round (SQS takes whole seconds)


def day_timeout() -> float:
    """How long the local day may take before it fails (``LOCAL_DAY_TIMEOUT_SECONDS``, default 1200).

    A bound that only catches a day that is stuck: a loaded laptop (two cores shared with other
    suites) makes a healthy day several times slower than an idle one.
    """
    return float(os.environ.get("LOCAL_DAY_TIMEOUT_SECONDS") or 1200)


class AppServer:
    """The Chalice app (app.py) served over HTTP on a free 127.0.0.1 port, in a thread."""

    def __init__(self) -> None:
        from app import app  # the real API, routes and all

        self._server = LocalDevServer(app, Config(), "127.0.0.1", 0, handler_cls=GatewayLikeHandler)
        # stop() is noticed within 20 ms (socketserver's default poll, 0.5 s, was waited out at every stop)
        self._thread = threading.Thread(target=self._server.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AppServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server.server_close()


@dataclass
class ApiContainerUrl:
    """The API as its own Lambda-like container of the template runtime (strict mode)."""

    url: str

    def stop(self) -> None:
        """The runtime stops its containers."""


@dataclass
class LocalReminderStack:
    """Fake providers, the API and the functions for a reminder day.

    ``strict`` (the demo, the whole-day and IAM tests): everything runs from the packaged
    template (``localdev/lambda_runtime/runtime.py``, containers): each function and the API in containers with
    their template environment and their own IAM role's credentials, moto enforcing IAM.
    ``template`` runs from another template file (``DEMO_TEMPLATE`` does the same). Without it
    the API and the handlers run in this process (the runtime's in-process mode: tests that patch
    inside one handler).

    The fakes enforce the contract the functions are given, as the providers do: 429 (the SMS API:
    status 1 Throttled) above ``calls_per_second`` / ``messages_per_second`` / ``sms_per_second``
    (0: ``messages_per_second``) in any rolling second, and above ``max_concurrent_calls`` calls in
    progress (each lasting ``call_seconds``) when that is set.
    """

    seed: int = 7
    calls_per_second: float = 200.0
    messages_per_second: float = 200.0
    sms_per_second: float = 0.0
    provider_timeout: float = 2.0
    backoff_base: float = 0.01
    max_concurrent_calls: int = 0
    call_seconds: float = 0.0
    # status sequences each fake delivers at once: a provider posts the webhooks of many calls side by side
    # (4 made the day wait for its callbacks: a stage's callbacks came in up to 20 s after its last call)
    callback_workers: int = 16
    extra_env: dict[str, str] = field(default_factory=dict)
    strict: bool = False
    template: str | None = None
    voice: FakeVoice = field(init=False)
    whatsapp: FakeWhatsApp = field(init=False)
    sms: FakeSms = field(init=False)
    slack: FakeSlack = field(init=False)
    app: AppServer | ApiContainerUrl = field(init=False)
    runtime: LambdaRuntime = field(init=False)
    clock: ReplayClock = field(init=False)
    _saved_env: dict[str, str | None] = field(init=False, default_factory=dict)
    _clock_dir: str = field(init=False, default="")

    @property
    def sms_rate(self) -> float:
        return self.sms_per_second or self.messages_per_second

    def __enter__(self) -> LocalReminderStack:
        self._clock_dir = tempfile.mkdtemp(prefix="contact-clock-")
        self.clock = ReplayClock(os.path.join(self._clock_dir, "clock.json"))
        api_port = free_port() if self.strict else None
        self.app = ApiContainerUrl(f"http://127.0.0.1:{api_port}") if api_port else AppServer().start()
        self.voice = FakeVoice(seed=self.seed, timeout_sleep=self.provider_timeout * 1.5,
                               strict_rate=self.calls_per_second, max_concurrent=self.max_concurrent_calls or None,
                               call_seconds=self.call_seconds, callback_workers=self.callback_workers).start()
        self.whatsapp = FakeWhatsApp(seed=self.seed, webhook_url=f"{self.app.url}/v1/callbacks/whatsapp",
                                     timeout_sleep=self.provider_timeout * 1.5,
                                     strict_rate=self.messages_per_second,
                                     callback_workers=self.callback_workers).start()
        self.sms = FakeSms(seed=self.seed, receipt_url=f"{self.app.url}/v1/callbacks/sms",
                           inbound_url=f"{self.app.url}/v1/callbacks/sms/inbound",
                           timeout_sleep=self.provider_timeout * 1.5, strict_rate=self.sms_rate,
                           callback_workers=self.callback_workers).start()
        self.slack = FakeSlack().start()
        env = {
            "REMINDER_CALLBACK_BASE_URL": self.app.url,
            "SLACK_API_URL": self.slack.api_url, "SLACK_BOT_TOKEN": self.slack.token,
            "REMINDER_REPORT_SLACK_CHANNEL": COLLECTIONS_CHANNEL,
            **local_provider_settings(),
            **self.voice.env(),
            **self.whatsapp.env(),
            **self.sms.env(),
            "CALLS_PER_SECOND": str(self.calls_per_second),
            "WHATSAPP_MESSAGES_PER_SECOND": str(self.messages_per_second),
            "SMS_MESSAGES_PER_SECOND": str(self.sms_rate),
            "VOICE_MAX_CONCURRENT_CALLS": str(self.max_concurrent_calls),
            "PROVIDER_TIMEOUT_SECONDS": str(self.provider_timeout),
            "PROVIDER_BACKOFF_BASE_SECONDS": str(self.backoff_base),
            "CONTACT_CLOCK": f"replay:{self.clock.path}",
            **self.extra_env,
        }
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        try:
            if api_port:
                self.runtime = LambdaRuntime(env, template=self.template, api_port=api_port).__enter__()
                self.runtime.start_api(api_port)
            else:
                self.runtime = LambdaRuntime(env, template=self.template, mode=IN_PROCESS)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "runtime", None) is not None:
            self.runtime.__exit__()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.voice.stop()
        self.whatsapp.stop()
        self.sms.stop()
        self.slack.stop()
        self.app.stop()
        shutil.rmtree(self._clock_dir, ignore_errors=True)

    def idle(self) -> bool:
        return all(fake.outstanding_callbacks() == 0 for fake in (self.voice, self.whatsapp, self.sms))


@dataclass
class DayResult:
    starts: dict[str, dict[str, Any]]
    executions: dict[str, dict[str, Any]]
    wall_seconds: float


def fire_zone_schedules(business_date: date, zones: Iterable[Zone], runtime: LambdaRuntime) -> dict[str, Any]:
    """Fire each zone's 08:00-local schedule as EventBridge would (with the simulated business date)."""
    starts = {}
    for zone in zones:
        at = local_to_utc(zone, business_date, clock_time(8, 0))
        starts[zone.name] = runtime.fire_schedule(f"reminder-schedule-{zone.name.lower()}", at,
                                                  {"business_date": business_date.isoformat()})
    return starts


def run_workflows(business_date: date, zones: Iterable[Zone], stack: LocalReminderStack, *,
                  timeout: float | None = None,
                  between_stages: Callable[[], None] | None = None) -> dict[str, dict[str, Any]]:
    """Deliver stage and dispatch messages until every zone's execution has finished.

    The day goes in rounds: every dispatch queue drained and every status callback in, then the
    stage messages the zones' workflows have sent meanwhile (one per zone still running: the zones
    run side by side, as their slots overlap in production), then their dispatch, and so on.

    ``between_stages`` runs whenever the previous stage is fully done (dispatch drained, callbacks
    in) and before the next stage messages are delivered: what happens in the real hours between
    slots (e.g. a borrower pays).
    """
    zones = list(zones)
    runtime = stack.runtime
    executions = Executions(STATE_MACHINE)
    timeout = day_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        runtime.drain(DISPATCH_FUNCTIONS, idle=stack.idle)
        if between_stages is not None:
            between_stages()
        described = {z.name: executions.describe(execution_name(z, business_date)) for z in zones}
        running = sum(1 for d in described.values() if d is None or d["status"] == "RUNNING")
        if _deliver_stage_round(runtime, running):
            continue
        if not running and runtime.queue_depth("reminder-stages") == 0:
            return {name: d for name, d in described.items() if d is not None}
        if time.monotonic() > deadline:
            raise TimeoutError(f"workflows still running after {timeout:.0f}s: "
                               f"{[n for n, d in described.items() if d is None or d['status'] == 'RUNNING']}")


def _deliver_stage_round(runtime: LambdaRuntime, expected: int) -> int:
    """The stage messages of one round, each in its own invocation; how many were delivered.

    Each is awaited by long polling (taken the moment the state machine sends it, with no request
    per loop while its Wait and task states run), up to ``expected`` (the zones still running):
    the zones' workflows send theirs within moments of each other.
    """
    delivered = 0
    while delivered < max(1, expected):
        if not runtime.deliver(STAGE_FUNCTION, wait_seconds=STAGE_POLL_SECONDS).received:
            break
        delivered += 1
    return delivered


def run_day(business_date: date, stack: LocalReminderStack, zones: Iterable[Zone] = tuple(Zone),
            timeout: float | None = None,
            between_stages: Callable[[], None] | None = None) -> DayResult:
    zones = list(zones)
    started = time.perf_counter()
    starts = fire_zone_schedules(business_date, zones, stack.runtime)
    executions = run_workflows(business_date, zones, stack, timeout=timeout,
                               between_stages=between_stages)
    return DayResult(starts, executions, time.perf_counter() - started)
