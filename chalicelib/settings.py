"""Typed settings: what each function reads, declared once.

Every Lambda function (and the HTTP API) has one settings class. The class lists each
environment variable the function reads, its type, default and, for deployable settings,
the template parameter it comes from. ``infra/package.py`` generates the template's
``Environment`` and ``Parameters`` from these classes, so the template and the code cannot
drift; the cold start calls ``<Class>.load()``, which fails with a message naming the first
missing or invalid setting.

    from chalicelib.settings import DispatchSettings
    s = DispatchSettings.load()
    s.calls_per_second, s.reminder_callback_base_url

Secrets are never template environment values. Each secret setting belongs to one of the
Secrets Manager secrets below (a JSON object whose keys are the setting names); the function
gets only the ARN of the secret it may read:

    database-<group>  DATABASE_SECRET_ARN  the login of the function group's PostgreSQL role
                                           (julo_api, julo_reminders, …: chalicelib/database_roles.py)
    callback  CALLBACK_SECRETS_ARN         the API: callback verification secrets
    outbound  PROVIDER_TOKENS_SECRET_ARN   the dispatch functions: outbound provider tokens
    slack     SLACK_SECRET_ARN             the stuck-disbursement report and the day report: the Slack token

An environment variable of the same name wins over the secret (local runs and tests).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

from chalicelib import aws, database_roles

S = TypeVar("S", bound="Settings")


@dataclass(frozen=True)
class SecretGroup:
    name: str
    arn_env: str
    parameter: str
    description: str
    role: str | None = None  # database groups: the PostgreSQL role whose login the secret holds


SECRET_GROUPS: dict[str, SecretGroup] = {
    g.name: g
    for g in (
        *(SecretGroup(r.group, "DATABASE_SECRET_ARN", r.parameter,
                      f"login of PostgreSQL role {r.name} ({r.functions}): RDS JSON (username, password, host, "
                      "port, dbname) or a postgresql:// URL", role=r.name) for r in database_roles.ROLES),
        SecretGroup("callback", "CALLBACK_SECRETS_ARN", "CallbackSecretsArn",
                    "callback verification secrets, read by the API only"),
        SecretGroup("outbound", "PROVIDER_TOKENS_SECRET_ARN", "ProviderTokensSecretArn",
                    "outbound provider tokens, read by the dispatch functions only"),
        SecretGroup("slack", "SLACK_SECRET_ARN", "SlackSecretArn",
                    "the Slack bot token, read by the stuck-disbursement report and the reminder-stage function"),
    )
}

# Sample values of the providers' documentation: never a real deployment's value.
SAMPLE_VALUES = {"106540352242922", "622150851234", "14155550100"}


class SettingError(RuntimeError):
    """A setting is missing or invalid: the cold start fails with this message."""


@dataclass(frozen=True)
class Spec:
    """How one field of a settings class is read and deployed."""

    env: str
    description: str
    required: bool = False
    parameter: str | None = None          # template parameter the value comes from (deployed)
    parameter_type: str = "String"
    parameter_default: str | None = None  # None: the stack operator must give it
    resource: tuple[str, str] | None = None  # (kind, name): the template passes that resource's id
    secret: str | None = None             # secret group the value lives in (deployed)
    check: Callable[[str], str | None] | None = None  # returns an error message, or None
    allowed: tuple[str, ...] = ()
    parameter_pattern: str | None = None  # the parameter's AllowedPattern (CloudFormation refuses others)
    # when the parameter is left empty, the template passes this value of the stack itself instead
    # ("api_url": the API's own execute-api URL), so no first deploy needs a hand-filled value
    parameter_fallback: str | None = None


def absolute_url(value: str) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "must be an absolute http(s) URL"
    return None


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
HOSTNAME = re.compile(r"[A-Za-z0-9.-]+")


def public_url(value: str) -> str | None:
    """A URL providers can post to: absolute, a real host name (no ``<api-id>`` placeholder), and
    https unless it is this machine (local runs)."""
    problem = absolute_url(value)
    if problem:
        return problem
    parsed = urlparse(value)
    host = parsed.hostname or ""
    if not HOSTNAME.fullmatch(host) or host.endswith((".invalid", ".")) or "<" in value or ">" in value:
        return "must name a real host, not a placeholder"
    if parsed.scheme != "https" and host not in LOOPBACK_HOSTS:
        return "must be https (providers post borrowers' call outcomes to it)"
    return None


def not_sample(value: str) -> str | None:
    return "is a documentation sample, not a real value" if value.strip() in SAMPLE_VALUES else None


def pem_private_key(value: str) -> str | None:
    return None if "PRIVATE KEY-----" in value else "must be a PEM private key"


def setting(env: str, default: Any = dataclasses.MISSING, *, description: str, **spec: Any) -> Any:
    """A settings field: ``env`` is the variable's name; no default means required."""
    required = default is dataclasses.MISSING
    meta = {"spec": Spec(env=env, description=description, required=required, **spec)}
    if required:
        return field(default=None, metadata=meta)
    return field(default=default, metadata=meta)


def resource(kind: str, name: str, *, description: str) -> Any:
    """The physical id of a template resource (queue URL, table name, state machine ARN)."""
    prefix = {"queue": "QUEUE_URL_", "table": "TABLE_NAME_", "state_machine": "STATE_MACHINE_ARN_"}[kind]
    env = prefix + "".join(c if c.isalnum() else "_" for c in name).upper()
    return setting(env, "", description=description, resource=(kind, name))


def secret(env: str, group: str, *, description: str, required: bool = True, **spec: Any) -> Any:
    if group not in SECRET_GROUPS:
        raise ValueError(f"unknown secret group {group!r}")
    if required:
        return setting(env, description=description, secret=group, **spec)
    return setting(env, "", description=description, secret=group, **spec)


def _convert(spec: Spec, raw: str, kind: Any) -> Any:
    name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if name.startswith("int"):
            return int(raw)
        if name.startswith("float"):
            return float(raw)
        if name.startswith("bool"):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
    except ValueError as exc:
        raise SettingError(f"setting {spec.env} must be {name.split(' ')[0]}, got {raw!r}") from exc
    return raw


@lru_cache(maxsize=8)
def _secret_json(arn: str) -> dict[str, Any]:
    value = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        return {"__plain__": value}
    return parsed if isinstance(parsed, dict) else {"__plain__": value}


def secret_value(name: str, group: str, environ: Mapping[str, str] | None = None) -> str:
    """``name`` from the environment, else from the JSON secret of ``group`` (if its ARN is set)."""
    env = os.environ if environ is None else environ
    if env.get(name):
        return str(env[name])
    arn = env.get(SECRET_GROUPS[group].arn_env, "")
    if not arn:
        return ""
    return str(_secret_json(arn).get(name, ""))


@lru_cache(maxsize=8)
def _previous_secret_json(arn: str) -> dict[str, Any]:
    """The secret's ``AWSPREVIOUS`` version ({} when it has none): what it held before the last change."""
    client = aws.client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def secret_values(name: str, group: str, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``name``'s current value and, while a rotation is under way, its previous one.

    For secrets that verify what someone else signs (webhook signing secrets): a change is put
    into the group's secret first (Secrets Manager then keeps the old value as the
    ``AWSPREVIOUS`` version), then made at the provider; webhooks signed with either verify
    meanwhile. After the change-over, remove the ``AWSPREVIOUS`` label to stop accepting the old
    value. An environment variable of the same name wins (one value)."""
    env = os.environ if environ is None else environ
    if env.get(name):
        return (str(env[name]),)
    arn = env.get(SECRET_GROUPS[group].arn_env, "")
    if not arn:
        return ()
    values = (_secret_json(arn).get(name), _previous_secret_json(arn).get(name))
    return tuple(dict.fromkeys(str(v) for v in values if v))


SECRET_REFRESH_MIN_INTERVAL_S = 60.0
_refreshed_at: dict[str, float] = {}


def refresh_secret(group: str) -> bool:
    """Forget the group's cached secret versions so the next read asks Secrets Manager (a value put
    after this container read it); at most once per SECRET_REFRESH_MIN_INTERVAL_S per group, so a
    stream of bad signatures cannot turn into a stream of Secrets Manager calls. True if forgotten."""
    now = time.monotonic()
    if now - _refreshed_at.get(group, -SECRET_REFRESH_MIN_INTERVAL_S) < SECRET_REFRESH_MIN_INTERVAL_S:
        return False
    _refreshed_at[group] = now
    _secret_json.cache_clear()
    _previous_secret_json.cache_clear()
    return True


def forget_secrets() -> None:
    _secret_json.cache_clear()
    _previous_secret_json.cache_clear()
    _refreshed_at.clear()


@dataclass(frozen=True)
class Settings:
    """Base of every settings class. ``load()`` reads, converts and checks every field."""

    database: ClassVar[bool] = False  # the function uses PostgreSQL (VPC, database secret)
    database_role: ClassVar[str] = ""  # its function group's PostgreSQL role (chalicelib/database_roles.py)

    log_level: str = setting("LOG_LEVEL", "INFO", description="Powertools log level",
                             parameter="LogLevel", parameter_default="INFO",
                             allowed=("DEBUG", "INFO", "WARNING", "ERROR"))

    @classmethod
    def specs(cls) -> list[tuple[str, Spec]]:
        return [(f.name, f.metadata["spec"]) for f in dataclasses.fields(cls) if "spec" in f.metadata]

    @classmethod
    def from_environment(cls: type[S]) -> S:
        """``load()`` of the process environment: what a handler's edge calls at its cold start."""
        return cls.load()

    @classmethod
    def load(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        for attr, spec in cls.specs():
            raw = secret_value(spec.env, spec.secret, env) if spec.secret else env.get(spec.env, "")
            if raw == "":
                if spec.required:
                    where = (f" (or key {spec.env} of the secret in {SECRET_GROUPS[spec.secret].arn_env})"
                             if spec.secret else "")
                    raise SettingError(f"{cls.__name__}: required setting {spec.env} is not set{where}: "
                                       f"{spec.description}")
                continue
            if spec.allowed and raw not in spec.allowed:
                raise SettingError(f"setting {spec.env} must be one of {', '.join(spec.allowed)}, got {raw!r}")
            if spec.check is not None:
                problem = spec.check(raw)
                if problem:
                    raise SettingError(f"setting {spec.env} {problem}: {raw[:60]!r}")
            values[attr] = _convert(spec, raw, hints[attr])
        if cls.database and not (env.get("DATABASE_URL") or env.get("DATABASE_SECRET_ARN")):
            raise SettingError(f"{cls.__name__}: required setting DATABASE_SECRET_ARN is not set "
                               "(or DATABASE_URL, for local runs): the database credentials")
        loaded = cls(**values)
        problem = loaded.cross_check()
        if problem:
            raise SettingError(f"{cls.__name__}: {problem}")
        return loaded

    def cross_check(self) -> str | None:
        """A problem between settings (checked at cold start after each one is valid), or None."""
        return None


def contact_hours(value: str) -> str | None:
    from chalicelib.contact_policy.hours import ContactHours

    try:
        ContactHours.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def contact_clock(value: str) -> str | None:
    from chalicelib.contact_policy.clock import clock_from_setting

    try:
        clock_from_setting(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class _ContactPolicy(Settings):
    """What the contact policy reads (chalicelib/contact_policy): the allowed hours and the clock."""

    contact_hours: str = setting(
        "CONTACT_HOURS", "08:00-20:00", check=contact_hours, parameter="ContactHours",
        parameter_default="08:00-20:00",
        description="allowed contact hours in the borrower's local time (POJK 22/2023 Pasal 62 (2) f), "
                    "HH:MM-HH:MM, optionally with per-zone overrides: 08:00-20:00,WIT=09:00-20:00")
    contact_clock: str = setting("CONTACT_CLOCK", "", check=contact_clock,
                                 description="the contact policy's clock: empty = the system clock (deployed); "
                                             "replay:<file> = a local replayed day's")

    def cross_check(self) -> str | None:
        from chalicelib.reminders.contact import slots_outside_hours

        outside = slots_outside_hours(self.contact_hours)
        return f"stage slots outside CONTACT_HOURS: {'; '.join(outside)}" if outside else None


# --- the settings each function reads ---------------------------------------------------------


@dataclass(frozen=True)
class ApiSettings(Settings):
    """The HTTP API (app.py): partner views, CRM, analytics, provider callbacks."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_api"
    statement_timeout_ms: int = setting("API_STATEMENT_TIMEOUT_MS", 15_000,
                                        description="PostgreSQL statement timeout of an API request (ms)")
    ledger_table: str = resource("table", "reminder-ledger", description="the reminder ledger (callbacks)")
    vonage_signature_secret: str = secret("VONAGE_SIGNATURE_SECRET", "callback",
                                          description="Vonage signed-webhook secret (HS256 JWT)")
    whatsapp_app_secret: str = secret("WHATSAPP_APP_SECRET", "callback",
                                      description="Meta app secret: X-Hub-Signature-256 of WhatsApp webhooks")
    whatsapp_verify_token: str = secret("WHATSAPP_VERIFY_TOKEN", "callback",
                                        description="token of Meta's hub.challenge webhook handshake")
    vonage_signature_method: str = setting(
        "VONAGE_SIGNATURE_METHOD", "sha256", parameter="VonageSignatureMethod", parameter_default="sha256",
        allowed=("md5hash", "md5", "sha1", "sha256", "sha512"),
        description="the signature method chosen in the Vonage dashboard for signed SMS webhooks (delivery "
                    "receipts are signed with VONAGE_SIGNATURE_SECRET and this method)")
    voice_callback_secret: str = secret("VOICE_CALLBACK_SECRET", "callback", required=False,
                                        description="legacy HMAC secret of robocall status callbacks")
    partner_rate_per_second: float = setting(
        "PARTNER_RATE_LIMIT_PER_SECOND", 10.0, parameter="PartnerRateLimitPerSecond", parameter_type="Number",
        parameter_default="10",
        description="requests per second each partner may make, all API containers together (0: no limit)")
    partner_rate_burst: int = setting(
        "PARTNER_RATE_LIMIT_BURST", 20, parameter="PartnerRateLimitBurst", parameter_type="Number",
        parameter_default="20", description="requests a partner may make at once after being idle")
    opt_out_keywords: str = setting("OPT_OUT_KEYWORDS", "BERHENTI,STOP,UNSUBSCRIBE",
                                    description="inbound WhatsApp texts that opt the number out of WhatsApp "
                                                "(comma-separated, case-insensitive, the whole message)")
    whatsapp_queue: str = resource("queue", "reminder-dispatch-whatsapp",
                                   description="WhatsApp dispatch queue (opt-out confirmations owed)")


@dataclass(frozen=True)
class ScheduleSettings(Settings):
    """reminder-schedule-<zone>: start the day's workflow."""

    state_machine: str = resource("state_machine", "t3-reminders", description="the T-3 workflow")


@dataclass(frozen=True)
class _Rates(Settings):
    calls_per_second: float = setting(
        "CALLS_PER_SECOND", 1.0, parameter="CallsPerSecond", parameter_type="Number", parameter_default="1",
        description="voice calls the provider contract allows in any rolling second (all dispatch containers "
                    "together: they share one slot grid)")
    whatsapp_messages_per_second: float = setting(
        "WHATSAPP_MESSAGES_PER_SECOND", 20.0, parameter="WhatsAppMessagesPerSecond", parameter_type="Number",
        parameter_default="20", description="WhatsApp messages per rolling second (all dispatch containers together)")
    sms_messages_per_second: float = setting(
        "SMS_MESSAGES_PER_SECOND", 30.0, parameter="SmsMessagesPerSecond", parameter_type="Number",
        parameter_default="30",
        description="SMS per rolling second the Vonage SMS API allows the account (all dispatch containers "
                    "together: they share one slot grid)")
    voice_max_concurrent_calls: int = setting(
        "VOICE_MAX_CONCURRENT_CALLS", 0, parameter="VoiceMaxConcurrentCalls", parameter_type="Number",
        parameter_default="0",
        description="voice calls the provider contract allows in progress at once (0: no such limit)")
    voice_max_call_seconds: int = setting(
        "VOICE_MAX_CALL_SECONDS", 120, parameter="VoiceMaxCallSeconds", parameter_type="Number",
        parameter_default="120",
        description="the longest a robocall may last once it rings (Vonage ringing_timer + length_timer)")
    max_concurrency: int = setting(
        "DISPATCH_MAX_CONCURRENCY", 2, parameter="DispatchMaxConcurrency", parameter_type="Number",
        parameter_default="2",
        description="containers per dispatch function (reserved concurrency and SQS maximum concurrency); "
                    "a stage makes at least N chunks, so every container has calls in flight")


@dataclass(frozen=True)
class StageSettings(_Rates, _ContactPolicy):
    """reminder-stage: select a stage's payments and enqueue dispatch chunks; the day's summary."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_reminders"
    planned_calls_per_second: float = setting("VOICE_PLANNED_CALLS_PER_SECOND", 0.0,
                                              description="calls/s the capacity plan assumes (0: CALLS_PER_SECOND)")
    planned_messages_per_second: float = setting("WHATSAPP_PLANNED_MESSAGES_PER_SECOND", 0.0,
                                                 description="messages/s the plan assumes (0: the send rate)")
    planned_sms_per_second: float = setting("SMS_PLANNED_MESSAGES_PER_SECOND", 0.0,
                                            description="SMS/s the capacity plan assumes (0: SMS_MESSAGES_PER_SECOND)")
    capacity_headroom: float = setting("REMINDER_CAPACITY_HEADROOM", 0.9,
                                       description="share of a slot's time the plan may fill")
    chunk_size: int = setting("REMINDER_CHUNK_SIZE", 0, description="payments per dispatch chunk (0: by rate)")
    outcome_wait_minutes: int = setting("REMINDER_OUTCOME_WAIT_MINUTES", 60,
                                        description="minutes to wait for outcomes before WhatsApp")
    sms_wait_minutes: int = setting("REMINDER_SMS_WAIT_MINUTES", 120,
                                    description="minutes after the WhatsApp slot the SMS stage starts")
    robocall_queue: str = resource("queue", "reminder-dispatch-robocall", description="robocall dispatch queue")
    whatsapp_queue: str = resource("queue", "reminder-dispatch-whatsapp", description="WhatsApp dispatch queue")
    sms_queue: str = resource("queue", "reminder-dispatch-sms", description="SMS dispatch queue")
    report_channel: str = setting(
        "REMINDER_REPORT_SLACK_CHANNEL", "", parameter="ReminderReportSlackChannel", parameter_default="",
        description="Slack channel ID (C...) of the collections team: the reminder-day report per zone and date "
                    "(empty: not posted)")
    alert_success_rate: float = setting(
        "REMINDER_ALERT_SUCCESS_RATE", 0.25, parameter="StageSuccessRateThreshold", parameter_type="Number",
        parameter_default="0.25",
        description="a stage whose success rate (succeeded / placed) is under this is flagged in the day report "
                    "and alarms")
    slack_api_url: str = setting("SLACK_API_URL", "https://slack.com/api/", check=absolute_url,
                                 parameter="SlackApiUrl", parameter_default="https://slack.com/api/",
                                 description="Slack Web API base URL")
    slack_bot_token: str = secret("SLACK_BOT_TOKEN", "slack", required=False,
                                  description="Slack bot token (chat:write, channels:history)")
    ledger_table: str = resource("table", "reminder-ledger", description="the reminder ledger")
    stages_table: str = resource("table", "reminder-stages", description="stage progress")
    state_machine: str = resource("state_machine", "t3-reminders", description="the T-3 workflow")


@dataclass(frozen=True)
class DispatchSettings(_Rates, _ContactPolicy):
    """reminder-dispatch-robocall / -whatsapp: place the calls and messages of one chunk."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_reminders"
    voice_api_url: str = setting("VOICE_API_URL", "https://api.nexmo.com", check=absolute_url,
                                 parameter="VoiceApiUrl", parameter_default="https://api.nexmo.com",
                                 description="voice provider base URL (Vonage Voice API)")
    whatsapp_api_url: str = setting("WHATSAPP_API_URL", "https://graph.facebook.com/v19.0", check=absolute_url,
                                    parameter="WhatsAppApiUrl", parameter_default="https://graph.facebook.com/v19.0",
                                    description="WhatsApp Business Cloud API base URL")
    reminder_callback_base_url: str = setting(
        "REMINDER_CALLBACK_BASE_URL", check=public_url, parameter="PublicApiBaseUrl", parameter_default="",
        parameter_pattern=r"^$|^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$", parameter_fallback="api_url",
        description="public base URL of this API (providers post call/message status to <it>/v1/callbacks/…); "
                    "empty: the stack's own API URL (https://<api id>.execute-api.<region>.amazonaws.com/api), "
                    "else a custom domain with its base path")
    voice_from_number: str = setting("VOICE_FROM_NUMBER", check=not_sample, parameter="VoiceFromNumber",
                                     description="the caller number robocalls are placed from (E.164, no +)")
    whatsapp_phone_number_id: str = setting(
        "WHATSAPP_PHONE_NUMBER_ID", check=not_sample, parameter="WhatsAppPhoneNumberId",
        description="the WhatsApp Business phone-number id messages are sent from")
    sms_api_url: str = setting("SMS_API_URL", "https://rest.nexmo.com", check=absolute_url,
                               parameter="SmsApiUrl", parameter_default="https://rest.nexmo.com",
                               description="Vonage SMS API base URL")
    sms_sender_id: str = setting("SMS_SENDER_ID", "JULO", parameter="SmsSenderId", parameter_default="JULO",
                                 description="the SMS sender: a registered alphanumeric sender id or a number")
    threads: int = setting("DISPATCH_CONCURRENCY", 4, description="provider requests in flight per container")
    provider_max_attempts: int = setting("PROVIDER_MAX_ATTEMPTS", 4, description="attempts per provider request")
    provider_backoff_base: float = setting("PROVIDER_BACKOFF_BASE_SECONDS", 0.5, description="retry backoff base (s)")
    provider_backoff_max: float = setting("PROVIDER_BACKOFF_MAX_SECONDS", 8.0, description="retry backoff cap (s)")
    provider_timeout: float = setting("PROVIDER_TIMEOUT_SECONDS", 10.0, description="provider request timeout (s)")
    ledger_table: str = resource("table", "reminder-ledger", description="the reminder ledger")
    stages_table: str = resource("table", "reminder-stages", description="stage progress")
    provider_rate_table: str = resource("table", "provider-rate",
                                        description="the providers' slot grids, shared by every dispatch container")
    state_machine: str = resource("state_machine", "t3-reminders", description="the T-3 workflow")
    vonage_application_id: str = secret("VONAGE_APPLICATION_ID", "outbound",
                                        description="Vonage application id (JWT of each Voice API request)")
    vonage_private_key: str = secret("VONAGE_PRIVATE_KEY", "outbound", check=pem_private_key,
                                     description="Vonage application private key (PEM)")
    whatsapp_api_token: str = secret("WHATSAPP_API_TOKEN", "outbound",
                                     description="WhatsApp Cloud API access token")
    vonage_api_key: str = secret("VONAGE_API_KEY", "outbound", description="Vonage account API key (SMS API)")
    vonage_api_secret: str = secret("VONAGE_API_SECRET", "outbound",
                                    description="Vonage account API secret (SMS API, HTTP Basic)")
    voice_api_token: str = secret("VOICE_API_TOKEN", "outbound", required=False,
                                  description="legacy bearer token of the voice API")


@dataclass(frozen=True)
class DisbursementSettings(Settings):
    """disbursement-events: apply status changes; queue the calendar email on COMPLETED."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_disbursements"
    email_outbox_queue: str = resource("queue", "email-outbox",
                                       description="the outbox relay's queue (repayment-calendar emails)")


@dataclass(frozen=True)
class EmailOutboxSettings(Settings):
    """email-outbox (the relay) and email-outbox-sweeper: build and send the repayment-calendar email."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_disbursements"
    sender_email: str = setting("SENDER_EMAIL", "no-reply@example.co.id", parameter="SenderEmail",
                                parameter_default="no-reply@example.co.id",
                                description="verified SES identity the repayment-calendar email is sent from")


@dataclass(frozen=True)
class StuckReportSettings(Settings):
    """stuck-disbursement-report: the daily .xlsx to Slack."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_report"
    slack_api_url: str = setting("SLACK_API_URL", "https://slack.com/api/", check=absolute_url,
                                 parameter="SlackApiUrl", parameter_default="https://slack.com/api/",
                                 description="Slack Web API base URL")
    report_dir: str = setting("REPORT_DIR", "", description="where the .xlsx is written (default: temp dir)")
    slack_bot_token: str = secret("SLACK_BOT_TOKEN", "slack", description="Slack bot token (files:write)")


@dataclass(frozen=True)
class ContactHistorySettings(Settings):
    """contact-history-purge: the daily purge of the contact history past its retention."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_reminders"
    retention_days: int = setting("CONTACT_HISTORY_RETENTION_DAYS", 730, parameter="ContactHistoryRetentionDays",
                                  parameter_type="Number", parameter_default="730",
                                  description="days the contact history (every attempt and policy skip) is kept")


@dataclass(frozen=True)
class AnalyticsSettings(Settings):
    """analytics-etl: the daily incremental refresh."""

    database: ClassVar[bool] = True
    database_role: ClassVar[str] = "julo_analytics"


@dataclass(frozen=True)
class KeyAdminSettings(Settings):
    """python -m chalicelib.partners: issuing API keys (an operator's command, not a function)."""

    database: ClassVar[bool] = True
    partner_key_expiry_days: int = setting("PARTNER_KEY_EXPIRY_DAYS", 365,
                                           description="days a new partner key is valid (--expires-in-days overrides)")
    staff_key_expiry_days: int = setting("STAFF_KEY_EXPIRY_DAYS", 90,
                                         description="days a new staff key is valid, at most 366 "
                                                     "(--expires-in-days overrides)")


ALL: tuple[type[Settings], ...] = (ApiSettings, ScheduleSettings, StageSettings, DispatchSettings,
                                   DisbursementSettings, EmailOutboxSettings, StuckReportSettings,
                                   AnalyticsSettings, KeyAdminSettings, ContactHistorySettings)


def database_group(cls: type[Settings]) -> SecretGroup | None:
    """The secret group holding the login of ``cls``'s PostgreSQL role (None: it uses no database)."""
    if not cls.database:
        return None
    for g in SECRET_GROUPS.values():
        if g.role and g.role == cls.database_role:
            return g
    raise KeyError(f"{cls.__name__} uses PostgreSQL but names no function role (database_role)")


def by_name(path: str) -> type[Settings]:
    """``chalicelib.settings.DispatchSettings`` (or just ``DispatchSettings``) -> the class."""
    name = path.rpartition(".")[2]
    for cls in ALL:
        if cls.__name__ == name:
            return cls
    raise KeyError(f"no settings class {path!r}")


def declared_names() -> set[str]:
    """Every environment variable some settings class declares (plus the database ones)."""
    names = {spec.env for cls in ALL for _a, spec in cls.specs()}
    return names | {"DATABASE_URL", "DATABASE_SECRET_ARN"} | {g.arn_env for g in SECRET_GROUPS.values()}


_loaded: dict[type[Settings], Settings] = {}


def cold_start(cls: type[S]) -> S:
    """The container's settings of ``cls``: loaded (and checked) once, at the first invocation."""
    if cls not in _loaded:
        _loaded[cls] = cls.load()
    return _loaded[cls]  # type: ignore[return-value]


def forget() -> None:
    """Drop loaded settings and cached secrets (tests that change the environment)."""
    _loaded.clear()
    forget_secrets()


H = TypeVar("H", bound=Callable[..., Any])


def with_settings(cls: type[Settings]) -> Callable[[H], H]:
    """Declare a handler's settings class: the first invocation (the cold start) loads and checks it."""

    def wrap(handler: H) -> H:
        import functools

        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            cold_start(cls)
            return handler(event, context)

        run.settings_class = cls  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return wrap


def check_api_cold_start() -> None:
    """In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set), the API's import fails on a missing setting."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        cold_start(ApiSettings)
