"""Vonage SMS API through the official SDK (``vonage-sms``): one reminder SMS per call.

``POST https://rest.nexmo.com/sms/json`` (form-encoded; ``SMS_API_URL`` selects the host, so local
runs point the SDK at the fake), authenticated with the account's API key and secret
(``VONAGE_API_KEY`` / ``VONAGE_API_SECRET``, HTTP Basic as the SDK sends them). The message asks for
a delivery receipt (``status-report-req``) at our ``/v1/callbacks/sms`` (``callback``) and carries our
callback reference as ``client-ref``, which Vonage echoes in every receipt.

The answer is HTTP 200 whatever happened; each part of the message has its own ``status``
(Vonage, "SMS API response codes"). The contract is the voice and WhatsApp clients' (see
``providers``):

- every part ``0`` → ``Accepted(message-id of the first part)``, with every part's message id when the
  text took more than one SMS (each part gets its own delivery receipt); some parts ``0`` and others not
  (a two-part message half sent) → accepted too (the sent parts' ids, and how many were refused): the
  borrower got something, never send again;
- ``1`` throttled, ``5`` internal error, HTTP 429 / 5xx, connection refused → retried with backoff,
  then ``ProviderGaveUp`` (nothing was sent);
- ``4`` invalid credentials or HTTP 401 → the credentials are read again from the secret (a rotated
  API secret; ``providers._Paced._authenticated``, the voice and WhatsApp clients' rule: at most one
  Secrets Manager read a minute per container) and that request sent once more; refused again →
  ``CredentialsRefused`` (a configuration error: dispatch releases the payment's claim, nobody is
  marked failed, the alarm metric is emitted);
- any other status (invalid number, barred, message too long…) → ``ProviderRejected``;
- the request went out and its answer was lost, or a 2xx that cannot be read → ``OutcomeUnknown``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError
from vonage_http_client import Auth, HttpClient, HttpClientOptions
from vonage_http_client.errors import AuthenticationError, HttpRequestError
from vonage_sms import PartialFailureError, Sms, SmsError, SmsMessage
from vonage_utils.errors import VonageError

from chalicelib.reminders.provider_rate import Limiter, LimiterUnavailable
from chalicelib.reminders.providers import (
    E164_DIGITS,
    Accepted,
    OutcomeUnknown,
    ProviderRejected,
    RetryPolicy,
    _invalid_fields,
    _limiter,
    _Paced,
    _PacedAdapter,
    _Refused,
    _Retryable,
    transport_error,
    vonage_http_error,
)
from chalicelib.reminders.secrets import provider_secret
from chalicelib.reminders.stages import Channel
from chalicelib.settings import DispatchSettings

THROTTLED, INTERNAL_ERROR, INVALID_CREDENTIALS = "1", "5", "4"
RETRY_CODES = frozenset({THROTTLED, INTERNAL_ERROR})
# SMS API response codes (status of each part in the answer), by name, for logs and the fake
RESPONSE_CODES = {
    "0": "Success", "1": "Throttled", "2": "Missing Parameters", "3": "Invalid Parameters",
    "4": "Invalid Credentials", "5": "Internal Error", "6": "Invalid Message", "7": "Number Barred",
    "8": "Partner Account Barred", "9": "Partner Quota Violation", "10": "Too Many Existing Binds",
    "11": "Account Not Enabled For HTTP", "12": "Message Too Long", "14": "Invalid Signature",
    "15": "Invalid Sender Address", "22": "Invalid Network Code", "23": "Invalid Callback Url",
    "29": "Non-Whitelisted Destination", "32": "Signature And API Secret Disallowed",
    "33": "Number De-activated",
}
MAX_CALLBACK_CHARS = 100  # the SDK's limit on ``callback`` (longer: the dashboard's receipt URL is used)


def _options(base_url: str, timeout: float) -> HttpClientOptions:
    host = urlsplit(base_url).netloc or base_url
    # pool_maxsize=1 / max_retries=0: the SDK would re-send after RemoteDisconnected (an SMS sent twice)
    return HttpClientOptions.model_construct(api_host=host, rest_host=host, video_host="video.api.vonage.com",
                                             timeout=timeout, pool_connections=1, pool_maxsize=1, max_retries=0)


class SmsClient(_Paced):
    """Vonage SMS API (``vonage_sms.Sms``), paced by ``SMS_MESSAGES_PER_SECOND``: in the dispatch
    containers on the SMS grid they all share (its own lanes, apart from voice and WhatsApp)."""

    def __init__(self, policy: RetryPolicy | None = None, *, settings: DispatchSettings | None = None,
                 base_url: str | None = None, api_key: str | None = None, api_secret: str | None = None,
                 sender: str | None = None, limiter: Limiter | None = None) -> None:
        settings = settings or DispatchSettings()  # the settings' defaults (a test's client gives what it needs)
        super().__init__(policy or RetryPolicy.of(settings, settings.sms_messages_per_second),
                         _limiter(policy, limiter, Channel.SMS, settings))
        self.base_url = (base_url or settings.sms_api_url).rstrip("/")
        self._given = (api_key, api_secret)
        self.sender = sender or settings.sms_sender_id
        self._lock = threading.Lock()
        self._credentials = self._read_credentials()
        self._local = threading.local()  # the SDK's HttpClient keeps per-request state: one per thread

    def _read_credentials(self) -> tuple[str, str]:
        key = self._given[0] or provider_secret("VONAGE_API_KEY")
        secret = self._given[1] or provider_secret("VONAGE_API_SECRET")
        if not key or not secret:
            raise RuntimeError("VONAGE_API_KEY and VONAGE_API_SECRET must be set")
        return key, secret

    def _current_credential(self) -> str:
        with self._lock:
            return "|".join(self._credentials)

    def _reload_credentials(self) -> None:
        """After ``refresh_provider_secrets`` (in ``_authenticated``): what the secret holds now; each thread
        rebuilds its SDK client when the credentials changed (``_sdk``)."""
        if all(self._given):
            return
        fresh = self._read_credentials()
        with self._lock:
            self._credentials = fresh

    def _sdk(self) -> Sms:
        with self._lock:
            credentials = self._credentials
        cached: tuple[tuple[str, str], Sms] | None = getattr(self._local, "sms", None)
        if cached is None or cached[0] != credentials:
            client = HttpClient(Auth(api_key=credentials[0], api_secret=credentials[1]),
                                _options(self.base_url, self.policy.timeout))
            # the SDK's own adapter, with the same pool (one connection, no urllib3 retries), paced:
            # the slot is taken on the connection, right before the request goes on the wire
            client._session.mount("https://", _PacedAdapter(self.limiter, pool_connections=1, pool_maxsize=1,
                                                            max_retries=0))
            cached = (credentials, Sms(client))
            self._local.sms = cached
        return cached[1]

    def message(self, to: str, text: str, client_ref: str, callback_url: str | None) -> SmsMessage:
        callback = callback_url if callback_url and len(callback_url) <= MAX_CALLBACK_CHARS else None
        return SmsMessage(to=to, from_=self.sender, text=text, client_ref=client_ref, type="text",
                          status_report_req=True, callback=callback)

    def send(self, to: str, text: str, client_ref: str, callback_url: str | None = None, *,
             gate: Callable[[], None] | None = None) -> Accepted:
        """Send one SMS; ``gate`` (the contact policy's send-time check) runs just before each request."""
        if not E164_DIGITS.match(to):
            raise ProviderRejected("invalid_number: not an E.164 number Vonage can text", attempts=0)
        try:
            message = self.message(to, text, client_ref, callback_url)
        except (ValidationError, VonageError) as exc:
            raise ProviderRejected(f"invalid_request: {_invalid_fields(exc)}", attempts=0) from exc

        (ids, refused), attempts = self._authenticated(lambda: self._run(lambda: self._send_once(message), gate))
        return Accepted(provider_id=ids[0], attempts=attempts,
                        part_ids=tuple(ids) if len(ids) > 1 or refused else (), refused_parts=refused)

    def _send_once(self, message: SmsMessage) -> tuple[list[str], int]:
        """One request: the sent parts' message ids and how many parts were refused."""
        used = self._current_credential()
        sms = self._sdk()
        try:
            answer = sms.send(message)
            return [str(part.message_id) for part in answer.messages], 0
        except PartialFailureError as exc:  # some parts went out: the borrower got it, maybe in part
            sent, refused = _sent_parts(exc.response)
            if not sent:
                raise OutcomeUnknown("partial failure without a sent part", attempts=0) from exc
            return sent, refused
        except SmsError as exc:
            raise _part_refused(_last_answer(sms), used) from exc
        except LimiterUnavailable as exc:
            raise _Retryable(f"not sent: {exc}") from exc
        except (AuthenticationError, HttpRequestError) as exc:
            why = "Vonage refused the API key and secret" if isinstance(exc, AuthenticationError) else None
            raise vonage_http_error(exc.response, used, why) from exc
        except requests.RequestException as exc:
            raise transport_error(exc) from exc
        except (ValidationError, ValueError, KeyError, TypeError, IndexError) as exc:  # a 2xx we cannot read
            raise OutcomeUnknown(f"unreadable answer: {type(exc).__name__}", attempts=0) from exc


def _part_refused(body: Any, used: str) -> Exception:
    """The first part refused with SMS API status ``code``: the credentials (4), a retry (throttled,
    internal error) or a rejection. The code and its name only: the answer's ``error-text`` can echo
    the number."""
    parts = body.get("messages") if isinstance(body, dict) else None
    code = str(parts[0].get("status")) if isinstance(parts, list) and parts else ""
    name = RESPONSE_CODES.get(code, "Unknown")
    if code == INVALID_CREDENTIALS:
        return _Refused(f"status {code} {name}", used, int(code))
    if code in RETRY_CODES:  # status 1: over the account's rate, so every container slows down
        return _Retryable(f"status {code} {name}", code=int(code), throttled=code == THROTTLED)
    return ProviderRejected(f"status {code or '?'} {name}", attempts=0, code=int(code) if code.isdigit() else None)


def _last_answer(sms: Sms) -> Any:
    response = sms.http_client.last_response
    try:
        return response.json() if response is not None else None
    except ValueError:
        return None


def _sent_parts(body: Any) -> tuple[list[str], int]:
    """The message ids of the parts sent (status 0), in order, and how many parts were refused."""
    parts = body.get("messages") if isinstance(body, dict) else None
    sent, refused = [], 0
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, dict) and str(part.get("status")) == "0" and part.get("message-id"):
            sent.append(str(part["message-id"]))
        else:
            refused += 1
    return sent, refused
