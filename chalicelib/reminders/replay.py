"""The replay cache of signed webhooks: a Vonage Voice token (its ``jti``) or SMS receipt (its ``nonce``)
is accepted once.

Vonage signs each webhook with a fresh HS256 JWT whose ``jti`` is unique. We accept a token only
while its ``iat`` is within ``VONAGE_MAX_AGE_SECONDS`` (5 minutes) of our clock, either way, so a
token can be replayed at most until ``iat + 5 min``; the cache keeps each ``jti`` a minute past
that (clock skew between API containers), in DynamoDB (table ``callback-replay``, shared by every
API container), with a TTL so DynamoDB deletes it afterwards. A ``jti`` is claimed with one
conditional put (absent, or kept past its time: TTL deletion is lazy); a second use of the token,
by whatever container, is refused.

A callback that could not be applied (the API answered 5xx, asking Vonage to retry) gives its
``jti`` back (``release``): should the provider's retry carry the same token, it is accepted.
SMS receipts (``sig`` over the parameters, ``timestamp`` within 5 minutes, a ``nonce``) are kept the
same way, keyed ``vonage-sms#<nonce>`` until ``timestamp`` + 5 minutes + the skew margin.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from chalicelib import resources, settings
from chalicelib.reminders.signatures import VONAGE_MAX_AGE_SECONDS
from chalicelib.reminders.sms_signatures import MAX_AGE_SECONDS as SMS_MAX_AGE_SECONDS
from chalicelib.reminders.store.dynamo_tables import FIRST_CALLS, connecting

REPLAY_TABLE = "callback-replay"
SKEW_MARGIN_SECONDS = 60
MAX_KEY_CHARS = 128


class ReplayCache(Protocol):
    def first_use(self, key: str, until: float) -> bool:
        """True the first time ``key`` is seen (it is then kept until ``until``, epoch seconds)."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key``: the token may be used again (its callback was not applied)."""
        ...


def vonage_token_key(claims: dict[str, Any]) -> tuple[str, float]:
    """(cache key, keep until) of a verified Vonage token: its ``jti``, until its acceptance window ends."""
    jti = str(claims["jti"])
    if len(jti) > MAX_KEY_CHARS:
        jti = "sha256:" + hashlib.sha256(jti.encode("utf-8", "replace")).hexdigest()
    return f"vonage#{jti}", float(claims["iat"]) + VONAGE_MAX_AGE_SECONDS + SKEW_MARGIN_SECONDS


def sms_nonce_key(receipt: dict[str, str]) -> tuple[str, float]:
    """(cache key, keep until) of a verified SMS receipt: its ``nonce``, until its ``timestamp``'s window ends."""
    nonce = receipt["nonce"]
    if len(nonce) > MAX_KEY_CHARS:
        nonce = "sha256:" + hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()
    return f"vonage-sms#{nonce}", float(receipt["timestamp"]) + SMS_MAX_AGE_SECONDS + SKEW_MARGIN_SECONDS


class _SeenToken(Model):
    pk = UnicodeAttribute(hash_key=True)  # "<provider>#<jti>"
    until = NumberAttribute()             # epoch seconds: a use after this is a new token's (0: released)
    expires_at = TTLAttribute()           # DynamoDB deletes the item after this


def _model(table: str, host: str | None, region: str) -> Any:
    with connecting():  # threads asking at once (the API's first webhooks) share one model (and its client)
        return _made_model(table, host, region)


@lru_cache(maxsize=8)
def _made_model(table: str, host: str | None, region: str) -> Any:
    meta = type("Meta", (), {"table_name": table, "host": host, "region": region})
    return type("SeenToken", (_SeenToken,), {"Meta": meta})


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoReplayCache:
    """``ReplayCache`` on the ``callback-replay`` table (one conditional write per webhook)."""

    def __init__(self, *, table: str | None = None, host: str | None = None, region: str | None = None) -> None:
        self.model = _model(table or resources.table_name(REPLAY_TABLE),
                            host if host is not None else settings.aws_endpoint_url(), region or settings.aws_region())

    def first_use(self, key: str, until: float) -> bool:
        # the model's first request alone: threads racing it each made a botocore client (FirstCalls)
        return FIRST_CALLS.first_alone((self.model, "first_use"), lambda: self._first_use(key, until))

    def _first_use(self, key: str, until: float) -> bool:
        m = self.model
        now = time.time()
        item = m(key, until=until, expires_at=datetime.fromtimestamp(until + 1, UTC))
        try:
            item.save(condition=m.pk.does_not_exist() | (m.until < now))
        except PutError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def release(self, key: str) -> None:
        m = self.model
        try:
            m(key).update(actions=[m.until.set(0)], condition=m.pk.exists())
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise


class MemoryReplayCache:
    """The same rule in a dict (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    def first_use(self, key: str, until: float) -> bool:
        with self._lock:
            if self._seen.get(key, 0.0) >= time.time():
                return False
            self._seen[key] = until
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
