"""One error shape for every failure of the API.

Every error a client can get from the API, whichever layer produced it, has this
body (the schema publishes it as the ``Error`` component)::

    {"error": {"code": "invalid", "message": "Invalid input.",
               "fields": {"sources.0": ["shop.product:9 does not exist."]}}}

- ``code`` is stable and machine readable: DRF's codes (``not_found``,
  ``not_authenticated``, ``permission_denied``, ``throttled``, ``parse_error``,
  ``unsupported_media_type``, ``method_not_allowed``, ...), ``invalid`` for validation
  errors, and the codes of the exceptions defined below.
- ``message`` is for humans; its wording may change.
- ``fields`` maps a field path to its messages for validation errors: nested fields
  are joined with dots and list items by index (``sources.0``), so clients never walk
  DRF's nested error structures. It is empty for other errors.

Three entry points produce it:

- :func:`exception_handler` for exceptions raised in API views. The API's views
  select it themselves (``get_exception_handler``) rather than through
  ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``, so installing Stylestore does not change
  the error format of a shop's own DRF endpoints.
- :func:`bad_request` and :func:`server_error`, meant as the project's ``handler400``
  and ``handler500``, for failures that never reach a view (a request Django refuses
  in middleware, an unhandled exception). Under the API's URL prefix they answer in
  the error shape; elsewhere they defer to Django's default pages. 404s need no
  handler: the API's URLconf ends in a catch-all that answers them itself, which also
  works with ``DEBUG = True``, where Django bypasses ``handler404``.
- :func:`error_response` for the few places that build an error response outside
  the exception machinery.
"""
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback


class Conflict(exceptions.APIException):
    """The request is valid but the resource's current state does not allow it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The resource's current state does not allow this.")
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    """The request body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (file parts excluded)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class PreconditionFailed(exceptions.APIException):
    """An ``If-Match`` precondition of a conditional GET did not hold."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("Precondition failed.")
    default_code = "precondition_failed"


def error_payload(code, message, fields=None) -> dict:
    return {"error": {"code": str(code), "message": str(message), "fields": fields or {}}}


def _field_errors(detail, path=()) -> dict:
    """Flatten DRF's nested validation detail into ``{"a.0.b": [messages]}``."""
    if isinstance(detail, dict):
        result = {}
        for key, value in detail.items():
            result.update(_field_errors(value, (*path, str(key))))
        return result
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        result = {}
        for index, item in enumerate(detail):
            result.update(_field_errors(item, (*path, str(index))))
        return result
    messages = [str(item) for item in detail] if isinstance(detail, list) else [str(detail)]
    return {".".join(path) or api_settings.NON_FIELD_ERRORS_KEY: messages} if messages else {}


def payload_for(exc: exceptions.APIException) -> dict:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            return error_payload("invalid", _("Invalid input."), _field_errors(detail))
        # A validation error not tied to a field: its own words are the message.
        messages = _field_errors(detail).get(api_settings.NON_FIELD_ERRORS_KEY, [])
        return error_payload("invalid", " ".join(messages) or _("Invalid input."))
    if isinstance(detail, ErrorDetail):
        return error_payload(detail.code or exc.default_code, detail)
    # An APIException raised with a list or dict detail: keep its messages, not its shape.
    messages = [message for group in _field_errors(detail).values() for message in group]
    return error_payload(exc.default_code, " ".join(messages) or exc.default_detail)


def exception_handler(exc, context):
    """DRF exception handler: DRF's own mapping and headers, in the API's error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        # Django would answer 400 through handler400; 413 tells the client what to fix.
        exc = PayloadTooLarge()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's handler500 answers (server_error below)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = "%d" % exc.wait
    set_rollback()
    return Response(payload_for(exc), status=exc.status_code, headers=headers)


def error_response(exc: exceptions.APIException) -> JsonResponse:
    """A finished response for ``exc``, for code that runs after DRF's handler would."""
    return JsonResponse(payload_for(exc), status=exc.status_code)


def is_api_request(request) -> bool:
    """Whether the request's path lies under the prefix the API is mounted at.

    The prefix is read from the URLconf (the schema lives at ``<prefix>schema/``), so
    the handlers follow wherever the shop ``include()``s the API.
    """
    try:
        schema_path = reverse("stylestore_api:schema")
    except NoReverseMatch:
        return False
    prefix = schema_path.rstrip("/").rpartition("/")[0] + "/"
    return request.path.startswith(prefix)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    """``handler400``: a request Django refused (bad Host header, too many fields...)."""
    if is_api_request(request):
        return JsonResponse(error_payload("bad_request", _("Bad request.")), status=status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """``handler500``: an unhandled exception (already logged by Django)."""
    if is_api_request(request):
        return JsonResponse(
            error_payload("server_error", _("A server error occurred.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request, template_name)
