"""Errors the domain raises about its inputs; ``chalicelib/http`` maps them to HTTP answers.

The domain never imports the HTTP layer: a cursor that is not one of ours is an ``InvalidInput``
here, and a JSON 400 only at the edge (``chalicelib.http.errors.json_errors``).
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a stable machine-readable ``code`` and a message safe to show the caller."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(DomainError):
    """The caller's input is malformed or outside its bounds (HTTP: 400)."""

    code = "invalid_parameter"
