"""Callback references we sign ourselves: a provider echoes them back; nobody else can make one.

A provider's signature proves a webhook came from the provider, not that it is about the payment
its reference names: Vonage's JWT covers the body (``payload_hash``), while our reference rides in
the event URL's query string, which anyone replaying a captured callback can change. So what we
give a provider — the ``ref`` parameter of the Vonage ``event_url``, the WhatsApp
``biz_opaque_callback_data`` — carries our own MAC over the reference:

    <payment_id>|<business_date>|<stage>|<zone>|<attempt>|<mac>
    mac = unpadded base64url(HMAC-SHA256(key, "julo-callback-ref-v1|" + reference))   (43 characters)

The key (``CALLBACK_REFERENCE_KEY``) is in a secret the template generates and that only the
dispatch functions (which sign) and the API (which verifies) may read. The API verifies the MAC
before it reads or writes the ledger; during a key rotation it also accepts the previous key (the
secret's AWSPREVIOUS version: ``settings.secret_values``, the rotation rule of every secret that
verifies), so references handed out before the rotation still verify, and a reference signed with
a key rotated in after the container read the secret makes it read the secret again
(``settings.refresh_secret``: at most once a minute).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from chalicelib import settings
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.secrets import provider_secret, verified_with

DOMAIN = b"julo-callback-ref-v1|"  # what the MAC is for: a key reused elsewhere cannot make one
MAC_CHARS = 43
MAX_CHARS = 256  # a reference is under 100 characters; anything longer is not one of ours
KEY_SETTING = "CALLBACK_REFERENCE_KEY"


class InvalidReference(ValueError):
    """Not a reference we signed (malformed, unsigned, or its MAC does not verify)."""


class MacMismatch(InvalidReference):
    """Well formed, but no key we hold made its MAC (forged, or signed with a key rotated in since)."""


class ReferenceKeyMissing(RuntimeError):
    """No callback reference key is configured: nothing can be signed or verified."""


def mac(key: str, reference: str) -> str:
    digest = hmac.new(key.encode(), DOMAIN + reference.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(ref: CallbackRef, key: str) -> str:
    """The signed reference to give the provider."""
    if not key:
        raise ReferenceKeyMissing(f"{KEY_SETTING} is not set: callback references cannot be signed")
    text = ref.encode()
    return f"{text}|{mac(key, text)}"


def split(signed: str) -> tuple[str, str]:
    """(reference, mac) of a signed reference, nothing verified; ``InvalidReference`` if it has no MAC."""
    if not signed or len(signed) > MAX_CHARS:
        raise InvalidReference("not a callback reference")
    reference, sep, given = signed.rpartition("|")
    if not sep or len(given) != MAC_CHARS or reference.count("|") != 4:
        raise InvalidReference("callback reference without our signature")
    return reference, given


def verify(signed: str, keys: Sequence[str]) -> CallbackRef:
    """The reference ``signed`` names, if one of ``keys`` made its MAC; ``InvalidReference`` otherwise."""
    reference, given = split(signed)
    usable = [k for k in keys if k]
    if not usable:
        raise ReferenceKeyMissing(f"{KEY_SETTING} is not set: callback references cannot be verified")
    given_bytes = given.encode("utf-8", "replace")
    if not any(hmac.compare_digest(mac(k, reference).encode(), given_bytes) for k in usable):
        raise MacMismatch("callback reference signature does not verify")
    try:
        return CallbackRef.decode(reference)
    except ValueError as exc:  # signed by us, so only a format we no longer read
        raise InvalidReference(f"callback reference not readable: {exc}") from exc


def unverified(signed: str) -> CallbackRef:
    """The reference in a signed reference, MAC not checked: for tools that read what a provider was
    sent (the demo's report, the chaos suite), never for a callback."""
    return CallbackRef.decode(split(signed)[0])


def signing_key() -> str:
    key = provider_secret(KEY_SETTING)
    if not key:
        raise ReferenceKeyMissing(f"{KEY_SETTING} is not set: callback references cannot be signed")
    return key


def verification_keys() -> tuple[str, ...]:
    """The current key, then the previous one during a rotation (deployed: the secret's AWSCURRENT and
    AWSPREVIOUS versions)."""
    return settings.secret_values(KEY_SETTING, "reference")


def verify_current(signed: str) -> CallbackRef:
    """``verify`` with this container's keys (current, then previous); a MAC neither made is checked
    once more against the secret as it is now (a rotation since the container read it; at most
    once a minute), then refused: ``secrets.verified_with``, the webhook signing secrets' rule."""
    if not verification_keys():
        raise ReferenceKeyMissing(f"{KEY_SETTING} is not set: callback references cannot be verified")
    return verified_with(KEY_SETTING, lambda key: verify(signed, [key]), refused=(MacMismatch,))
