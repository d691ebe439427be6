"""Webhook signing secrets rotate without losing a callback: the current and the previous value
both verify during a change-over.

Secrets Manager behaviour (PutSecretValue API reference): storing a new value moves
``AWSCURRENT`` to it and ``AWSPREVIOUS`` to the version that held ``AWSCURRENT``. A provider's
signing secret is changed in our secret first, then at the provider (Meta: the app secret;
Vonage: the signature secret), so webhooks signed with either arrive meanwhile. Removing the
``AWSPREVIOUS`` label ends the change-over.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.reminders.secrets import verified_with
from chalicelib.reminders.signatures import (
    SIGNATURE_HEADER,
    InvalidSignature,
    sign,
    verify_vonage,
    vonage_webhook_token,
)
from tests.api_support import api_client

HOOK = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
    {"field": "messages", "value": {"statuses": [{"id": "wamid.x", "status": "read",
                                                  "biz_opaque_callback_data": "not-ours"}]}}]}]}).encode()


OLD, NEW = "vonage-signature-secret-one-0123456789", "vonage-signature-secret-two-0123456789"


@pytest.fixture
def callback_secret(aws, monkeypatch) -> Iterator[tuple[str, Any]]:
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name="julo/callbacks-rotation", SecretString=json.dumps({
        "WHATSAPP_APP_SECRET": "app-secret-1", "VONAGE_SIGNATURE_SECRET": OLD,
        "WHATSAPP_VERIFY_TOKEN": "t"}))["ARN"]
    for name in ("WHATSAPP_APP_SECRET", "VONAGE_SIGNATURE_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALLBACK_SECRETS_ARN", arn)
    monkeypatch.setattr(settings, "SECRET_REFRESH_MIN_INTERVAL_S", 0.0)
    settings.forget_secrets()
    yield arn, sm
    settings.forget_secrets()


def _rotate(sm: Any, arn: str, **changes: str) -> None:
    value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({**value, **changes}))


def _meta(client: Any, secret: str) -> int:
    response = client.http.post("/v1/callbacks/whatsapp", body=HOOK, headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, HOOK)})
    return int(response.status_code)


def test_meta_webhooks_signed_with_the_old_or_the_new_app_secret_verify_during_the_change(callback_secret):
    arn, sm = callback_secret
    with api_client() as client:
        assert _meta(client, "app-secret-1") == 200  # the container reads (and caches) the secret
        _rotate(sm, arn, WHATSAPP_APP_SECRET="app-secret-2")  # 1. our secret first
        assert _meta(client, "app-secret-2") == 200  # the cache read again: the new value verifies
        assert _meta(client, "app-secret-1") == 200  # 2. Meta still signs with the old one: AWSPREVIOUS
        assert _meta(client, "someone-elses") == 401
        # 3. the change-over is over: AWSPREVIOUS removed, the old value no longer verifies
        versions = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        previous = next(v for v, stages in versions.items() if "AWSPREVIOUS" in stages)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPREVIOUS", RemoveFromVersionId=previous)
        settings.refresh_secret("callback")
        assert _meta(client, "app-secret-1") == 401
        assert _meta(client, "app-secret-2") == 200


def test_vonage_tokens_signed_with_the_old_or_the_new_signature_secret(callback_secret):
    arn, sm = callback_secret
    body = b'{"uuid": "u", "status": "completed"}'

    def check(secret: str) -> dict[str, Any]:
        token = vonage_webhook_token(secret, body)
        return verified_with("VONAGE_SIGNATURE_SECRET", lambda s: verify_vonage(s, body, f"Bearer {token}"))

    assert check(OLD)["iss"] == "Vonage"
    _rotate(sm, arn, VONAGE_SIGNATURE_SECRET=NEW)
    assert check(NEW)["iss"] == "Vonage" and check(OLD)["iss"] == "Vonage"
    with pytest.raises(InvalidSignature, match="invalid token"):
        check("vonage-signature-secret-nil-0123456789")
    assert settings.secret_values("VONAGE_SIGNATURE_SECRET", "callback") == (NEW, OLD)


def test_bad_signatures_read_the_secret_again_at_most_once_a_minute(callback_secret, monkeypatch):
    monkeypatch.setattr(settings, "SECRET_REFRESH_MIN_INTERVAL_S", 60.0)
    reads: list[str] = []
    real = settings._secret_json.__wrapped__

    def counting(secret_arn: str) -> dict[str, Any]:
        reads.append(secret_arn)
        return real(secret_arn)

    monkeypatch.setattr(settings, "_secret_json", settings.lru_cache(maxsize=8)(counting))
    with api_client() as client:
        for _ in range(20):  # a flood of forged webhooks
            assert _meta(client, "forged") == 401
    assert len(reads) <= 2  # the first read, and one refresh
