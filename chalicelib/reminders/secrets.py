"""Provider tokens and callback signing secrets, by setting name.

An environment variable of the same name wins (local runs, tests). Deployed, each name is a
key of the Secrets Manager secret of its group (``chalicelib/settings.py``): callback
verification secrets in ``CALLBACK_SECRETS_ARN`` (the API only), outbound provider tokens in
``PROVIDER_TOKENS_SECRET_ARN`` (the dispatch functions only), the Slack token in
``SLACK_SECRET_ARN`` (the report only). A function without its group's ARN reads "".
"""

from __future__ import annotations

from chalicelib import settings


def _group_of(name: str) -> str:
    for cls in settings.ALL:
        for _attr, spec in cls.specs():
            if spec.env == name and spec.secret:
                return spec.secret
    raise KeyError(f"{name} is not a secret setting of any class in chalicelib/settings.py")


def provider_secret(name: str) -> str:
    return settings.secret_value(name, _group_of(name))
