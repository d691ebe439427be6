"""Provider tokens and callback signing secrets, by setting name.

An environment variable of the same name wins (local runs, tests). Deployed, each name is a
key of the Secrets Manager secret of its group (``chalicelib/settings.py``): callback
verification secrets in ``CALLBACK_SECRETS_ARN`` (the API only), outbound provider tokens in
``PROVIDER_TOKENS_SECRET_ARN`` (the dispatch functions only), the Slack token in
``SLACK_SECRET_ARN`` (the report only). A function without its group's ARN reads "".

A secret is read once per container and cached. When a provider refuses our credentials (a
rotated token, a regenerated key), ``refresh_provider_secrets`` drops the cache so the next read
goes to Secrets Manager again. It is the same mechanism as the webhook secrets' re-read
(``settings.refresh_secret`` of the group): at most once per ``settings.SECRET_REFRESH_MIN_INTERVAL_S``
(a minute) per group and container, however many sends were refused at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib import settings
from chalicelib.reminders.signatures import InvalidSignature

R = TypeVar("R")

PROVIDER_GROUP = "outbound"  # the group of the outbound provider tokens (PROVIDER_TOKENS_SECRET_ARN)


def _group_of(name: str) -> str:
    for cls in settings.ALL:
        for _attr, spec in cls.specs():
            if spec.env == name and spec.secret:
                return spec.secret
    raise KeyError(f"{name} is not a secret setting of any class in chalicelib/settings.py")


def provider_secret(name: str) -> str:
    return settings.secret_value(name, _group_of(name))


def verified_with(name: str, verify: Callable[[str], R],
                  refused: tuple[type[Exception], ...] = (InvalidSignature,)) -> R:
    """``verify(secret)`` with the first of ``name``'s values it accepts: the current one, then the
    previous one during a rotation (``settings.secret_values``); when neither does, the group's
    secret is read again once (a value put after this container read it; at most once a minute)
    and its values tried. ``verify`` raises one of ``refused`` to refuse; the last refusal is
    raised when none accepts."""
    group = _group_of(name)
    refusal: Exception | None = None
    for attempt in range(2):
        for value in settings.secret_values(name, group):
            try:
                return verify(value)
            except refused as exc:
                refusal = exc
        if attempt == 0 and not settings.refresh_secret(group):
            break
    raise refusal or InvalidSignature("signature secret is not configured")


def refresh_provider_secrets() -> bool:
    """Let the next ``provider_secret`` read Secrets Manager again (``settings.refresh_secret`` of the
    outbound group: at most once per ``settings.SECRET_REFRESH_MIN_INTERVAL_S`` per container); False
    (nothing dropped) when this container already did so within that interval."""
    return settings.refresh_secret(PROVIDER_GROUP)
