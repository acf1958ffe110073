"""One JSON error shape for the whole API.

Domain errors map to their status; Django's ValidationError becomes a 400 with
field messages; anything DRF raises keeps its status. Bodies look like
{"detail": "...", "code": "...", "errors": {"field": ["..."]}}.

Bad bodies that DRF itself does not turn into a response (and Django would answer
with an HTML page or a 500) get the same JSON shape here:
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig) is a 413;
- a form with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields, or more files than
  DATA_UPLOAD_MAX_NUMBER_FILES, is a 400;
- JSON nested deeper than Python's parser can recurse (RecursionError inside the
  parser) is a 400 parse error.
Error messages may quote the input ('"x" is not a valid choice.'); a lone UTF-16
surrogate from a JSON "\\ud800" escape cannot be encoded as UTF-8, so quoted input is
shown with such characters escaped rather than crashing the renderer.
Bodies whose Content-Length is already over the limit never reach a view:
project/middleware.py refuses them with the same 413.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import DomainError

_PARSER_MODULE_FILE = parsers.__file__.removesuffix("c")  # .py, not a cached .pyc


def request_too_large_body() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {"detail": f"The request body is too large: the limit is {limit} bytes.", "code": "request_too_large"}


def _raised_by_a_parser(exc: BaseException) -> bool:
    """True if the exception was raised while DRF's parsers were reading the body."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _PARSER_MODULE_FILE:
            return True
        tb = tb.tb_next
    return False


def _encodable(value):
    """The error body with every string (keys too) safe to encode as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(v) for v in value]
    return value


def exception_handler(exc, context):
    response = _exception_response(exc, context)
    if response is not None:
        response.data = _encodable(response.data)
    return response


def _exception_response(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            {"detail": "Invalid input.", "code": "invalid", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(request_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return Response({"detail": str(exc), "code": "parse_error"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        return Response(
            {"detail": "The request body is nested too deeply.", "code": "parse_error"},
            status=status.HTTP_400_BAD_REQUEST,
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"detail": str(detail), "code": getattr(detail, "code", "error")}
    return response
