"""Settings read from the environment, in one place."""

from __future__ import annotations

import os

DEFAULT_REGION = "ap-southeast-3"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set (make targets set it; or export it, e.g. "
            "postgresql://postgres@127.0.0.1:55432/julo)"
        )
    return url


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
