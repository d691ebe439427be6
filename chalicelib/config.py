"""Low-level readers of the environment (region, endpoint, database URL).

What each function reads is declared in ``chalicelib/settings.py``; these helpers read the
same names for code that takes a single value.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

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
    """The URL in the secret's current version (cached for the container's life; see ``forget_database_secret``)."""
    from chalicelib import aws  # late import: aws reads this module

    value = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    return database_url_from_secret_value(value)


def database_url_from_secret_value(value: str) -> str:
    """A connection URL from a database secret: RDS's JSON (``username``, ``password``, ``host``,
    ``port``, ``dbname``) or a ``postgresql://`` URL. Either way the server's certificate is
    verified (``sslmode=verify-full`` against the RDS root CAs shipped in the artifact) unless the
    URL itself names an ``sslmode``. ValueError (naming no value) when it is neither shape."""
    text = value.strip()
    if text.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(text)
        query = parse_qs(parts.query)
        if "sslmode" not in query:
            query["sslmode"] = ["verify-full"]
        if query["sslmode"] == ["verify-full"] and "sslrootcert" not in query:
            query["sslrootcert"] = [str(RDS_CA_BUNDLE)]
        return urlunsplit(parts._replace(query=urlencode(query, doseq=True, safe="/", quote_via=quote)))
    try:
        fields = json.loads(text)
    except ValueError:
        raise ValueError("the database secret is neither JSON nor a postgresql:// URL") from None
    if not isinstance(fields, dict):
        raise ValueError("the database secret is not a JSON object")
    missing = [k for k in ("username", "password", "host") if not fields.get(k)]
    if missing:
        raise ValueError(f"the database secret lacks {', '.join(missing)}")
    user = quote(str(fields["username"]), safe="")
    password = quote(str(fields["password"]), safe="")
    return (f"postgresql://{user}:{password}@{fields['host']}:{fields.get('port', 5432)}/"
            f"{fields.get('dbname', 'julo')}?sslmode=verify-full&sslrootcert={quote(str(RDS_CA_BUNDLE))}")


def forget_database_secret() -> None:
    """Read the database secret again at the next connection (after a rotation)."""
    _database_url_from_secret.cache_clear()


def reread_database_url(refused: str) -> str | None:
    """After the server refused the login of ``refused``: the URL to try instead, or None.

    Secrets Manager rotates a secret in four steps (createSecret stores the new password as the
    ``AWSPENDING`` version, setSecret changes it in the database, testSecret, finishSecret moves
    ``AWSCURRENT`` to it). So the secret's current version is read again (a rotation finished since
    this container cached it); if it still holds the refused login, its pending version (the
    database has the new password already, the secret does not say so yet). None with
    ``DATABASE_URL`` (no secret) or when neither version differs from what was refused."""
    if os.environ.get("DATABASE_URL"):
        return None
    secret_arn = os.environ.get("DATABASE_SECRET_ARN")
    if not secret_arn:
        return None
    forget_database_secret()
    current = _database_url_from_secret(secret_arn)
    if current != refused:
        return current
    pending = _pending_database_url(secret_arn)
    return pending if pending not in (None, refused) else None


def _pending_database_url(secret_arn: str) -> str | None:
    from chalicelib import aws

    client = aws.client("secretsmanager")
    try:
        value = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSPENDING")["SecretString"]
    except client.exceptions.ResourceNotFoundException:  # no rotation under way
        return None
    return database_url_from_secret_value(value)


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
