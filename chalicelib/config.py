"""Low-level readers of the environment (region, endpoint, database URL).

What each function reads is declared in ``chalicelib/settings.py``; these helpers read the
same names for code that takes a single value.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

DEFAULT_REGION = "ap-southeast-3"
# The RDS root CAs of the region, shipped in the artifact: the server certificate is verified.
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-ca-ap-southeast-3.pem"


def database_url() -> str:
    """``DATABASE_URL``, or (deployed) the URL built from the secret in ``DATABASE_SECRET_ARN``."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    secret_arn = os.environ.get("DATABASE_SECRET_ARN")
    if secret_arn:
        return _database_url_from_secret(secret_arn)
    raise RuntimeError(
        "DATABASE_URL is not set (make targets set it; or export it, e.g. "
        "postgresql://postgres@127.0.0.1:15432/julo), nor DATABASE_SECRET_ARN"
    )


@lru_cache(maxsize=4)
def _database_url_from_secret(secret_arn: str) -> str:
    """Secrets Manager value: a plain URL, or RDS's JSON (host, port, username, password, dbname)."""
    from chalicelib import aws  # late import: aws reads this module

    value = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    if value.startswith(("postgres://", "postgresql://")):
        return value
    fields = json.loads(value)
    user = quote(fields["username"], safe="")
    password = quote(fields["password"], safe="")
    return (f"postgresql://{user}:{password}@{fields['host']}:{fields.get('port', 5432)}/"
            f"{fields.get('dbname', 'julo')}?sslmode=verify-full&sslrootcert={quote(str(RDS_CA_BUNDLE))}")


def aws_endpoint_url() -> str | None:
    """Endpoint for every AWS client: moto, LocalStack, or None for real AWS."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc
