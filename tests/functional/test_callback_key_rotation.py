"""Rotating the callback reference key is one ``put-secret-value`` (nobody reads the old key): the API
verifies with the secret's AWSCURRENT and AWSPREVIOUS versions, and a reference signed with a key
rotated in after the container read the secret makes it read the secret again — then at most once
a minute, so forged references cannot make it hammer Secrets Manager. The same rule as the webhook
signing secrets' (``settings.secret_values`` / ``refresh_secret``, tests/functional/test_webhook_secret_rotation.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from chalicelib import settings
from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.zones import Zone

REF = CallbackRef(400123, StageRun(Zone.WIT, date(2026, 11, 20), Stage.ROBOCALL_3, 2))
K1, K2, K3 = ("k1-" + "a" * 40, "k2-" + "b" * 40, "k3-" + "c" * 40)


@pytest.fixture
def secret(aws, monkeypatch: pytest.MonkeyPatch) -> str:
    client = settings.aws_clients().client("secretsmanager")
    arn = client.create_secret(Name="julo-test/callback-reference",
                               SecretString=json.dumps({"CALLBACK_REFERENCE_KEY": K1}))["ARN"]
    monkeypatch.setenv("CALLBACK_REFERENCE_SECRET_ARN", arn)
    monkeypatch.delenv("CALLBACK_REFERENCE_KEY", raising=False)
    settings.forget_secrets()
    yield arn
    settings.forget_secrets()


def _rotate(arn: str, key: str) -> None:
    settings.aws_clients().client("secretsmanager").put_secret_value(SecretId=arn,
                                                          SecretString=json.dumps({"CALLBACK_REFERENCE_KEY": key}))


def _reads() -> list[str]:
    calls: list[str] = []
    settings.aws_clients().client("secretsmanager").meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: calls.append(params.get("VersionStage")))
    return calls


def test_a_rotation_is_picked_up_and_the_previous_key_still_verifies(secret, monkeypatch):
    assert references.verification_keys() == (K1,)
    _rotate(secret, K2)
    assert references.verification_keys() == (K1,)  # this container read the secret before the rotation
    assert references.verify_current(references.sign(REF, K2)) == REF  # a new reference: read again
    assert references.verification_keys() == (K2, K1)
    assert references.verify_current(references.sign(REF, K1)) == REF  # handed out before the rotation
    monkeypatch.setattr(settings, "SECRET_REFRESH_MIN_INTERVAL_S", 0.0)
    _rotate(secret, K3)
    assert references.verify_current(references.sign(REF, K3)) == REF
    with pytest.raises(references.MacMismatch):  # two rotations ago: no longer ours
        references.verify_current(references.sign(REF, K1))


def test_forged_references_read_the_secret_at_most_once_a_minute(secret):
    assert references.verify_current(references.sign(REF, K1)) == REF
    reads = _reads()
    for _ in range(20):
        with pytest.raises(references.MacMismatch):
            references.verify_current(references.sign(REF, "forged-" + "x" * 40))
    assert reads == [None, "AWSPREVIOUS"]  # one re-read (current, previous) for twenty forgeries
