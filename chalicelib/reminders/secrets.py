"""Provider tokens and callback signing secrets.

An environment variable of the same name wins (local runs, tests); deployed, the values are
keys of the JSON secret in ``PROVIDER_SECRETS_ARN`` (Secrets Manager), read once per container.
Names: VONAGE_APPLICATION_ID, VONAGE_PRIVATE_KEY (PEM), VONAGE_SIGNATURE_SECRET, WHATSAPP_API_TOKEN,
WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN. Every provider credential is read here and nowhere else.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from chalicelib import aws


def provider_secret(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    arn = os.environ.get("PROVIDER_SECRETS_ARN")
    if not arn:
        return ""
    return str(_secret_values(arn).get(name, ""))


@lru_cache(maxsize=2)
def _secret_values(arn: str) -> dict[str, str]:
    return json.loads(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
