"""Domain errors raised by services; the API turns them into its JSON error shape, pages into flashes.

Services never know about HTTP, but each error carries the status the API should answer with, so
the mapping lives in one place (webapp/api/errors.py) and cannot drift between endpoints.
"""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    """409: a resend with different content, an illegal or stale transition (``extra`` carries the current state)."""

    status, code = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, code = 413, "too_large"


class UnsupportedMedia(ServiceError):
    status, code = 415, "unsupported_media_type"


class Invalid(ServiceError):
    """422 with per-field messages."""

    status, code = 422, "invalid"
