"""The database URL: given (``DATABASE_URL``), or built from the database secret (deployed).

No environment is read here: ``settings.database_url()`` passes what the settings loader read
(the URL, the secret's ARN) and how to reach Secrets Manager.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

DEFAULT_REGION = "ap-southeast-3"
# The RDS root CAs of the region, shipped in the artifact: the server certificate is verified.
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-ca-ap-southeast-3.pem"

SecretsClient = Callable[[], Any]  # builds (or returns) a Secrets Manager client, only when a secret is read
_from_secret: dict[str, str] = {}  # the URL of each secret's current version, for the container's life
_lock = threading.Lock()


def database_url(url: str, secret_arn: str, secrets: SecretsClient) -> str:
    """``url`` if given, else the URL built from the secret ``secret_arn`` (read once, then cached)."""
    if url:
        return url
    if secret_arn:
        return _database_url_from_secret(secret_arn, secrets)
    raise RuntimeError(
        "DATABASE_URL is not set (make targets set it; or export it, e.g. "
        "postgresql://postgres@127.0.0.1:15432/julo), nor DATABASE_SECRET_ARN"
    )


def _database_url_from_secret(secret_arn: str, secrets: SecretsClient) -> str:
    """The URL in the secret's current version (cached for the container's life; see ``forget_database_secret``)."""
    with _lock:
        cached = _from_secret.get(secret_arn)
    if cached is not None:
        return cached
    value = secrets().get_secret_value(SecretId=secret_arn)["SecretString"]
    found = database_url_from_secret_value(value)
    with _lock:
        _from_secret[secret_arn] = found
    return found


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
    with _lock:
        _from_secret.clear()


def reread_database_url(refused: str, url: str, secret_arn: str, secrets: SecretsClient) -> str | None:
    """After the server refused the login of ``refused``: the URL to try instead, or None.

    Secrets Manager rotates a secret in four steps (createSecret stores the new password as the
    ``AWSPENDING`` version, setSecret changes it in the database, testSecret, finishSecret moves
    ``AWSCURRENT`` to it). So the secret's current version is read again (a rotation finished since
    this container cached it); if it still holds the refused login, its pending version (the
    database has the new password already, the secret does not say so yet). None with
    ``DATABASE_URL`` (no secret) or when neither version differs from what was refused."""
    if url or not secret_arn:
        return None
    forget_database_secret()
    current = _database_url_from_secret(secret_arn, secrets)
    if current != refused:
        return current
    pending = _pending_database_url(secret_arn, secrets())
    return pending if pending not in (None, refused) else None


def _pending_database_url(secret_arn: str, client: Any) -> str | None:
    try:
        value = client.get_secret_value(SecretId=secret_arn, VersionStage="AWSPENDING")["SecretString"]
    except client.exceptions.ResourceNotFoundException:  # no rotation under way
        return None
    return database_url_from_secret_value(value)
