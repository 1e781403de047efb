"""Conditional GET for the API's read endpoints: ``ETag`` and ``304 Not Modified``.

The ETag is a hash of the rendered body, not of model timestamps. What a response
shows depends on more than one row (a variant is visible only while its style is
active, its source unchanged and its review not rejected; a style's preview is its
smallest visible variant), and a body hash is right by construction whatever
changes. The query still runs; what a storefront saves is the transfer and the
parsing, which is what polling clients and CDNs repeat.

``Cache-Control: no-cache`` lets clients and shared caches store responses but makes
them revalidate every time, so nobody is served a variant after it was rejected.
Responses to authenticated requests are also ``private``: staff see inactive styles.
"""
from django.utils.cache import get_conditional_response, patch_cache_control, set_response_etag

from .exceptions import PreconditionFailed, error_response

CONDITIONAL_METHODS = ("GET", "HEAD")


class ConditionalGetMixin:
    """For APIView subclasses: ETag successful GET/HEAD responses and answer If-None-Match."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in CONDITIONAL_METHODS or response.status_code != 200:
            return response
        response.render()
        set_response_etag(response)
        patch_cache_control(response, no_cache=True)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True)
        response = get_conditional_response(request, etag=response["ETag"], response=response)
        if response.status_code == PreconditionFailed.status_code:
            # Django answers a failed If-Match with an empty 412; keep the error shape.
            return error_response(PreconditionFailed())
        return response
