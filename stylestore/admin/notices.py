"""The completion notice: on the next admin page a staff user opens after a batch they
queued finished, a message says so, with its counts and links to the results and to
the failures.

A middleware (``BatchNoticeMiddleware``, in ``MIDDLEWARE``; W051 says when it is
missing), so the notice shows on every page of every admin site, whatever the shop's
templates: it adds Django messages, which the admin's base template already shows.
It acts in ``process_template_response``, i.e. only on pages about to be rendered from
a template, never on the JSON the admin's scripts poll (which would swallow the
notice), and after every middleware's request phase (so its place in the list does not
matter).
"""
from django.contrib import messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from ..models import Batch
from ..variants import batches

#: Notices shown at most per page (the rest come on the next pages).
PER_PAGE = 5


class BatchNoticeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_template_response(self, request, response):
        match = request.resolver_match
        user = getattr(request, "user", None)
        # Not in a popup (a related object's "+" window): it closes before anyone reads it.
        if (match is None or match.app_name != "admin" or IS_POPUP_VAR in request.GET
                or not hasattr(request, "_messages") or user is None or not user.is_active or not user.is_staff):
            return response
        for batch in unseen_finished(user):
            level, text = notice(batch, batches.counts(batch), match.namespace)
            messages.add_message(request, level, text)
        return response


def unseen_finished(user):
    """The user's finished batches they were not told about yet, oldest first, each
    marked as told (a conditional update: two pages loading at once tell it once)."""
    found = list(Batch.objects.filter(created_by=user, notified_at=None, finished_at__isnull=False)
                 .order_by("finished_at", "pk")[:PER_PAGE])
    now = timezone.now()
    return [batch for batch in found if Batch.objects.filter(pk=batch.pk, notified_at=None).update(notified_at=now)]


def variants_url(site_name, batch, **params):
    """The variants list filtered to the batch (and ``params``), or None if that admin
    is not on this site."""
    try:
        url = reverse(f"{site_name}:stylestore_stylizedimage_changelist")
    except NoReverseMatch:
        return None
    query = "&".join([f"batch={batch.pk}", *(f"{key}={value}" for key, value in params.items())])
    return f"{url}?{query}"


def notice(batch, values, site_name="admin"):
    """``(level, html)`` of one finished batch's notice."""
    failed = values["failed"]
    headline = (_("Finished with failures: %(batch)s") if failed else _("Done: %(batch)s")) % {
        "batch": batch.description or batch}
    links = []
    results = variants_url(site_name, batch)
    if results:
        links.append((results, _("See the results")))
    if failed and results:
        links.append((variants_url(site_name, batch, status="attention"), _("See the failures")))
    return (messages.WARNING if failed else messages.SUCCESS), format_html(
        '<span class="stylestore-notice" data-stylestore-batch="{}">{} — {}. {}</span>',
        batch.pk, headline, batches.summary(values),
        format_html_join(" · ", '<a href="{}">{}</a>', links),
    )
