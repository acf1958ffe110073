"""Domain errors raised by services; the API maps each to one HTTP status."""


class DomainError(Exception):
    """Base class: `message` is shown to the user as is."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class ActionForbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class InvalidTransition(DomainError):
    """The object is in a state that does not allow this action (409)."""

    status_code = 409
    code = "conflict"
