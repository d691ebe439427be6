"""HTTP clients for the voice and WhatsApp providers, shaped on the public APIs.

- Voice: Vonage Voice API ``POST {base}/v1/calls`` with an NCCO ``talk`` action (id-ID) and
  ``event_url`` for the status callbacks; answer ``201 {"uuid": ...}``.
- WhatsApp: WhatsApp Business Cloud API ``POST {base}/{version}/{phone_number_id}/messages`` with a
  ``template`` message; answer ``200 {"messages": [{"id": "wamid..."}]}``. ``biz_opaque_callback_data``
  comes back in the status webhooks.

Pointing at the real services is configuration: ``VOICE_API_URL`` (https://api.nexmo.com),
``WHATSAPP_API_URL`` (https://graph.facebook.com/v19.0, version included), tokens from
``provider_secret`` (environment locally, the ``PROVIDER_SECRETS_ARN`` secret deployed).
Every request is paced by a ``RateLimiter`` and retried with exponential backoff on 429, 5xx and
timeouts/connection errors, a bounded number of times (``PROVIDER_MAX_ATTEMPTS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from chalicelib import config
from chalicelib.reminders.ratelimit import RateLimiter
from chalicelib.reminders.secrets import provider_secret

RETRY_STATUSES = {429, 500, 502, 503, 504}


class ProviderError(Exception):
    """The provider refused the request or kept failing after bounded retries."""

    def __init__(self, message: str, *, attempts: int, retryable: bool = False) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retryable = retryable


class _Retryable(Exception):
    pass


@dataclass(frozen=True)
class ProviderSettings:
    base_url: str
    token: str
    rate_per_second: float
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    timeout: float = 10.0


@dataclass(frozen=True)
class Accepted:
    provider_id: str
    attempts: int


def _settings(prefix: str, rate_setting: str, default_rate: float) -> ProviderSettings:
    return ProviderSettings(
        base_url=config.env_str(f"{prefix}_API_URL", "").rstrip("/"),
        token=provider_secret(f"{prefix}_API_TOKEN"),
        rate_per_second=config.env_float(rate_setting, default_rate),
        max_attempts=config.env_int("PROVIDER_MAX_ATTEMPTS", 4),
        backoff_base=config.env_float("PROVIDER_BACKOFF_BASE_SECONDS", 0.5),
        backoff_max=config.env_float("PROVIDER_BACKOFF_MAX_SECONDS", 8.0),
        timeout=config.env_float("PROVIDER_TIMEOUT_SECONDS", 10.0),
    )


def voice_settings() -> ProviderSettings:
    return _settings("VOICE", "CALLS_PER_SECOND", 1.0)


def whatsapp_settings() -> ProviderSettings:
    return _settings("WHATSAPP", "WHATSAPP_MESSAGES_PER_SECOND", 20.0)


class _HttpProvider:
    def __init__(self, settings: ProviderSettings, session: requests.Session | None = None) -> None:
        if not settings.base_url:
            raise RuntimeError("provider base URL is not configured")
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_per_second)
        self.session = session or requests.Session()

    def _post(self, path: str, payload: dict[str, Any], ok: tuple[int, ...]) -> tuple[dict[str, Any], int]:
        s = self.settings
        attempts = 0

        def once() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            self.limiter.acquire()
            try:
                resp = self.session.post(f"{s.base_url}{path}", json=payload, timeout=s.timeout,
                                         headers={"Authorization": f"Bearer {s.token}"})
            except (requests.Timeout, requests.ConnectionError) as exc:
                raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {resp.status_code}")
            if resp.status_code not in ok:
                raise ProviderError(f"HTTP {resp.status_code}: {resp.text[:200]}", attempts=attempts)
            return resp.json()

        def give_up(state: RetryCallState) -> dict[str, Any]:
            exc = state.outcome.exception() if state.outcome else None
            raise ProviderError(f"gave up after {attempts} attempts: {exc}", attempts=attempts, retryable=True)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(s.max_attempts),
            wait=wait_exponential(multiplier=s.backoff_base, max=s.backoff_max),
            retry_error_callback=give_up,
            reraise=True,
        )
        return retrying(once), attempts


class VoiceClient(_HttpProvider):
    """Vonage Voice API: outbound text-to-speech call."""

    def __init__(self, settings: ProviderSettings | None = None, *, from_number: str | None = None,
                 session: requests.Session | None = None) -> None:
        super().__init__(settings or voice_settings(), session)
        self.from_number = from_number or config.env_str("VOICE_FROM_NUMBER", "622150851234")

    def call(self, to: str, text: str, event_url: str, *, language: str = "id-ID") -> Accepted:
        payload = {
            "to": [{"type": "phone", "number": to}],
            "from": {"type": "phone", "number": self.from_number},
            "ncco": [{"action": "talk", "text": text, "language": language}],
            "event_url": [event_url],
            "event_method": "POST",
            "machine_detection": "hangup",
        }
        body, attempts = self._post("/v1/calls", payload, ok=(200, 201))
        return Accepted(provider_id=str(body["uuid"]), attempts=attempts)


class WhatsAppClient(_HttpProvider):
    """WhatsApp Business Cloud API: approved template message."""

    def __init__(self, settings: ProviderSettings | None = None, *, phone_number_id: str | None = None,
                 session: requests.Session | None = None) -> None:
        super().__init__(settings or whatsapp_settings(), session)
        self.phone_number_id = phone_number_id or config.env_str("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")

    def send_template(self, to: str, template: str, parameters: list[str], callback_data: str,
                      *, language: str = "id") -> Accepted:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": language},
                "components": [{"type": "body",
                                "parameters": [{"type": "text", "text": p} for p in parameters]}],
            },
            "biz_opaque_callback_data": callback_data,
        }
        body, attempts = self._post(f"/{self.phone_number_id}/messages", payload, ok=(200,))
        return Accepted(provider_id=str(body["messages"][0]["id"]), attempts=attempts)


def international(phone: str) -> str:
    """Indonesian mobile number in E.164 digits without '+': 0812… → 62812…"""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("0"):
        return "62" + digits[1:]
    return digits
