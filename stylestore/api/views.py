"""The API's endpoints: styles, the variants of a source object, and stylization jobs.

Every view takes its policies (authentication, permissions, throttles, versioning,
parsing, rendering, pagination, filtering, error format, schema) from
:class:`StylestoreAPIMixin` rather than from ``REST_FRAMEWORK`` defaults: Stylestore is
a plugin, and its API must behave the same in every shop, whatever the shop's own DRF
configuration. ``REST_FRAMEWORK`` still supplies the throttle rates and
``NUM_PROXIES``, which are deployment decisions.
"""
from django.contrib.contenttypes.models import ContentType
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _
from drf_spectacular.settings import patched_settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Batch, Style, StylizedImage
from ..references import EXAMPLE_REFERENCE, REFERENCE_PATTERN, MalformedReference, UnknownReference, parse_reference
from ..variants import batches, requests, upgrades
from .conditional import ConditionalGetMixin
from .exceptions import Conflict, exception_handler
from .filters import BatchFilter, JobFilter, SerializerFilterBackend, StyleFilter, VariantFilter
from .pagination import StylestorePagination
from .parsers import JSONParser
from .permissions import CanApplyStyles, CanManageJobs, StaffModelPermissions, can_see_inactive_styles
from .schema import SCHEMA_SETTINGS, StylestoreAutoSchema, describe
from .serializers import (
    BatchSerializer,
    ErrorSerializer,
    JobRequestResultSerializer,
    JobRequestSerializer,
    JobSerializer,
    StyleSerializer,
    VariantSerializer,
    build_srcsets,
    preview_candidates,
)
from .throttles import StylestoreAnonRateThrottle, StylestoreUserRateThrottle
from .versioning import StylestoreVersioning


class ErrorFormatMixin:
    """Answer errors in the API's error shape, whatever ``REST_FRAMEWORK`` says."""

    def get_exception_handler(self):
        return exception_handler


class StylestoreAPIMixin(ErrorFormatMixin):
    """The policies every endpoint of the API shares (see the module docstring)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    throttle_classes = [StylestoreAnonRateThrottle, StylestoreUserRateThrottle]
    versioning_class = StylestoreVersioning
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    pagination_class = StylestorePagination
    filter_backends = [SerializerFilterBackend]
    schema = StylestoreAutoSchema()

    def initial(self, request, *args, **kwargs):
        # DRF authenticates and checks permissions before it looks at the method: an
        # operation that does not exist would be a 401 or 403. It is a 405 for everyone.
        if request.method not in self.allowed_methods:
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)


# --------------------------------------------------------------------------- styles


@extend_schema_view(
    list=describe(summary="List styles", description="Active styles; staff who may view or change styles "
                                                          "also see inactive ones."),
    retrieve=describe(summary="Get a style"),
    create=describe(summary="Create a style", description="Needs `stylestore.add_style`. Send "
                                                               "multipart/form-data to upload the style image."),
    partial_update=describe(summary="Update a style", description="Needs `stylestore.change_style`. Only the "
                                                                       "fields sent change."),
)
class StyleViewSet(
    StylestoreAPIMixin,
    ConditionalGetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    # PATCH but no PUT: with multipart input a full replace would reset every
    # boolean left out of the form to its default.
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Style.objects.all()
    serializer_class = StyleSerializer
    filter_serializer_class = StyleFilter
    parser_classes = [JSONParser, MultiPartParser]
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,100}"

    def get_permissions(self):
        # By method, not action: OPTIONS is public too, and DRF's metadata checks the
        # permission for POST on a copy of the request with that method.
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return [StaffModelPermissions()]

    def get_queryset(self):
        # Each style's preview comes with it, in the same query.
        preview = preview_candidates().filter(style=OuterRef("pk")).values("file")[:1]
        queryset = Style.objects.annotate(preview_file=Subquery(preview)).order_by("name", "pk")
        if not can_see_inactive_styles(self.request.user):
            queryset = queryset.filter(active=True)
        return queryset


# ------------------------------------------------------------------------- variants


class MalformedReferenceError(exceptions.ParseError):
    default_detail = "Malformed source reference."
    default_code = "malformed_reference"


class UnknownReferenceError(exceptions.NotFound):
    default_detail = "Unknown source reference."
    default_code = "unknown_reference"


@describe(
    summary="List the visible variants of a source object",
    description="Ready, current and approved variants of the object's images, with a `srcset` per look. "
                "Never triggers rendering: a storefront shows the original image where nothing is listed.",
    parameters=[
        OpenApiParameter(
            "reference", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=REFERENCE_PATTERN,
            description=f"Stable reference of the source object, `<app_label>.<model>:<primary key>`, "
                        f"e.g. `{EXAMPLE_REFERENCE}`.",
        ),
    ],
    responses={200: VariantSerializer(many=True), 400: OpenApiResponse(
        ErrorSerializer, description="Malformed reference (`malformed_reference`) or invalid filter."),
        404: OpenApiResponse(ErrorSerializer, description="No such source object (`unknown_reference`), "
                                                          "or a page past the end.")},
)
class SourceVariantsView(StylestoreAPIMixin, ConditionalGetMixin, ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = VariantSerializer
    filter_serializer_class = VariantFilter

    def get_queryset(self):
        return (
            StylizedImage.objects.visible().select_related("style", "source")
            .order_by("style__name", "style_id", "output_format", "strength", "preserve_color", "max_side", "pk")
        )

    def list(self, request, *args, **kwargs):
        try:
            sources = parse_reference(kwargs["reference"]).source_objects(public=True)
        except MalformedReference as exc:
            raise MalformedReferenceError(str(exc))
        except UnknownReference as exc:
            raise UnknownReferenceError(str(exc))
        variants = self.get_queryset().filter(
            source__content_type=ContentType.objects.get_for_model(sources[0]),
            source__object_id__in=[str(obj.pk) for obj in sources],
        )
        page = self.paginate_queryset(self.filter_queryset(variants))
        context = {**self.get_serializer_context(), "srcsets": build_srcsets(variants, request)}
        return self.get_paginated_response(self.get_serializer(page, many=True, context=context).data)


# ----------------------------------------------------------------------------- jobs

JOB_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Job id.")
JOB_ACTION_RESPONSES = {404: OpenApiResponse(ErrorSerializer, description="No such job.")}


@extend_schema_view(
    list=describe(summary="List jobs", description="Newest first. Poll the ids a job request returned "
                                                        "with `?ids=`."),
    retrieve=describe(summary="Get a job", parameters=[JOB_ID]),
)
class JobViewSet(
    StylestoreAPIMixin,
    ConditionalGetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Stylization jobs: one per source image x style x rendering options."""

    queryset = StylizedImage.objects.select_related("style", "source__content_type").order_by("-created_at", "-pk")
    serializer_class = JobSerializer
    filter_serializer_class = JobFilter
    # Digits only, and few enough to fit a 64-bit key: anything else is a 404 from
    # URL resolution and never reaches the database as an out-of-range integer.
    lookup_value_regex = r"[0-9]{1,18}"

    def get_permissions(self):
        if self.action in ("retry", "approve", "reject"):
            return [CanManageJobs()]
        return [CanApplyStyles()]

    def get_serializer_class(self):
        return JobRequestSerializer if self.action == "create" else JobSerializer

    @describe(
        summary="Queue stylization",
        description="Every source x style, rendered with the given options (each left out takes the style's "
                    "default). Existing jobs for the same image, style and options are reused, not repeated. "
                    "The answer names the batch covering them all: follow it with `GET /api/v1/batches/{id}/`. "
                    "Needs `stylestore.apply_style`.",
        request=JobRequestSerializer,
        responses={202: JobRequestResultSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = serializer.save()
        return Response(JobRequestResultSerializer(result).data, status=status.HTTP_202_ACCEPTED)

    @describe(
        operation_id="jobs_retry",
        summary="Retry a failed job",
        description="Failed or dead jobs start over with a fresh attempt budget. "
                    "Needs `stylestore.apply_style` and `stylestore.change_stylizedimage`.",
        request=None,
        parameters=[JOB_ID],
        responses={202: JobSerializer, 409: OpenApiResponse(
            ErrorSerializer, description="The job has not failed (`not_retryable`)."), **JOB_ACTION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        job = self.get_object()
        if not requests.retry([job.pk]):
            raise Conflict(_("Only failed or dead jobs can be retried; this one is %s.") % job.status,
                           code="not_retryable")
        job.refresh_from_db()
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @describe(
        operation_id="jobs_approve",
        summary="Approve a job's image",
        description="Customers see a ready variant once approved (unless `STYLESTORE['AUTO_APPROVE']`); "
                    "the image an older engine rendered with the same photo, style and settings is then "
                    "deleted (see `manage.py stylize --outdated`). "
                    "Needs `stylestore.apply_style` and `stylestore.change_stylizedimage`.",
        request=None,
        parameters=[JOB_ID],
        responses={200: JobSerializer, 409: OpenApiResponse(
            ErrorSerializer, description="The job is not ready (`not_ready`)."), **JOB_ACTION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, *args, **kwargs):
        job = self.get_object()
        if not upgrades.approve(StylizedImage.objects.filter(pk=job.pk)):
            raise Conflict(_("Only ready images can be approved; this one is %s.") % job.status, code="not_ready")
        job.refresh_from_db()
        return Response(self.get_serializer(job).data)

    @describe(
        operation_id="jobs_reject",
        summary="Reject a job's image",
        description="Customers never see a rejected variant, whatever its status. "
                    "Needs `stylestore.apply_style` and `stylestore.change_stylizedimage`.",
        request=None,
        parameters=[JOB_ID],
        responses={200: JobSerializer, **JOB_ACTION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, *args, **kwargs):
        job = self.get_object()
        StylizedImage.objects.filter(pk=job.pk).update(review=StylizedImage.Review.REJECTED)
        job.refresh_from_db()
        return Response(self.get_serializer(job).data)


# -------------------------------------------------------------------------- batches

BATCH_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Batch id.")


@extend_schema_view(
    list=describe(summary="List batches",
                  description="Job requests, the newest first, each with its jobs by state and where it stands, "
                              "e.g. the batches still rendering (`?finished=false`). Needs `stylestore.apply_style`."),
    retrieve=describe(summary="Get a batch", parameters=[BATCH_ID],
                      description="What one job request queued: its jobs by state (queued, rendering, ready, held, "
                                  "rejected, failed), an estimate of the time left, and whether it finished. Its jobs: "
                                  "`GET /api/v1/jobs/?batch={id}`. Needs `stylestore.apply_style`."),
)
class BatchViewSet(StylestoreAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Batches: what one job request queued. Listed, read and cancelled; created by ``POST /jobs/``."""

    queryset = Batch.objects.select_related("created_by")
    serializer_class = BatchSerializer
    filter_serializer_class = BatchFilter
    lookup_value_regex = r"[0-9]{1,18}"
    permission_classes = [CanApplyStyles]

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # A page's counts in one query, not one per batch (the serializer uses them).
        counts = batches.counts_for([batch.pk for batch in page])
        for batch in page:
            batch._counts = counts[batch.pk]
        return page

    @describe(
        operation_id="batches_cancel",
        summary="Cancel a batch",
        description="Its jobs not rendered yet are dropped (deleted; one that is rendering is not published), "
                    "unless another unfinished batch waits for them too; rendered ones stay. Needs "
                    "`stylestore.apply_style`; a batch someone else queued also needs "
                    "`stylestore.change_stylizedimage`.",
        request=None,
        parameters=[BATCH_ID],
        responses={200: BatchSerializer, 404: OpenApiResponse(ErrorSerializer, description="No such batch."),
                   409: OpenApiResponse(ErrorSerializer, description="The batch has finished (`finished`).")},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        batch = self.get_object()
        if batch.created_by_id != request.user.pk and not request.user.has_perms(CanManageJobs.required_permissions):
            raise exceptions.PermissionDenied(_("Only its author, or staff who may change stylized images, may "
                                                "cancel this batch."))
        if batches.cancel(batch) is None:
            raise Conflict(_("This batch has finished: there is nothing left to cancel."), code="finished")
        batch.refresh_from_db()
        return Response(self.get_serializer(batch).data)


# ------------------------------------------------------------------ schema and docs


class SchemaView(ErrorFormatMixin, SpectacularAPIView):
    """The OpenAPI 3 schema (JSON by default, ``?format=yaml`` for YAML), of Stylestore's
    endpoints only and with its own settings (``schema.SCHEMA_SETTINGS``)."""

    custom_settings = SCHEMA_SETTINGS


class DocsView(ErrorFormatMixin, SpectacularSwaggerSplitView):
    """Swagger UI, served from drf-spectacular-sidecar's static files: no CDN. Its
    start-up script is a file too (``?script``), not inline: a Content-Security-Policy
    without 'unsafe-inline' scripts (the demo shop's) lets it run."""

    title = SCHEMA_SETTINGS["TITLE"]

    @describe(exclude=True)
    def get(self, request, *args, **kwargs):
        with patched_settings(SCHEMA_SETTINGS):
            return super().get(request, *args, **kwargs)


class NotFoundView(StylestoreAPIMixin, APIView):
    """The end of the API's URLconf: any other path under it is a 404 in the error shape.

    A route rather than ``handler404``, which belongs to the shop's root URLconf and
    which Django skips altogether while ``DEBUG`` is on.
    """

    schema = None  # not an operation

    def initial(self, request, *args, **kwargs):
        raise exceptions.NotFound()  # whatever the method and credentials
