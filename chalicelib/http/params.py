"""Query-string parsing with 400s: every malformed, unknown or out-of-bounds parameter is a clear
client error (bounds in ``chalicelib.bounds``), never a 500."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import overload

from chalicelib import paging
from chalicelib.bounds import MAX_DATE, MAX_INT, MAX_INT_DIGITS, MAX_TEXT_CHARS, MIN_DATE, date_in_bounds
from chalicelib.http.errors import BadRequest
from chalicelib.statuses import APPLICATION_STATUS_LABELS


class QueryParams:
    def __init__(self, raw: Mapping[str, str] | None, allowed: Iterable[str]) -> None:
        self.raw = dict(raw or {})
        allowed = tuple(allowed)
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            shown = ", ".join(name[:40] for name in unknown[:5])
            raise BadRequest(
                f"unknown query parameter(s): {shown}; allowed: {', '.join(sorted(allowed)) or 'none'}",
                code="unknown_parameter",
            )

    def _get(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if value.strip() == "":
            raise BadRequest(f"{name} must not be empty", code="invalid_parameter")
        return value

    @overload
    def integer(self, name: str, *, default: int, minimum: int = 1, maximum: int = MAX_INT) -> int: ...

    @overload
    def integer(self, name: str, *, default: None = None, minimum: int = 1,
                maximum: int = MAX_INT) -> int | None: ...

    def integer(self, name: str, *, default: int | None = None, minimum: int = 1,
                maximum: int = MAX_INT) -> int | None:
        value = self._get(name)
        if value is None:
            return default
        digits = value.removeprefix("-")
        if not (value.isascii() and digits.isdigit() and len(digits) <= MAX_INT_DIGITS):
            raise BadRequest(f"{name} must be an integer between {minimum} and {maximum}", code="invalid_parameter")
        number = int(value)
        if not minimum <= number <= maximum:
            raise BadRequest(f"{name} must be between {minimum} and {maximum}", code="invalid_parameter")
        return number

    def day(self, name: str) -> date | None:
        value = self._get(name)
        if value is None:
            return None
        bounds = f"{name} must be a date YYYY-MM-DD from {MIN_DATE} to {MAX_DATE}"
        try:
            if len(value) != 10:
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise BadRequest(bounds, code="invalid_parameter") from exc
        if not date_in_bounds(day):
            raise BadRequest(bounds, code="invalid_parameter")
        return day

    def text(self, name: str, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
        value = self._get(name)
        if value is not None and (len(value) > max_chars or not value.isprintable()):
            raise BadRequest(f"{name} must be at most {max_chars} printable characters", code="invalid_parameter")
        return value

    def choice(self, name: str, options: tuple[str, ...], *, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if value not in options:
            raise BadRequest(f"{name} must be one of {', '.join(options)}", code="invalid_parameter")
        return value

    def application_status(self, name: str = "status") -> int | None:
        code = self.integer(name, minimum=0, maximum=999)
        if code is not None and code not in APPLICATION_STATUS_LABELS:
            known = ", ".join(str(c) for c in sorted(APPLICATION_STATUS_LABELS))
            raise BadRequest(f"{name} must be an application status code ({known})", code="invalid_parameter")
        return code

    def cursor(self, name: str = "cursor") -> paging.Position | None:
        """A cursor this API returned (an ``InvalidInput`` 400 otherwise)."""
        value = self._get(name)
        return None if value is None else paging.decode(value)


def check_date_range(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise BadRequest("from must not be after to", code="invalid_parameter")
