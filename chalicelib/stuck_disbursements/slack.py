"""Slack adapter: the file-upload v2 flow in its three steps, a message, and finding a message again.

Slack's upload flow (what ``files_upload_v2`` does in one call) is split here so the caller can
record the file id between the steps and never post twice:

1. ``files.getUploadURLExternal`` (filename, length) gives an ``upload_url`` and the ``file_id``;
2. the bytes are POSTed to ``upload_url`` (repeatable: same bytes, same URL);
3. ``files.completeUploadExternal`` shares the file into the channel, with title and comment.

Retries (slack_sdk's retry handlers): a 429 is retried after its ``Retry-After`` (up to
``MAX_RETRY_AFTER_SECONDS``; longer, and the run fails rather than sleeping through the Lambda
timeout); connection errors and 500/503 are retried for the calls that change nothing. The calls
that post (``files.completeUploadExternal``, ``chat.postMessage``) are *not* retried on a
connection error or a 5xx: the post may have happened with its answer lost. The caller asks
``files.info`` instead (``is_shared``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from chalicelib.reminders.secrets import provider_secret

POSTING_METHODS = ("files.completeUploadExternal", "chat.postMessage")
MAX_RETRY_AFTER_SECONDS = 30
AUTH_ERRORS = ("not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired")
UPLOAD_TRIES = 3
UPLOAD_TIMEOUT_SECONDS = 30


class SlackAuthError(RuntimeError):
    """Slack refused the bot token: nothing was posted, and retrying will not help."""


@dataclass(frozen=True)
class Posted:
    file_id: str
    channel: str


def _posts(request: HttpRequest) -> bool:
    return request.url.split("?", 1)[0].rstrip("/").endswith(POSTING_METHODS)


Sleep = Callable[[float], None]


class _Waits:
    """A retry handler that waits with the ``sleep`` it was given (slack_sdk's handlers call ``time.sleep``):
    a test records the waits instead of waiting them."""

    sleep: Sleep = time.sleep

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        self.sleep(self._wait_seconds(state, response))
        state.increment_current_attempt()

    def _wait_seconds(self, state: RetryState, response: HttpResponse | None) -> float:
        return float(self.interval_calculator.calculate_sleep_duration(state.current_attempt))  # type: ignore[attr-defined]


class _ReadOnlyConnectionErrorRetry(_Waits, ConnectionErrorRetryHandler):
    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return not _posts(request) and super()._can_retry(state=state, request=request, response=response,
                                                          error=error)


class _ReadOnlyServerErrorRetry(_Waits, ServerErrorRetryHandler):
    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return not _posts(request) and super()._can_retry(state=state, request=request, response=response,
                                                          error=error)


class _BoundedRateLimitRetry(_Waits, RateLimitErrorRetryHandler):
    """Honour ``Retry-After`` (as slack_sdk does: its seconds plus up to one of jitter), but not past
    ``MAX_RETRY_AFTER_SECONDS``."""

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        if response is None and error is not None:
            raise error
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)

    def _wait_seconds(self, state: RetryState, response: HttpResponse | None) -> float:
        return _retry_after(response) + random.random()

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return _retry_after(response) <= MAX_RETRY_AFTER_SECONDS


def _retry_after(response: HttpResponse | None) -> int:
    """The answer's ``Retry-After`` seconds (1 when it has none, or none that is a number)."""
    headers = response.headers if response is not None else {}
    values = {k.lower(): v for k, v in headers.items()}.get("retry-after") or ["1"]
    try:
        return int(values[0])
    except ValueError:
        return 1


def retry_handlers(sleep: Sleep = time.sleep) -> list[RetryHandler]:
    """slack_sdk's retry handlers as the report needs them, waiting with ``sleep``."""
    handlers: list[RetryHandler] = [
        _BoundedRateLimitRetry(max_retry_count=3),
        _ReadOnlyConnectionErrorRetry(max_retry_count=2),
        _ReadOnlyServerErrorRetry(max_retry_count=2),
    ]
    for handler in handlers:
        handler.sleep = sleep  # type: ignore[attr-defined]
    return handlers


def slack_token() -> str:
    """``SLACK_BOT_TOKEN``: the environment, or (deployed) the secret in ``SLACK_SECRET_ARN``."""
    token = provider_secret("SLACK_BOT_TOKEN")
    if not token:
        raise RuntimeError("SLACK_BOT_TOKEN is not set, nor SLACK_SECRET_ARN")
    return token


def slack_client(base_url: str, token: str | None = None, *, sleep: Sleep = time.sleep) -> WebClient:
    """The Web API client at ``base_url`` (``SLACK_API_URL``), with ``token`` (default: ``SLACK_BOT_TOKEN``,
    from the environment or the Slack secret); ``sleep``: how its retries wait."""
    return WebClient(token=token or slack_token(), base_url=base_url if base_url.endswith("/") else base_url + "/",
                     retry_handlers=retry_handlers(sleep))


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        if error in AUTH_ERRORS:
            raise SlackAuthError(
                f"Slack refused the bot token ({error}): nothing was posted. Check SLACK_BOT_TOKEN "
                f"(or that key of the secret in SLACK_SECRET_ARN) and that the app is installed.") from exc
        raise


class SlackFiles:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def upload(self, path: Path, filename: str) -> str:
        """Steps 1 and 2: the file exists on Slack, shared nowhere yet; returns its id."""
        data = path.read_bytes()
        resp = _call(self._client.files_getUploadURLExternal, filename=filename, length=len(data))
        file_id, url = str(resp["file_id"]), str(resp["upload_url"])
        for attempt in range(1, UPLOAD_TRIES + 1):
            try:
                answer = requests.post(url, data=data, timeout=UPLOAD_TIMEOUT_SECONDS,
                                       headers={"Content-Type": "application/octet-stream"})
            except requests.ConnectionError:
                if attempt == UPLOAD_TRIES:
                    raise
                continue
            if answer.status_code < 500 or attempt == UPLOAD_TRIES:
                answer.raise_for_status()
                return file_id
        return file_id

    def share(self, file_id: str, channel: str, title: str, comment: str) -> None:
        """Step 3: the post the channel sees."""
        _call(self._client.files_completeUploadExternal, files=[{"id": file_id, "title": title}],
              channel_id=channel, initial_comment=comment)

    def is_shared(self, file_id: str, channel: str) -> bool:
        resp = _call(self._client.files_info, file=file_id)
        file = resp["file"]
        shares = file.get("shares") or {}
        return channel in (file.get("channels") or []) or any(channel in (s or {}) for s in shares.values())

    def post_file(self, channel: str, path: Path, title: str, comment: str) -> Posted:
        """All three steps at once (no record kept between them)."""
        file_id = self.upload(path, path.name)
        self.share(file_id, channel, title, comment)
        return Posted(file_id=file_id, channel=channel)

    def post_message(self, channel: str, text: str) -> str:
        """A one-line message; returns its ``ts``."""
        return str(_call(self._client.chat_postMessage, channel=channel, text=text)["ts"])

    def find_message(self, channel: str, marker: str, oldest: float) -> str | None:
        """The ``ts`` of a message in ``channel`` since ``oldest`` (epoch seconds) whose text has ``marker``."""
        cursor: str | None = None
        while True:
            resp = _call(self._client.conversations_history, channel=channel, oldest=f"{oldest:.6f}", limit=200,
                         **({"cursor": cursor} if cursor else {}))
            for message in resp.get("messages") or []:
                if marker in str(message.get("text") or ""):
                    return str(message["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                return None
