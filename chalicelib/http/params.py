"""Query-string parsing with 400s: every malformed or unknown parameter is a clear client error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from chalicelib.http.errors import BadRequest
from chalicelib.partners import cursors
from chalicelib.statuses import APPLICATION_STATUS_LABELS


class QueryParams:
    def __init__(self, raw: Mapping[str, str] | None, allowed: Iterable[str]) -> None:
        self.raw = dict(raw or {})
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            raise BadRequest(
                f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                code="unknown_parameter",
            )

    def _get(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if value.strip() == "":
            raise BadRequest(f"{name} must not be empty", code="invalid_parameter")
        return value

    def integer(self, name: str, *, default: int | None = None, minimum: int = 1,
                maximum: int = 2**31 - 1) -> int | None:
        value = self._get(name)
        if value is None:
            return default
        if not value.isascii() or not value.strip().lstrip("-").isdigit():
            raise BadRequest(f"{name} must be an integer", code="invalid_parameter")
        number = int(value)
        if not minimum <= number <= maximum:
            raise BadRequest(f"{name} must be between {minimum} and {maximum}", code="invalid_parameter")
        return number

    def day(self, name: str) -> date | None:
        value = self._get(name)
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError as exc:
            raise BadRequest(f"{name} must be a date YYYY-MM-DD", code="invalid_parameter") from exc

    def application_status(self, name: str = "status") -> int | None:
        code = self.integer(name, minimum=0, maximum=999)
        if code is not None and code not in APPLICATION_STATUS_LABELS:
            known = ", ".join(str(c) for c in sorted(APPLICATION_STATUS_LABELS))
            raise BadRequest(f"{name} must be an application status code ({known})", code="invalid_parameter")
        return code

    def cursor(self, name: str = "cursor") -> cursors.Position | None:
        value = self._get(name)
        return None if value is None else cursors.decode(value)


def check_date_range(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise BadRequest("from must not be after to", code="invalid_parameter")
