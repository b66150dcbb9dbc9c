"""Typed errors raised by the domain services.

Every domain package raises these; `caremap.errors` maps them to HTTP responses in one place,
so a service never needs to know it is being called from a web request.
"""

from typing import Any


class DomainError(Exception):
    """Base class: `status` is the HTTP status the error maps to, `code` a stable machine name."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PreconditionFailed(DomainError):
    """The version the caller changed is not the current one (HTTP If-Match)."""

    status = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    """A change that must name the version it changes, and did not."""

    status = 428
    code = "precondition_required"


class Gone(DomainError):
    """Something that existed but can no longer be used (an expired link)."""

    status = 410
    code = "gone"


class Invalid(DomainError):
    """Input that breaks a rule; `fields` maps each bad field (dotted path) to why it is bad."""

    status = 422
    code = "invalid"

    def __init__(self, fields: dict[str, str], message: str = "Some fields are not valid.") -> None:
        super().__init__(message, fields=fields)
        self.fields = fields


class Unavailable(DomainError):
    """A backing service (geocoder, search engine, mail server) cannot answer right now."""

    status = 503
    code = "unavailable"
