"""The style picker's form endpoint, for browsers without JavaScript.

With JavaScript the picker sends a ``pick`` event to the API and swaps the image in
place; without it the form posts here (a normal Django form post, CSRF-protected)
and the visitor is sent back to the page they were on.
"""
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..api.references import MalformedReference, UnknownReference, parse_reference
from . import events
from .identity import get_visitor

# Error text echoes client input: plain text, never HTML.
PLAIN = "text/plain; charset=utf-8"


@require_POST
def pick(request):
    """Remember the visitor's pick: a style slug, "original", or empty to let the shop choose."""
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    context = get_visitor(request)
    if not context.consent:
        return HttpResponseRedirect(next_url)
    item = {"kind": events.Kind.PICK, "style": request.POST.get("style") or None}
    if request.POST.get("source"):
        try:
            item["source"] = parse_reference(request.POST["source"])
        except (MalformedReference, UnknownReference) as exc:
            return HttpResponseBadRequest(str(exc), content_type=PLAIN)
        item["field"] = request.POST.get("field") or None
    try:
        events.record(context, events.resolve(context, [item]))
    except events.InvalidEvents as exc:
        return HttpResponseBadRequest("; ".join(m for ms in exc.errors.values() for m in ms), content_type=PLAIN)
    return HttpResponseRedirect(next_url)
