"""Clients for the voice and WhatsApp providers, and the contract callers rely on.

Voice: the official Vonage SDK (``vonage-voice`` ``Voice.create_call`` with a ``CreateCallRequest``:
an NCCO ``talk`` action in id-ID, machine detection, and our ``event_url`` carrying the callback
reference). The SDK makes a fresh RS256 application JWT for every request from
``VONAGE_APPLICATION_ID`` and ``VONAGE_PRIVATE_KEY`` (PEM). ``VOICE_API_URL`` (default
``https://api.nexmo.com``) selects the host, so local runs point the SDK at the fake.

WhatsApp: the Cloud API ``POST {WHATSAPP_API_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages`` with a
``template`` message and ``biz_opaque_callback_data`` (our reference, echoed in status webhooks).
Meta ships no official Python SDK, so this one is plain ``requests``.

The contract (what ``dispatch`` and the ledger build on):

- success returns ``Accepted(provider_id, attempts)``;
- ``ProviderRejected``: a permanent refusal, nothing placed, do not retry;
- ``ProviderGaveUp``: retries exhausted on failures where nothing was placed (429 / rate-limit
  error codes, 5xx, connection refused or connect timeout before the request left);
- ``OutcomeUnknown``: the request was sent and its answer lost (read timeout, connection reset
  or cut after sending). The call or message may exist: callers must NOT retry; the ledger
  records ``uncertain`` and the first validly signed final status with our reference settles it.
- ``CredentialsRefused``: the provider refused our credentials twice (Vonage 401; Meta 401 or
  OAuthException code 190), the second time with credentials read again from the secret. Nothing
  was placed. A configuration error (a revoked token, a key not rotated everywhere), never the
  borrower's failure: the caller leaves the payment to be sent once the configuration is fixed.

Rotated credentials: the first refusal makes the client re-read its secret (``secrets.
refresh_provider_secrets``: at most once a minute per container; within that minute the
credentials already re-read are used) and send that one request again.

Every request, retries included, leaves on a slot of the provider's limiter, taken by the HTTP
connection right before the request goes on the wire (the JWT is signed, the body encoded and the
TLS connection up by then, so nothing slow stands between the slot and the provider): in the
dispatch containers the grid they all share (``provider_rate.py``), to which a 429 is reported so
that every container slows down; a client built with an explicit ``RetryPolicy`` paces itself
alone (``RateLimiter``). Retries back off exponentially (honouring ``Retry-After``) up to
``PROVIDER_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from vonage_http_client import Auth, HttpClient, HttpClientOptions
from vonage_http_client.errors import HttpRequestError
from vonage_jwt import JwtClient
from vonage_utils.errors import VonageError
from vonage_voice import Voice
from vonage_voice.models import CreateCallRequest, Phone, Talk, ToPhone

from chalicelib.reminders.provider_rate import Limiter, LimiterUnavailable, RateContract, shared_limiter
from chalicelib.reminders.provider_rate_dynamo import DynamoLaneStore
from chalicelib.reminders.ratelimit import RateLimiter
from chalicelib.reminders.secrets import provider_secret, refresh_provider_secrets
from chalicelib.reminders.stages import Channel
from chalicelib.settings import DispatchSettings

T = TypeVar("T")

# The SDK logs every 4xx/5xx as a plain-text warning; our callers log the classified error as JSON.
logging.getLogger("vonage").setLevel(logging.ERROR)

E164_DIGITS = re.compile(r"^[1-9]\d{6,14}$")  # what Vonage takes as a phone number (no '+', no leading 0)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# WhatsApp Cloud API error codes (Graph API ``error.code``; status webhook ``errors[].code``).
WHATSAPP_RATE_LIMIT_CODES = frozenset({130429, 131056, 80007, 4})
# the ones about our whole sending rate (131056 is one recipient's pair limit: no reason to slow everyone)
WHATSAPP_THROUGHPUT_CODES = frozenset({130429, 80007, 4})
WHATSAPP_PERMANENT_CODES = frozenset({131026, 131047, 131051, 131052, 131053, 131008, 131009, 100, 190, 131030})

WhatsAppErrorKind = Literal["rate_limited", "permanent", "transient"]
# Graph API OAuthException: the access token is invalid, expired or revoked (HTTP 401, sometimes 400)
WHATSAPP_TOKEN_INVALID = 190


class ProviderError(Exception):
    """Base of every provider failure; ``attempts`` is how many requests were made.

    Callers branch on the subclass, never on the message (see the module docstring).
    """

    def __init__(self, message: str, *, attempts: int, code: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.code = code  # HTTP status or WhatsApp error code, when known


class ProviderRejected(ProviderError):
    """Permanent refusal: definitely not placed; a retry would be refused again."""


class ProviderGaveUp(ProviderError):
    """Retries exhausted on errors where nothing was placed."""


class OutcomeUnknown(ProviderError):
    """Sent, answer lost: may have been placed. Never retry."""


class CredentialsRefused(ProviderError):
    """Our credentials were refused again after they were read afresh: a configuration error; nothing placed."""


class _Refused(Exception):
    """One request refused for its credentials (401 / code 190); ``used`` is the credential it carried."""

    def __init__(self, message: str, used: str, code: int | None) -> None:
        super().__init__(message)
        self.used = used
        self.code = code


class _Retryable(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, code: int | None = None,
                 throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code
        self.throttled = throttled  # the provider said we exceed its rate: the shared limiter slows down


@dataclass(frozen=True)
class Accepted:
    provider_id: str
    attempts: int
    # an SMS sent in several parts: every sent part's message id, in order (the first is provider_id), and
    # how many parts the provider refused (a half-sent message); () for a message of one part
    part_ids: tuple[str, ...] = ()
    refused_parts: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    rate_per_second: float
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    timeout: float = 10.0

    @classmethod
    def of(cls, settings: DispatchSettings, rate_per_second: float) -> RetryPolicy:
        """The settings' policy (``PROVIDER_MAX_ATTEMPTS`` …) at the channel's rate."""
        return cls(
            rate_per_second=rate_per_second,
            max_attempts=max(1, settings.provider_max_attempts),
            backoff_base=settings.provider_backoff_base,
            backoff_max=settings.provider_backoff_max,
            timeout=settings.provider_timeout,
        )


def whatsapp_error_kind(code: int | None) -> WhatsAppErrorKind:
    """Rate limits are retried with backoff; permanent errors are failed without retry."""
    if code is None:
        return "transient"
    if code in WHATSAPP_RATE_LIMIT_CODES:
        return "rate_limited"
    if code in WHATSAPP_PERMANENT_CODES or 132000 <= code <= 132999:
        return "permanent"
    return "transient"


def nothing_sent(exc: BaseException) -> bool:
    """True when a connection error happened before the request left (refused, DNS, connect timeout).

    A reset, cut or read timeout after sending is not ``nothing_sent``: the provider may have acted.
    """
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):  # TLS fails before the request
        return True
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen or cur is None:
            continue
        seen.add(id(cur))
        if isinstance(cur, (NewConnectionError, ConnectTimeoutError, NameResolutionError, ConnectionRefusedError)):
            return True
        if isinstance(cur, BaseException):
            todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args])
    return False


def transport_error(exc: requests.RequestException) -> Exception:
    """A connection error: retryable when nothing was sent, else the outcome is unknown."""
    if nothing_sent(exc):
        return _Retryable(f"not sent: {type(exc).__name__}")
    return OutcomeUnknown(f"answer lost after sending: {type(exc).__name__}", attempts=0)


def vonage_http_error(resp: requests.Response, used: str, refused: str | None) -> Exception:
    """A Vonage API's non-2xx answer: the credentials ``refused`` (with why), a retry, or a rejection."""
    status = resp.status_code
    if refused:
        return _Refused(f"HTTP {status} ({refused})", used, status)
    if status in RETRY_STATUSES:
        return _Retryable(f"HTTP {status}", retry_after=_retry_after(resp.headers), code=status,
                          throttled=status == 429)
    return ProviderRejected(f"HTTP {status}{_vonage_problem(resp)}", attempts=0, code=status)


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


class _Paced:
    """Rate limiting, bounded retries and credentials re-read on refusal, shared by the clients."""

    def __init__(self, policy: RetryPolicy, limiter: Limiter) -> None:
        self.policy = policy
        self.limiter = limiter
        self._latencies: list[float] = []  # ms of each request that went out (``take_latencies``)
        self._latency_lock = threading.Lock()
        self._credentials_lock = threading.Lock()

    def chunk(self, expected: int) -> AbstractContextManager[None]:
        """Around a dispatch chunk of about ``expected`` sends (lets the limiter claim slots ahead)."""
        return self.limiter.chunk(expected)

    def take_latencies(self) -> list[float]:
        """The provider's answer times (ms) since the last call, for the ProviderLatency metric."""
        with self._latency_lock:
            taken, self._latencies = self._latencies, []
        return taken

    def _current_credential(self) -> str:
        """The credential requests carry now (compared with a refused request's); "" for a client that
        does not re-read its credentials through ``_authenticated``."""
        return ""

    def _reload_credentials(self) -> None:
        """Read the credentials from the secret (the cache was dropped, or another thread re-read it);
        clients that use ``_authenticated`` override it."""

    def _authenticated(self, send: Callable[[], tuple[T, int]]) -> tuple[T, int]:
        """``send`` (a request with its retries); refused for its credentials: re-read them once and send again."""
        try:
            return send()
        except _Refused as first:
            with self._credentials_lock:
                if self._current_credential() == first.used:  # nobody re-read them since this request went out
                    refresh_provider_secrets()
                    self._reload_credentials()
            try:
                result, attempts = send()
            except _Refused as second:
                raise CredentialsRefused(f"credentials refused again after re-reading the secret: {second}",
                                         attempts=2, code=second.code) from second
            return result, attempts + 1

    def _run(self, once: Callable[[], T], gate: Callable[[], None] | None = None) -> tuple[T, int]:
        """``once`` with the rate limit and bounded retries. ``gate`` (the contact policy's send-time
        check) runs after each wait for the limiter (in the connection, once it has its slot), just
        before the request goes out: it raises to stop the send (and no request is made)."""
        p = self.policy
        attempts = 0
        backoff = wait_exponential(multiplier=p.backoff_base, max=p.backoff_max)

        def attempt() -> T:
            nonlocal attempts
            # the connection runs the gate once it has its slot, and notes when the request left
            _turn.gate, _turn.refused, _turn.sent_at = gate, False, None
            try:
                return once()
            except _Retryable as exc:
                if exc.throttled:
                    self.limiter.throttled(exc.retry_after)
                raise
            finally:
                attempts += not _turn.refused  # a refused send made no request
                if _turn.sent_at is not None:  # from the request on the wire to its answer (no slot wait)
                    with self._latency_lock:
                        self._latencies.append((time.monotonic() - _turn.sent_at) * 1000)
                _turn.gate, _turn.sent_at = None, None

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hinted = exc.retry_after if isinstance(exc, _Retryable) else None
            return min(p.backoff_max, hinted) if hinted is not None else backoff(state)

        def give_up(state: RetryCallState) -> T:
            exc = state.outcome.exception() if state.outcome else None
            code = exc.code if isinstance(exc, _Retryable) else None
            raise ProviderGaveUp(f"gave up after {attempts} attempts: {exc}", attempts=attempts, code=code)

        retrying = Retrying(retry=retry_if_exception_type(_Retryable), stop=stop_after_attempt(p.max_attempts),
                            wait=wait, retry_error_callback=give_up, reraise=True)
        try:
            return retrying(attempt), attempts
        except ProviderError as exc:
            exc.attempts = attempts
            raise


@lru_cache(maxsize=4)
def _signing_key(pem: str) -> PrivateKeyTypes:
    """The application key, parsed and checked once: parsing an RSA key costs ~0.1 s, every time."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


class _ApplicationAuth(Auth):
    """The SDK's Auth whose per-request application JWT (the SDK's JwtClient) signs with the parsed key."""

    def __init__(self, application_id: str, private_key: str) -> None:
        super().__init__(application_id=application_id, private_key=private_key)
        self._signer = JwtClient(application_id, _signing_key(private_key))

    def generate_application_jwt(self, claims: dict[str, Any] | None = None) -> bytes:
        token: bytes = self._signer.generate_application_jwt(claims)
        return token


class _Turn(threading.local):
    """This thread's send in progress: the gate to run once it has its slot, whether it refused, and
    when the request went on the wire (``time.monotonic``)."""

    gate: Callable[[], None] | None = None
    refused: bool = False
    sent_at: float | None = None


_turn = _Turn()


def _paced_pools(limiter: Limiter) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pools whose connections take a slot of ``limiter`` once connected, then run the send's
    gate, before each request."""

    def paced(base: type[HTTPConnection]) -> type[HTTPConnection]:
        class Paced(base):  # type: ignore[misc,valid-type]
            def request(self, *args: Any, **kwargs: Any) -> None:
                if self.is_closed:  # plain HTTP connects lazily: a connect is not part of the slot
                    self.connect()
                limiter.acquire()
                if _turn.gate is not None:
                    try:
                        _turn.gate()
                    except BaseException:  # the gate stops the send: nothing goes out
                        _turn.refused = True
                        raise
                _turn.sent_at = time.monotonic()
                super().request(*args, **kwargs)

        return Paced

    class Http(HTTPConnectionPool):
        ConnectionCls = paced(HTTPConnection)

    class Https(HTTPSConnectionPool):
        ConnectionCls = paced(HTTPSConnection)  # type: ignore[assignment]

    return {"http": Http, "https": Https}


class _PacedAdapter(HTTPAdapter):
    """requests' adapter whose every request takes a slot of the provider's limiter on the wire."""

    def __init__(self, limiter: Limiter, **kwargs: Any) -> None:
        self.limiter = limiter  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _paced_pools(self.limiter)


def _limiter(policy: RetryPolicy | None, limiter: Limiter | None, channel: Channel,
             settings: DispatchSettings) -> Limiter:
    """The limiter given; else a client with its own policy paces itself; else the shared grid."""
    if limiter is not None:
        return limiter
    if policy is not None:
        return RateLimiter(policy.rate_per_second)
    return shared_limiter(channel, settings, DynamoLaneStore)


def _vonage_options(base_url: str, timeout: float) -> HttpClientOptions:
    host = urlsplit(base_url).netloc or base_url
    # pool_maxsize=1: the SDK re-sends a request after RemoteDisconnected up to pool_maxsize times;
    # a cut after Vonage accepted would call the borrower twice. max_retries=0: we retry ourselves.
    # model_construct: the SDK's model types the timeout as whole seconds; requests takes a float.
    return HttpClientOptions.model_construct(api_host=host, rest_host="rest.nexmo.com",
                                             video_host="video.api.vonage.com", timeout=timeout,
                                             pool_connections=1, pool_maxsize=1, max_retries=0)


class VoiceClient(_Paced):
    """Vonage Voice API through the official SDK: outbound text-to-speech call."""

    def __init__(self, policy: RetryPolicy | None = None, *, settings: DispatchSettings | None = None,
                 base_url: str | None = None, application_id: str | None = None, private_key: str | None = None,
                 from_number: str | None = None, limiter: Limiter | None = None) -> None:
        settings = settings or DispatchSettings()  # the settings' defaults (a test's client gives what it needs)
        super().__init__(policy or RetryPolicy.of(settings, settings.calls_per_second),
                         _limiter(policy, limiter, Channel.ROBOCALL, settings))
        # Vonage ends every call within VOICE_MAX_CALL_SECONDS: what the concurrent-call limit counts on
        self.ringing_timer, self.length_timer = RateContract.of(Channel.ROBOCALL, settings).call_timers()
        self.base_url = (base_url or settings.voice_api_url).rstrip("/")
        self.application_id = application_id or provider_secret("VONAGE_APPLICATION_ID")
        self.private_key = private_key or provider_secret("VONAGE_PRIVATE_KEY")
        if not self.application_id or not self.private_key:
            raise RuntimeError("VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY must be set")
        self.from_number = from_number or settings.voice_from_number or ""
        self._local = threading.local()  # the SDK's HttpClient keeps per-request state: one per thread
        self._generation = 0  # bumped when the key is re-read: each thread rebuilds its SDK client
        self._sdk()  # fail fast on a malformed key

    def _sdk(self) -> Voice:
        voice: Voice | None = getattr(self._local, "voice", None)
        if voice is None or getattr(self._local, "generation", -1) != self._generation:
            auth = _ApplicationAuth(self.application_id, self.private_key)
            http = HttpClient(auth, _vonage_options(self.base_url, self.policy.timeout))
            # the SDK's own adapter, with the same pool (one connection, no urllib3 retries), paced
            http._session.mount("https://", _PacedAdapter(self.limiter, pool_connections=1, pool_maxsize=1,
                                                          max_retries=0))
            voice = Voice(http)
            self._local.voice, self._local.generation = voice, self._generation
        return voice

    def _current_credential(self) -> str:
        return f"{self.application_id}|{self.private_key}"

    def _reload_credentials(self) -> None:
        application_id = provider_secret("VONAGE_APPLICATION_ID") or self.application_id
        private_key = provider_secret("VONAGE_PRIVATE_KEY") or self.private_key
        if (application_id, private_key) != (self.application_id, self.private_key):
            _ApplicationAuth(application_id, private_key)  # a malformed new key fails here, not in every thread
            self.application_id, self.private_key = application_id, private_key
            self._generation += 1

    def request(self, to: str, text: str, event_url: str, *, language: str = "id-ID") -> CreateCallRequest:
        return CreateCallRequest(
            to=[ToPhone(number=to)],
            from_=Phone(number=self.from_number),
            ncco=[Talk(text=text, language=language)],
            event_url=[event_url],
            event_method="POST",
            machine_detection="hangup",
            ringing_timer=self.ringing_timer,
            length_timer=self.length_timer,
        )

    def call(self, to: str, text: str, event_url: str, *, language: str = "id-ID",
             gate: Callable[[], None] | None = None) -> Accepted:
        if not E164_DIGITS.match(to):
            raise ProviderRejected("invalid_number: not an E.164 number Vonage can call", attempts=0)
        try:
            params = self.request(to, text, event_url, language=language)
        except (ValidationError, VonageError) as exc:
            raise ProviderRejected(f"invalid_request: {_invalid_fields(exc)}", attempts=0) from exc

        uuid, attempts = self._authenticated(lambda: self._run(lambda: self._call_once(params), gate))
        return Accepted(provider_id=uuid, attempts=attempts)

    def _call_once(self, params: CreateCallRequest) -> str:
        used = self._current_credential()
        try:
            return str(self._sdk().create_call(params).uuid)
        except LimiterUnavailable as exc:
            raise _Retryable(f"not sent: {exc}") from exc
        except HttpRequestError as exc:
            why = "Vonage refused the application JWT" if exc.response.status_code == 401 else None
            raise vonage_http_error(exc.response, used, why) from exc
        except requests.RequestException as exc:
            raise transport_error(exc) from exc
        except (ValidationError, ValueError, KeyError) as exc:  # 2xx with an unreadable body: it was placed
            raise OutcomeUnknown(f"unreadable answer: {type(exc).__name__}", attempts=0) from exc


class WhatsAppClient(_Paced):
    """WhatsApp Business Cloud API: approved template message."""

    def __init__(self, policy: RetryPolicy | None = None, *, settings: DispatchSettings | None = None,
                 base_url: str | None = None, token: str | None = None, phone_number_id: str | None = None,
                 session: requests.Session | None = None, limiter: Limiter | None = None) -> None:
        settings = settings or DispatchSettings()  # the settings' defaults (a test's client gives what it needs)
        super().__init__(policy or RetryPolicy.of(settings, settings.whatsapp_messages_per_second),
                         _limiter(policy, limiter, Channel.WHATSAPP, settings))
        self.base_url = (base_url or settings.whatsapp_api_url).rstrip("/")
        if not self.base_url:
            raise RuntimeError("WHATSAPP_API_URL is not configured")
        self.token = token or provider_secret("WHATSAPP_API_TOKEN")
        self.phone_number_id = phone_number_id or settings.whatsapp_phone_number_id or ""
        self.session = session or requests.Session()
        paced = _PacedAdapter(self.limiter, max_retries=0)
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, paced)

    @staticmethod
    def payload(to: str, template: str, parameters: list[str], callback_data: str,
                language: str = "id") -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}],
            },
            "biz_opaque_callback_data": callback_data,
        }

    def send_template(self, to: str, template: str, parameters: list[str], callback_data: str,
                      *, language: str = "id", gate: Callable[[], None] | None = None) -> Accepted:
        return self._post(self.payload(to, template, parameters, callback_data, language), gate)

    def send_text(self, to: str, text: str) -> Accepted:
        """A free-form text: only inside the 24-hour customer-service window the user's own message opened
        (Meta answers 131047 otherwise); used for the opt-out confirmation."""
        return self._post({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                           "type": "text", "text": {"preview_url": False, "body": text}}, None)

    def _post(self, payload: dict[str, Any], gate: Callable[[], None] | None) -> Accepted:
        url = f"{self.base_url}/{self.phone_number_id}/messages"

        def once() -> str:
            token = self.token
            try:
                resp = self.session.post(url, json=payload, timeout=self.policy.timeout,
                                         headers={"Authorization": f"Bearer {token}"})
            except LimiterUnavailable as exc:
                raise _Retryable(f"not sent: {exc}") from exc
            except requests.RequestException as exc:
                raise transport_error(exc) from exc
            if resp.status_code == 200:
                try:
                    return str(resp.json()["messages"][0]["id"])
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    raise OutcomeUnknown("unreadable answer: HTTP 200 without messages[0].id", attempts=0) from exc
            code = _graph_error_code(resp)
            if resp.status_code == 401 or code == WHATSAPP_TOKEN_INVALID:
                raise _Refused(f"HTTP {resp.status_code} code {code} (access token refused)", token, code)
            kind = whatsapp_error_kind(code)
            if resp.status_code == 429 or kind == "rate_limited" or (resp.status_code >= 500 and kind != "permanent"):
                over_rate = code in WHATSAPP_THROUGHPUT_CODES or (resp.status_code == 429 and code != 131056)
                raise _Retryable(f"HTTP {resp.status_code} code {code}", retry_after=_retry_after(resp.headers),
                                 code=code or resp.status_code, throttled=over_rate)
            raise ProviderRejected(f"HTTP {resp.status_code} code {code}{_graph_error_ids(resp)}", attempts=0,
                                   code=code or resp.status_code)

        message_id, attempts = self._authenticated(lambda: self._run(once, gate))
        return Accepted(provider_id=message_id, attempts=attempts)

    def _current_credential(self) -> str:
        return self.token

    def _reload_credentials(self) -> None:
        self.token = provider_secret("WHATSAPP_API_TOKEN") or self.token


# Provider errors are recorded (ledger ``error``, logs) as codes and ids only: a provider's error text
# or a request validation message can echo the number, the name or the message we sent.
_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,80}$")


def _safe_id(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and _ID.match(str(value)) else None


def _invalid_fields(exc: Exception) -> str:
    """Which fields a request failed validation on (never their values)."""
    if isinstance(exc, ValidationError):
        return ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})) or "request"
    return type(exc).__name__


def _vonage_problem(resp: requests.Response) -> str:
    """`` <type> instance <id>`` of a Vonage problem answer: the error's kind and its id, no text."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    kind = _safe_id(str(body.get("type") or "").rsplit("#", 1)[-1].rsplit("/", 1)[-1])
    instance = _safe_id(body.get("instance"))
    return (f" {kind}" if kind else "") + (f" instance {instance}" if instance else "")


def _graph_error_ids(resp: requests.Response) -> str:
    """`` subcode <n> fbtrace <id>`` of a Graph API error answer (its message may name the recipient)."""
    try:
        error = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        return ""
    if not isinstance(error, dict):
        return ""
    subcode, trace = _safe_id(error.get("error_subcode")), _safe_id(error.get("fbtrace_id"))
    return (f" subcode {subcode}" if subcode else "") + (f" fbtrace {trace}" if trace else "")


def _graph_error_code(resp: requests.Response) -> int | None:
    try:
        code = resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return int(code) if isinstance(code, int | str) and str(code).isdigit() else None


@dataclass(frozen=True)
class WhatsAppStatus:
    """One status of a WhatsApp webhook: our reference (None: not a message we sent), id, status, error code."""

    reference: str | None
    message_id: str
    status: str
    error_code: int | None

    @property
    def error_kind(self) -> WhatsAppErrorKind | None:
        return whatsapp_error_kind(self.error_code) if self.status == "failed" else None


class MalformedWebhook(ValueError):
    """A webhook body that is JSON but not the shape the provider documents (the message says where)."""


WHATSAPP_WEBHOOK_SCHEMA = Path(__file__).with_name("whatsapp_webhook.schema.json")


@lru_cache(maxsize=1)
def _whatsapp_webhook_validator() -> Draft202012Validator:
    schema = json.loads(WHATSAPP_WEBHOOK_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@dataclass(frozen=True)
class WhatsAppInbound:
    """A message a user sent us (``value.messages[]``); ``text`` only for a text message."""

    message_id: str
    sender: str
    text: str | None
    timestamp: str | None


def whatsapp_messages(body: Any) -> list[WhatsAppInbound]:
    """The inbound messages of a Cloud API webhook (``entry[].changes[].value.messages[]``).

    ``MalformedWebhook`` when the body is not the shape Meta documents (``whatsapp_webhook.schema.json``).
    """
    _check_whatsapp_webhook(body)
    found: list[WhatsAppInbound] = []
    for entry in body["entry"]:
        for change in entry["changes"]:
            for m in change["value"].get("messages", []):
                if not m.get("id") or not m.get("from"):
                    continue  # nothing to store it under, nobody to answer
                text = (m.get("text") or {}).get("body") if m.get("type", "text") == "text" else None
                found.append(WhatsAppInbound(m["id"], m["from"], text, m.get("timestamp")))
    return found


def _check_whatsapp_webhook(body: Any) -> None:
    error = best_match(_whatsapp_webhook_validator().iter_errors(body))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(body)"
        # what was expected, never the value (it may be a phone number)
        raise MalformedWebhook(f"not a WhatsApp webhook: {where}: {error.validator} "
                               f"{json.dumps(error.validator_value)[:100]}")


def whatsapp_statuses(body: Any) -> list[WhatsAppStatus]:
    """The statuses of a Cloud API webhook (``entry[].changes[].value.statuses[]``).

    ``MalformedWebhook`` when the body is not the shape Meta documents (``whatsapp_webhook.schema.json``).
    """
    _check_whatsapp_webhook(body)
    found: list[WhatsAppStatus] = []
    for entry in body["entry"]:
        for change in entry["changes"]:
            for s in change["value"].get("statuses", []):
                errors = s.get("errors") or []
                code = errors[0]["code"] if errors else None
                ref = s.get("biz_opaque_callback_data")
                found.append(WhatsAppStatus(ref or None, s["id"], s["status"], None if code is None else int(code)))
    return found


def international(phone: str) -> str:
    """Indonesian mobile number in E.164 digits without '+': 0812… → 62812…"""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("0"):
        return "62" + digits[1:]
    return digits
