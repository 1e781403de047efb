"""Serializers: the API's representations of styles, variants and jobs, and its inputs.

Representations never trigger rendering (a render takes seconds to minutes, far past
any request timeout, so it belongs to the workers); they show what is stored. File URLs are absolute, so a
storefront on another origin can use them as they are.
"""
import copy
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.fields import get_error_detail
from rest_framework.settings import api_settings

from .. import moments
from ..engine import formats
from ..models import Batch, Region, Style, StylizedImage
from ..models import validate_preset_weights as normalise_preset_weights
from ..references import (
    EXAMPLE_REFERENCE,
    REFERENCE_PATTERN,
    MalformedReference,
    SourceReference,
    UnknownReference,
    parse_reference,
    resolve_objects,
)
from ..storage import variant_storage
from ..validators import sanitize_upload
from ..variants import batches, requests
from ..variants.sources import source_fields

# One request queues at most this many sources x styles before fan-out per image
# field: bounded so a request stays a few seconds of hashing and inserting.
MAX_JOB_SOURCES = 100
MAX_JOB_STYLES = 20
MAX_SIZE = 16384


class ZonedDateTimeField(serializers.DateTimeField):
    """A moment with its UTC offset also where the project keeps naive datetimes
    (``USE_TZ = False``, whose datetimes are in ``TIME_ZONE``): the schema's
    ``date-time`` (RFC 3339) requires one, and a client cannot guess the shop's zone."""

    def to_representation(self, value):
        output_format = getattr(self, "format", api_settings.DATETIME_FORMAT)
        if isinstance(value, datetime) and timezone.is_naive(value) and str(output_format).lower() == ISO_8601:
            return moments.rfc3339(value)
        return super().to_representation(value)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's, with the model's datetimes as ``ZonedDateTimeField``."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DateTimeField: ZonedDateTimeField}


def absolute_url(request, url):
    return request.build_absolute_uri(url) if request is not None and url else url


def preview_candidates():
    """Visible variants, smallest first: a style's preview is the first of its own."""
    return StylizedImage.objects.visible().order_by("max_side", "-finished_at", "-pk")


# ---------------------------------------------------------------------------- errors


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable, machine-readable error code, e.g. not_found or invalid."))
    message = serializers.CharField(help_text=_("Human-readable explanation; the wording may change."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_('Validation messages by field path ("sources.0" for the first item of "sources"); '
                    "empty for other errors."),
    )


# Documents the shape built by ``stylestore.api.exceptions``; never used to serialize.
class ErrorSerializer(serializers.Serializer):
    """The body of every error response, whatever the status code."""

    error = ErrorDetailSerializer()


# ---------------------------------------------------------------------------- styles


@extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}, "example": {"3": 0.5, "12": 0.5}})
class PresetWeightsField(serializers.JSONField):
    """DRF's JSONField, minus the server error a deeply nested form value would cause."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except RecursionError:
            self.fail("invalid")


# Uploads go through the image gate (``validators.sanitize_upload``), as in the admin:
# judged by their content, and stored as the gate's re-encoding. The model's own rules
# (an image style needs an image, the engine must suit the kind) are checked with
# ``Style.clean``, so the API and the admin accept the same styles.
class StyleSerializer(ModelSerializer):
    """A look that can be applied to product images: what a storefront's style picker shows."""

    image = serializers.FileField(
        required=False,
        help_text=_("The painting or look to transfer (JPEG, PNG, WebP or GIF; the file name's extension must "
                    "match the content). Required for image styles. Read: its URL, or null."),
    )
    preview = serializers.SerializerMethodField(
        help_text=_("URL of the smallest visible variant in this style (a swatch for the picker), or null."),
    )
    preset_weights = PresetWeightsField(
        required=False,
        help_text=_('Preset index -> weight, e.g. {"3": 0.5, "12": 0.5}; normalised to sum to 1. '
                    "Required for preset styles."),
    )

    class Meta:
        model = Style
        fields = [
            "slug", "name", "kind", "description", "attribution", "image", "preview", "preset_weights",
            "engine", "default_strength", "preserve_color", "region", "auto_apply", "active", "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # Explicit defaults: in multipart input DRF reads a missing boolean as False,
        # which would create inactive, colour-shifting styles by omission.
        extra_kwargs = {
            "preserve_color": {"default": True},
            "auto_apply": {"default": False},
            "active": {"default": True},
        }

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_preview(self, style):
        if hasattr(style, "preview_file"):  # annotated by the view's queryset, for lists
            name = style.preview_file
        else:
            name = preview_candidates().filter(style=style).values_list("file", flat=True).first()
        return absolute_url(self.context.get("request"), variant_storage().url(name)) if name else None

    def validate_image(self, upload):
        # The whole image is decoded and re-encoded (a truncated file has valid headers),
        # so every refusal is a 400 here, and what gets stored is the gate's clean copy.
        return sanitize_upload(upload)

    def validate_preset_weights(self, weights):
        """Any non-empty blend is validated and normalised, whatever the kind: the
        field is stored as JSON, and nothing but ``{index: weight}`` belongs there."""
        if not isinstance(weights, dict):
            raise serializers.ValidationError(_("Give an object of preset index -> weight."))
        if not weights:
            return weights
        try:
            return normalise_preset_weights(weights)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["preset_weights"])

    def validate(self, attrs):
        # Style.clean() on a copy with the changes applied: a failed PATCH must not
        # leave the instance half-changed.
        style = copy.copy(self.instance) if self.instance is not None else Style()
        for name, value in attrs.items():
            setattr(style, name, value)
        try:
            style.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(get_error_detail(exc))
        return attrs


# -------------------------------------------------------------------------- variants


def srcset_key(variant):
    """Variants that differ only in size: one look, at several resolutions."""
    return (variant.source_id, variant.style_id, variant.strength, variant.preserve_color,
            variant.output_format, variant.engine, variant.region)


def build_srcsets(variants, request) -> dict:
    """``{srcset_key: "url 256w, url 512w"}`` over the given (visible) variants.

    One query for the object's whole set, so each variant's ``srcset`` lists every
    size of its look, including those on other pages of the list.
    """
    by_key = {}
    for variant in variants.exclude(width=None).order_by("pk"):
        by_key.setdefault(srcset_key(variant), {}).setdefault(variant.width, variant.file.url)
    return {
        key: ", ".join(f"{absolute_url(request, url)} {width}w" for width, url in sorted(widths.items()))
        for key, widths in by_key.items()
    }


class VariantSerializer(ModelSerializer):
    """A ready, current, approved variant of a source object: what a storefront may show."""

    style = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text=_("Slug of the style."))
    field = serializers.CharField(source="source.field_name", read_only=True,
                                  help_text=_("The object's image field this is a variant of."))
    url = serializers.FileField(source="file", read_only=True, use_url=True)
    format = serializers.ChoiceField(source="output_format", choices=formats.FORMATS, read_only=True)
    srcset = serializers.SerializerMethodField(
        help_text=_("An <img srcset> value: this look (style and rendering options) at every visible size."),
    )

    class Meta:
        model = StylizedImage
        fields = ["id", "style", "field", "url", "width", "height", "format", "strength", "preserve_color", "region",
                  "srcset"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_srcset(self, variant):
        return self.context.get("srcsets", {}).get(srcset_key(variant), "")


# ------------------------------------------------------------------------------ jobs


class JobSerializer(ModelSerializer):
    """A stylization job: one variant row, from pending to ready (or failed)."""

    source = serializers.CharField(
        source="source.reference", read_only=True,
        help_text=format_lazy(_("Reference of the source object, e.g. {}."), EXAMPLE_REFERENCE),
    )
    field = serializers.CharField(source="source.field_name", read_only=True)
    style = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    size = serializers.IntegerField(source="max_side", read_only=True, help_text=_("Longer side, in pixels."))
    format = serializers.ChoiceField(source="output_format", choices=formats.FORMATS, read_only=True)
    error = serializers.CharField(source="last_error", read_only=True)
    url = serializers.FileField(source="file", read_only=True, use_url=True,
                                help_text=_("The output file once ready, else null."))
    stale = serializers.BooleanField(
        source="is_stale", read_only=True,
        help_text=_("The source image or the style changed since: customers are not shown this variant."),
    )

    class Meta:
        model = StylizedImage
        fields = [
            "id", "status", "review", "source", "field", "style", "strength", "preserve_color", "region", "size",
            "format", "engine", "attempts", "error", "url", "width", "height", "file_size", "stale",
            "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields


@extend_schema_field({"type": "string", "pattern": REFERENCE_PATTERN, "example": EXAMPLE_REFERENCE})
class SourceReferenceField(serializers.CharField):
    """A source reference (``shop.product:42``), parsed into a ``SourceReference``."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return parse_reference(text)
        except (MalformedReference, UnknownReference) as exc:
            raise serializers.ValidationError(str(exc))


class JobRequestSerializer(serializers.Serializer):
    """Queue stylization of sources x styles; options left out take each style's default."""

    sources = serializers.ListField(
        child=SourceReferenceField(), min_length=1, max_length=MAX_JOB_SOURCES,
        help_text=_("Source references. Every image field configured for the model is styled."),
    )
    styles = serializers.ListField(
        child=serializers.SlugField(max_length=100), min_length=1, max_length=MAX_JOB_STYLES,
        help_text=_("Slugs of active styles."),
    )
    strength = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0,
                                      help_text=_("0 keeps the photo, 1 applies the full style."))
    preserve_color = serializers.BooleanField(required=False, allow_null=True,
                                              help_text=_("Keep the product's true colours and lightness."))
    region = serializers.ChoiceField(choices=Region.choices, required=False, allow_null=True,
                                     help_text=_("Where the style goes: the whole picture, the product only, or "
                                                 "only around it."))
    size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SIZE,
        help_text=_("Longer side in pixels, snapped up to the nearest allowed size (STYLESTORE['SIZES'])."),
    )
    format = serializers.ChoiceField(choices=formats.FORMATS, required=False, allow_null=True)
    engine = serializers.ChoiceField(
        choices=Style.Engine.choices, required=False, allow_null=True,
        help_text=_("Preset styles always render with the preset engine, image styles never do."),
    )

    def validate_styles(self, slugs):
        slugs = list(dict.fromkeys(slugs))
        found = {style.slug: style for style in Style.objects.filter(slug__in=slugs)}
        errors = [_("No style %r.") % slug for slug in slugs if slug not in found]
        errors += [_("Style %r is not active.") % slug for slug in slugs if slug in found and not found[slug].active]
        if errors:
            raise serializers.ValidationError(errors)
        return [found[slug] for slug in slugs]

    def validate_sources(self, references):
        objects, missing = resolve_objects(references)
        if missing:
            missing = set(missing)
            raise serializers.ValidationError(
                {index: [_("%s does not exist.") % ref] for index, ref in enumerate(references) if ref in missing}
            )
        return objects

    def validate(self, attrs):
        render_request = requests.RenderRequest(
            strength=attrs.get("strength"),
            preserve_color=attrs.get("preserve_color"),
            max_side=attrs.get("size"),
            output_format=attrs.get("format"),
            engine=attrs.get("engine"),
            region=attrs.get("region"),
        )
        problems = render_request.problems(attrs["styles"])
        if problems:
            raise serializers.ValidationError({"styles": [f"{style.slug}: {error}" for style, error in problems]})
        attrs["render_request"] = render_request
        return attrs

    def create(self, validated_data):
        """Hash the sources' images and request every source x style, all or nothing.

        ``requests.request_for_objects`` (``sync_sources`` + ``request_variants``, planned
        in chunks the database can take) runs once per model and image field, inside
        one transaction; the tasks are enqueued after it commits.
        """
        result, skipped = requests.RequestResult(), []
        styles, render_request = validated_data["styles"], validated_data["render_request"]
        sources = validated_data["sources"]
        with transaction.atomic():
            for model, objects in sources.items():
                fields = source_fields(model)
                skipped += [obj for obj in objects if not any(getattr(obj, name) for name in fields)]
                for name in fields:
                    part = requests.request_for_objects(objects, name, styles, render_request)
                    result.created += part.created
                    result.reused += part.reused
            batch = batches.record(result, styles, {model: len(objects) for model, objects in sources.items()},
                                   user=self.context["request"].user, origin=Batch.Origin.API)
        return {
            "batch": batch.pk,
            "created": sorted(result.created),
            "reused": sorted(result.reused),
            "skipped": [SourceReference(type(obj), obj.pk).label for obj in skipped],
        }


class JobRequestResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField(help_text=_("Id of the batch covering every job of this request "
                                                 "(`GET /api/v1/batches/{id}/`)."))
    created = serializers.ListField(child=serializers.IntegerField(), help_text=_("Ids of the jobs queued now."))
    reused = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=_("Ids of existing jobs for the same source, style and options (nothing is rendered twice)."),
    )
    skipped = serializers.ListField(
        child=serializers.CharField(), help_text=_("References of sources without an image to style."),
    )


# --------------------------------------------------------------------------- batches


class BatchCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text=_("Jobs in the batch (those it reused included)."))
    queued = serializers.IntegerField(help_text=_("Waiting for a worker."))
    rendering = serializers.IntegerField()
    ready = serializers.IntegerField(help_text=_("Rendered and neither rejected nor held."))
    held = serializers.IntegerField(help_text=_("Rendered, held for review by the quality gate."))
    rejected = serializers.IntegerField(help_text=_("Rendered, rejected by a reviewer: not counted as ready."))
    failed = serializers.IntegerField(help_text=_("Failed or dead: retry them with the jobs' retry."))


class BatchSerializer(ModelSerializer):
    """What one job request (or "Apply style" in the admin) queued, and where it stands."""

    description = serializers.CharField(read_only=True, help_text=_(
        "What was asked for, in words, in the request's language: \"Great Wave, Ink on 3 products\"."))
    created_by = serializers.CharField(source="created_by.get_username", read_only=True, allow_null=True, help_text=_(
        "Who queued it: their username (the user model's USERNAME_FIELD); null when no user did (a command) "
        "or their account was deleted."))
    status = serializers.SerializerMethodField(help_text=_("queued (no job started yet), rendering, finished "
                                                           "or cancelled."))
    counts = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField(
        help_text=_("About how many seconds until the batch is rendered, from this shop's measured times per "
                    "image and what is queued before it; null once finished."))

    class Meta:
        model = Batch
        fields = ["id", "description", "origin", "created_by", "status", "counts", "dropped", "eta_seconds",
                  "created_at", "finished_at", "cancelled_at"]
        read_only_fields = fields

    def _counts(self, batch):
        if not hasattr(batch, "_counts"):
            batch._counts = batches.counts(batch)
        return batch._counts

    @extend_schema_field(OpenApiTypes.STR)
    def get_status(self, batch):
        return batches.status(batch, self._counts(batch))

    @extend_schema_field(BatchCountsSerializer)
    def get_counts(self, batch):
        return self._counts(batch)

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_eta_seconds(self, batch):
        seconds = batches.eta(batch)
        return None if seconds is None else round(seconds)
