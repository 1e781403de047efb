"""The OpenAPI description of the API's cross-cutting behaviour.

drf-spectacular documents what a view's serializers accept and return. The API's
views share behaviour it cannot see, which every operation would otherwise repeat in
``@extend_schema``; :class:`StylestoreAutoSchema` derives it from the view instead:

- the error responses the operation can really produce, all with the ``Error`` body:
  401 (a bad token, on any operation), 403 (unless the operation is public), 400 /
  413 / 415 (operations with a request body; 400 also for query parameters other
  than paging, which the API's views validate), 404 (operations with path
  parameters, and paginated lists, whose pages can run out), 429 (throttling, with
  ``Retry-After``);
- conditional GET: the ``If-None-Match`` request header, the ``ETag`` response
  header, and the 304 and 412 responses;
- the query parameters of list filters (``filter_serializer_class``);
- ``security: []`` on public operations (those anyone may call), so Swagger UI shows
  them open, not locked behind credentials they do not need.

It works on the finished operation (``get_operation``), after ``@extend_schema``
overrides have been applied, and only adds what an operation does not already
document: an explicit annotation always wins.

The schema view serves it with :data:`SCHEMA_SETTINGS`, whatever the shop's
``SPECTACULAR_SETTINGS`` and ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` say: only
Stylestore's own endpoints are described (:func:`only_stylestore_endpoints`), each with
the schema class its view sets, so the shop's other APIs can neither break nor join it.
"""
import inspect

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny

from .conditional import ConditionalGetMixin
from .filters import filter_serializer_for
from .serializers import ErrorSerializer

BODY_METHODS = ("POST", "PUT", "PATCH")

IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="ETag of a representation the client holds; answered with 304 if it is still current.",
)
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200],
    description="Validator of this representation, for If-None-Match.",
)

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `error.fields` names each offending field.",
    401: "Missing, invalid or expired credentials.",
    403: "Not allowed: staff status and the permissions named above are required (with session "
         "authentication, also a CSRF token).",
    404: "Not found.",
    412: "An If-Match precondition failed.",
    413: "The request body is too large.",
    415: "Unsupported Content-Type.",
    429: "Too many requests; retry after `Retry-After` seconds.",
}


def only_stylestore_endpoints(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: the endpoints whose view describes itself
    with :class:`StylestoreAutoSchema` (every API view of Stylestore; not the schema
    and docs views, and none of the shop's own)."""
    return [endpoint for endpoint in endpoints
            if isinstance(getattr(getattr(endpoint[3], "cls", None), "schema", None), StylestoreAutoSchema)]


#: drf-spectacular settings the schema and docs views apply over the shop's own.
SCHEMA_SETTINGS = {
    "TITLE": "Stylestore API",
    "DESCRIPTION": (
        "Styled product images and stylization jobs for headless storefronts. Public endpoints need no "
        "credentials; staff endpoints take a token (`Authorization: Token <key>`) or an admin session "
        "with a CSRF token. Every error has the body of the `Error` schema, including 405 and 406."
    ),
    "VERSION": "1.0.0",
    "PREPROCESSING_HOOKS": ["stylestore.api.schema.only_stylestore_endpoints"],
    # Separate request and response components: uploads are binary, responses give URLs.
    "COMPONENT_SPLIT_REQUEST": True,
    # Paths are <wherever the shop mounts the API>/v1/<resource>/...: tags and
    # operation ids start at the resource.
    "SCHEMA_PATH_PREFIX": r"/(?:[^/]+/)*?v[0-9]+",
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}


class StylestoreAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the behaviour the API's views share (module docstring)."""

    def _is_conditional_get(self):
        return self.method == "GET" and isinstance(self.view, ConditionalGetMixin)

    def _filters(self):
        return filter_serializer_for(self.view) if self.method == "GET" else None

    def _paging_parameters(self):
        paginator = getattr(self.view, "pagination_class", None)
        return {getattr(paginator, "page_query_param", None), getattr(paginator, "page_size_query_param", None)}

    def _is_public(self):
        return any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())

    def _error_codes(self, operation):
        codes = {401, 429}
        if not self._is_public():
            codes.add(403)
        if self.method in BODY_METHODS and "requestBody" in operation:
            codes |= {400, 413, 415}
        query = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
        paging = self._paging_parameters()
        if query - paging:
            codes.add(400)  # the API validates every query parameter but the page number and size
        if query & paging or "{" in self.path:
            codes.add(404)  # a page past the end, or no such object
        if self._is_conditional_get():
            codes.add(412)
        return codes

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        filters = self._filters()
        if filters is not None:
            parameters.append(filters)
        if self._is_conditional_get():
            parameters += [IF_NONE_MATCH, ETAG]
        return parameters

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if self._is_public():
            # drf-spectacular lists the view's authenticators with an optional {}, and
            # Swagger UI then draws a lock. A public client needs no credentials (staff
            # ones still work, e.g. to list inactive styles).
            operation["security"] = []
        responses = operation["responses"]
        if self._is_conditional_get():
            responses.setdefault("304", {
                "description": "Not modified: the If-None-Match ETag is current.",
                "headers": {"ETag": {"schema": {"type": "string"}, "description": ETAG.description}},
            })
        error = {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}
        for code in self._error_codes(operation):
            response = {
                "description": ERROR_DESCRIPTIONS[code],
                "content": {media_type: error for media_type in self.map_renderers("media_type")},
            }
            if code == 429:
                response["headers"] = {"Retry-After": {
                    "schema": {"type": "integer"}, "description": "Seconds until a request will be accepted again.",
                }}
            responses.setdefault(str(code), response)
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def describe(**kwargs):
    """``extend_schema`` for Stylestore's views. On a view method, drf-spectacular
    builds the annotation on the project's ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``
    unless the method names a schema class: with DRF's own default there, the schema
    view failed (``get_operation() takes 3 positional arguments``). So the method names
    :class:`StylestoreAutoSchema` first; a view class already carries it (the API mixin)."""
    annotate = extend_schema(**kwargs)

    def decorator(target):
        if not inspect.isclass(target):
            target.kwargs = getattr(target, "kwargs", {})
            target.kwargs.setdefault("schema", StylestoreAutoSchema)
        return annotate(target)

    return decorator
