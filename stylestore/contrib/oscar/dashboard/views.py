"""The dashboard's Stylestore pages. They compose the services the Django admin's pages
use (``ApplyStyleForm``, ``variants.requests``, ``estimates``, ``batches``) and the
admin's own pieces where those already say it (the Oscar product admin's progress per
product, the variants admin's approve / reject and quality words), so the two surfaces
cannot drift apart. Who may open each view: ``permissions.PERMISSIONS``."""
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import IntegerField, prefetch_related_objects
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeData
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import generic
from oscar.core.loading import get_class, get_model
from oscar.views.decorators import check_permissions

from ....admin.mixin import PROGRESS_ATTR
from ....admin.styles import StyleAdmin
from ....admin.variants import StylizedImageAdmin
from ....admin.views import batch_link, success_message
from ....conf import stylestore_settings
from ....forms import ApplyStyleForm
from ....models import Batch, SourceImage, Style, StylizedImage
from ....personalization import report
from ....variants import batches, estimates, requests
from ..admin import ProductAdmin
from .permissions import PERMISSIONS

Product = get_model("catalogue", "Product")
ProductImage = get_model("catalogue", "ProductImage")
ProductListView = get_class("dashboard.catalogue.views", "ProductListView")

#: Oscar's product list names its checkboxes so; the Apply page posts them back.
SELECTED = "selected_product"
CONFIRM_FIELD = "_stylestore_confirm"
RECOUNT_FIELD = "_stylestore_recount"
LISTED_PRODUCTS = 20
#: Products a progress page reports on at most.
MAX_PROGRESS = 200


def dashboard_products(request):
    """The products Oscar's dashboard product list shows this user, with the list's
    search (the query string) applied: the same queryset, so "Select all" and partner
    users' restrictions mean here what they mean there."""
    view = ProductListView()
    view.setup(request)
    return view.get_queryset()


def stylizer():
    """The Oscar product admin: what styling a product means (its images, their field)
    and its progress, as the admin's "Apply style…" and progress column have them."""
    return ProductAdmin(Product, admin.site)


def progress_url(products):
    return reverse("stylestore_dashboard:stylestore-progress") + "?" + urlencode(
        [("product", product.pk) for product in products[:MAX_PROGRESS]])


class StyleListView(generic.ListView):
    """The styles, with their thumbnails (image, or a preset's swatch); editing is the admin's."""

    template_name = "stylestore/oscar/dashboard/styles.html"
    context_object_name = "styles"
    paginate_by = 50
    extra_context = {"page_title": _lazy("Styles")}

    def get_queryset(self):
        return Style.objects.order_by("-active", "name")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        style_admin = StyleAdmin(Style, admin.site)
        context["rows"] = [{"style": style, "thumbnail": style_admin.thumbnail(style),
                            "engine": Style.Engine(style.effective_engine).label} for style in context["styles"]]
        context["may_change"] = self.request.user.has_perm("stylestore.change_style")
        context["may_add"] = self.request.user.has_perm("stylestore.add_style")
        return context


class ApplyStyleView(generic.View):
    """"Apply style…" for products chosen on Oscar's product list (its checkboxes,
    posted here, or "Select all" with the list's search) or one product's page
    (``?selected_product=N``): the styles and settings, how many images that makes
    and how long they take, then the queue; back to the progress of those products."""

    template_name = "stylestore/oscar/dashboard/apply_style.html"

    def get(self, request):
        return self.handle(request, request.GET)

    def post(self, request):
        return self.handle(request, request.POST)

    def handle(self, request, data):
        products = dashboard_products(request)
        if data.get("select_across") != "1":
            try:
                products = products.filter(pk__in=[int(pk) for pk in data.getlist(SELECTED)])
            except ValueError:
                products = products.none()
        products = list(products.order_by("title", "pk"))
        if not products:
            messages.warning(request, _("Select the products to apply a style to."))
            return HttpResponseRedirect(reverse("dashboard:catalogue-product-list"))
        styling = stylizer()
        images = list(styling.get_stylize_objects(request, products))
        field = styling.stylize_image_field
        confirmed = CONFIRM_FIELD in data
        form = ApplyStyleForm(data if confirmed else None)
        form.fields["styles"].widget.swatches_url = reverse("admin:stylestore_style_swatches")
        valid = form.is_valid()
        if valid and RECOUNT_FIELD not in data:
            styles, render_request = form.cleaned_data["styles"], form.cleaned_data["render_request"]
            with transaction.atomic():
                result = requests.request_for_objects(images, field, styles, render_request)
                batch = batches.record(result, styles, {Product: len(products)}, user=request.user,
                                       origin=Batch.Origin.ADMIN)
            skipped = len(images) * len(styles) - len(result.ids)
            message = success_message(result, skipped, batch_link(admin.site, batch))
            # Oscar's dashboard shows a message's HTML (the batch's link) only when tagged "safe".
            messages.success(request, message, extra_tags="safe" if isinstance(message, SafeData) else "")
            return HttpResponseRedirect(progress_url(products))

        estimate = {}
        if valid:
            styles, render_request = form.cleaned_data["styles"], form.cleaned_data["render_request"]
            counts = requests.count_for_objects(images, field, styles, render_request)
            renders = [(params["engine"], params["max_side"]) for params in map(render_request.resolve, styles)]
            estimate = estimates.for_batch(renders, counts.new)
        else:
            counts = requests.count_for_objects(images, field, [])
        with_image = {image.product_id for image in images if getattr(image, field)}
        return TemplateResponse(request, self.template_name, {
            "page_title": _("Apply style"),
            "form": form,
            "fields": [form[name] for name in form.fields if name != "styles"],
            "products": products[:LISTED_PRODUCTS],
            "more_products": max(len(products) - LISTED_PRODUCTS, 0),
            "product_count": len(products),
            "without_image": [product for product in products if product.pk not in with_image],
            "selected": [product.pk for product in products],
            "selected_name": SELECTED,
            "confirm_field": CONFIRM_FIELD,
            "recount_field": RECOUNT_FIELD,
            # The counts the admin's page shows, said of images (a product has several).
            "counts": counts, "counted": valid, "estimate": estimate, "problems": form.non_field_errors(),
            "objects_name": ProductImage._meta.verbose_name_plural,
        })


class ProgressView(generic.TemplateView):
    """Per product: its styles ready, in progress, failed, with the time left: the
    product admin's progress cell itself (same computation, same words), which polls
    the admin's progress endpoint while anything is queued or rendering.
    ``?product=N`` (repeated) names the products, else the most recently updated
    products with any style."""

    template_name = "stylestore/oscar/dashboard/progress.html"
    extra_context = {"page_title": _lazy("Style progress")}

    def get_context_data(self, **kwargs):
        products = dashboard_products(self.request)
        styling = stylizer()
        asked = [pk for pk in self.request.GET.getlist("product")[:MAX_PROGRESS] if pk.isdigit()]
        if asked:
            products = products.filter(pk__in=asked)
        else:
            images = styling.get_stylize_objects(self.request, products).filter(pk__in=_images_with_variants())
            products = products.filter(pk__in=images.values("product_id"))
        rows = list(products.order_by("-date_updated", "pk")[:MAX_PROGRESS])
        progress = styling.get_stylize_progress(self.request, rows)
        for row in rows:
            setattr(row, PROGRESS_ATTR, progress[row.pk])
        return super().get_context_data(**kwargs, rows=[
            {"product": row, "progress": styling.stylize_progress(row)} for row in rows
        ], media=styling.media, asked=bool(asked))


def _images_with_variants():
    """The ids of Oscar's product images that have any variant (a subquery; a source's
    ``object_id`` is text, cast so PostgreSQL compares it with integer keys)."""
    return SourceImage.objects.filter(
        content_type=ContentType.objects.get_for_model(ProductImage), variants__isnull=False,
    ).annotate(image_id=Cast("object_id", IntegerField())).values("image_id")


class ReviewQueueView(generic.ListView):
    """Ready variants nobody has reviewed yet and those the quality gate held
    (``?held=1``: only those), with the photo before and the styled image after. With
    ``AUTO_APPROVE`` the unreviewed ones are shown to customers already (the page says so)."""

    template_name = "stylestore/oscar/dashboard/review.html"
    context_object_name = "variants"
    paginate_by = 24
    extra_context = {"page_title": _lazy("Review queue")}

    def get_queryset(self):
        waiting = [StylizedImage.Review.HELD] if self.request.GET.get("held") else [
            StylizedImage.Review.UNREVIEWED, StylizedImage.Review.HELD]
        return (StylizedImage.objects.filter(status=StylizedImage.Status.READY, review__in=waiting)
                .select_related("style", "source__content_type").prefetch_related("source__source")
                .order_by("-finished_at", "-pk"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        variants_admin = StylizedImageAdmin(StylizedImage, admin.site)
        # Each row names its product: Oscar's product images in one query, not one a row
        # (other source models have no product to fetch).
        prefetch_related_objects([v.source.source for v in context["variants"]
                                  if isinstance(v.source.source, ProductImage)], "product")
        context["rows"] = [{
            "variant": variant,
            # The product the photo is of (None once the photo is deleted).
            "product": getattr(variant.source.source, "product", None),
            "original": variant.source.get_field_file(),
            "gate": variants_admin.gate_display(variant),
            "colour": variants_admin.product_colour(variant),
            "shape": variants_admin.product_shape(variant),
            "style_strength": variants_admin.style_strength(variant),
        } for variant in context["variants"]]
        context["held_only"] = bool(self.request.GET.get("held"))
        context["auto_approve"] = stylestore_settings.AUTO_APPROVE
        context["may_review"] = check_permissions(self.request.user, PERMISSIONS["stylestore-review-decision"])
        return context


class ReviewDecisionView(generic.View):
    """POST ``decision`` = approve | reject for one variant: the variants admin's own
    actions (same rules: only a ready image is approved; same messages); back to
    ``next`` (the queue)."""

    def post(self, request, pk):
        variant = get_object_or_404(StylizedImage, pk=pk)
        variants_admin = StylizedImageAdmin(StylizedImage, admin.site)
        decision = {"approve": variants_admin.approve, "reject": variants_admin.reject}.get(request.POST.get("decision"))
        if decision is None:
            messages.error(request, _("Choose approve or reject."))
        else:
            decision(request, StylizedImage.objects.filter(pk=variant.pk))
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = reverse("stylestore_dashboard:stylestore-review")
        return HttpResponseRedirect(next_url)


class AnalyticsView(generic.TemplateView):
    """The personalization report (what styling earns against the original photos and
    against one style for everyone) in the dashboard's layout: the admin's report, the
    same context and template."""

    template_name = "stylestore/oscar/dashboard/analytics.html"
    extra_context = {"page_title": _lazy("Analytics")}

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv" and (response := report.csv_response(request.GET)) is not None:
            return response
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **report.context(self.request.GET)}
