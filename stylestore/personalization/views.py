"""The style picker's form endpoint, for browsers without JavaScript.

With JavaScript the picker sends a ``pick`` event to the API and swaps the image in
place. Without it the picker form is submitted here with GET, which only shows a page
confirming the pick; its form posts back here (a normal Django form post,
CSRF-protected) and the visitor is sent back to the page they were on. The picker on
the product page thereby carries no CSRF token: serving the page neither masks a token
nor renews the CSRF cookie, which were most of what the picker cost on every page
view, while the rare browser without JavaScript takes one more click.
"""
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from ..conf import stylestore_settings
from ..models import Style
from ..references import MalformedReference, UnknownReference, parse_reference
from . import events, page
from .choices import ORIGINAL
from .identity import get_visitor

# Error text echoes client input: plain text, never HTML.
PLAIN = "text/plain; charset=utf-8"


@require_http_methods(["GET", "POST"])
def pick(request):
    """Remember the visitor's pick: a style slug, "original", or empty to let the shop
    choose. A GET changes nothing: it answers with the form that confirms the pick."""
    data = request.POST if request.method == "POST" else request.GET
    next_url = data.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    context = get_visitor(request)
    if not context.consent:
        return HttpResponseRedirect(next_url)
    item = {"kind": events.Kind.PICK, "style": data.get("style") or None}
    reference = None
    if data.get("source"):
        try:
            reference = item["source"] = parse_reference(data["source"])
        except (MalformedReference, UnknownReference) as exc:
            return HttpResponseBadRequest(str(exc), content_type=PLAIN)
        item["field"] = data.get("field") or None
    try:
        resolved = events.resolve(context, [item])
    except events.InvalidEvents as exc:
        return HttpResponseBadRequest("; ".join(m for ms in exc.errors.values() for m in ms), content_type=PLAIN)
    if request.method == "GET":
        style = item["style"]
        return render(request, "stylestore/pick.html", {
            "style": style or "",
            "style_name": Style.objects.get(slug=style).name if style not in (None, ORIGINAL) else None,
            "original": style == ORIGINAL,
            "source": reference.label if reference else "",
            "per_product": stylestore_settings.PICK_SCOPE == "product" and reference is not None,
            "scope_note": page.pick_scope_note(),
            "field": item.get("field") or "",
            "next": next_url,
        })
    events.record(context, resolved)
    return HttpResponseRedirect(next_url)
