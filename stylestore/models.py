"""Stylestore's data model.

- ``Style``: a look a shop admin can apply (a painting or brand image, a built-in
  preset or a blend of presets).
- ``SourceImage``: one image field of one object of any model (a product photo),
  with the hash of its current content. Variants key on that hash, never on a file
  name or mtime, so a replaced photo can never be served with old variants.
- ``StylizedImage``: one variant = source x style x render parameters, and the job
  that produces it. The unique key is claimed before any work is done.
"""
import hashlib
import json

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import stylestore_settings
from .fields import GatedImageField
from .storage import variant_storage


class Style(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Style image (painting, brand look)")
        PRESET = "preset", _("Built-in preset or blend of presets")

    class Engine(models.TextChoices):
        ARBITRARY = "arbitrary", _("Fast, any style image")
        PRESET = "preset", _("Fast, built-in presets")
        OPTIMIZE = "optimize", _("Highest quality, slow (VGG optimization)")

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMAGE)
    description = models.TextField(blank=True, help_text=_("Shown to customers in the style picker."))
    attribution = models.CharField(max_length=300, blank=True)
    image = GatedImageField(
        upload_to="stylestore/styles/",
        blank=True,
        help_text=_("The painting or look to transfer. Required for image styles."),
    )
    preset_weights = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('Preset index -> weight, e.g. {"3": 0.5, "12": 0.5}. Required for preset styles.'),
    )
    engine = models.CharField(max_length=10, choices=Engine.choices, blank=True, help_text=_("Empty: the kind's fast engine."))
    default_strength = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    preserve_color = models.BooleanField(
        default=True, help_text=_("Keep the product's true colours; only texture and light change.")
    )
    # The 100-d Magenta style vector of the style image, computed by a worker; used for
    # rendering and as the style's embedding for personalization.
    style_vector = models.JSONField(null=True, blank=True, editable=False)
    # Hash of what defines the look (image content or preset weights): part of every
    # variant's key, so replacing a style's image retires its old variants.
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    auto_apply = models.BooleanField(
        default=False, help_text=_("Apply to every new or changed product automatically.")
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("apply_style", "Can apply styles to images")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_strength__gte=0) & models.Q(default_strength__lte=1),
                name="stylestore_style_strength_range",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def effective_engine(self):
        return self.engine or (self.Engine.PRESET if self.kind == self.Kind.PRESET else self.Engine.ARBITRARY)

    def save(self, *args, **kwargs):
        self.fingerprint = self.compute_fingerprint()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "fingerprint"}
        super().save(*args, **kwargs)

    def compute_fingerprint(self):
        if self.kind == self.Kind.PRESET:
            return hashlib.sha256(json.dumps(self.preset_weights, sort_keys=True).encode()).hexdigest()
        return file_hash(self.image) if self.image else ""

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.kind == self.Kind.IMAGE and not self.image:
            raise ValidationError({"image": _("An image style needs a style image.")})
        if self.kind == self.Kind.PRESET:
            self.preset_weights = validate_preset_weights(self.preset_weights)
        if self.effective_engine == self.Engine.PRESET and self.kind != self.Kind.PRESET:
            raise ValidationError({"engine": _("The preset engine only renders preset styles.")})
        if self.effective_engine != self.Engine.PRESET and self.kind == self.Kind.PRESET:
            raise ValidationError({"engine": _("Preset styles are rendered by the preset engine.")})


def file_hash(field_file) -> str:
    """SHA-256 of a file's content, streamed (works for any storage backend).

    An upload not yet stored (``_committed`` False) is read in place and rewound, not
    closed: the storage still has to save it.
    """
    digest = hashlib.sha256()
    if not getattr(field_file, "_committed", True):
        upload = field_file.file
        upload.seek(0)
        for chunk in iter(lambda: upload.read(1 << 20), b""):
            digest.update(chunk)
        upload.seek(0)
        return digest.hexdigest()
    with field_file.open("rb"):
        for chunk in field_file.chunks():
            digest.update(chunk)
    return digest.hexdigest()


def validate_preset_weights(weights):
    """Normalise ``{index: weight}`` for the 26 presets, or raise ValidationError."""
    from django.core.exceptions import ValidationError

    from .engine.presets import NUM_PRESETS

    if not isinstance(weights, dict) or not weights:
        raise ValidationError({"preset_weights": _("Give at least one preset index and weight.")})
    cleaned = {}
    for key, value in weights.items():
        try:
            index, weight = int(key), float(value)
        except (TypeError, ValueError):
            raise ValidationError({"preset_weights": _("Indices must be integers and weights numbers.")})
        if not 0 <= index < NUM_PRESETS:
            raise ValidationError({"preset_weights": _("Preset indices run from 0 to %d.") % (NUM_PRESETS - 1)})
        if not weight > 0 or weight == float("inf"):
            raise ValidationError({"preset_weights": _("Weights must be positive numbers.")})
        cleaned[str(index)] = weight
    total = sum(cleaned.values())
    return {k: round(v / total, 6) for k, v in sorted(cleaned.items(), key=lambda kv: int(kv[0]))}


class SourceImage(models.Model):
    """One image field of one object, with the hash of its current content."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=64)
    field_name = models.CharField(max_length=64)
    source = GenericForeignKey("content_type", "object_id")
    content_hash = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # The photo's own style vector: its embedding for personalization and the anchor of
    # the strength interpolation. Computed by a worker.
    embedding = models.JSONField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name"], name="stylestore_source_unique"
            )
        ]

    def __str__(self):
        return f"{self.content_type.app_label}.{self.content_type.model}:{self.object_id}.{self.field_name}"

    @property
    def reference(self):
        """Stable public reference such as ``shop.product:42``."""
        return f"{self.content_type.app_label}.{self.content_type.model}:{self.object_id}"

    def get_field_file(self):
        obj = self.source
        return getattr(obj, self.field_name) if obj is not None else None


class RenderParams(models.Model):
    """Abstract: the parameters a variant is rendered with, hashed into its unique key."""

    strength = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    preserve_color = models.BooleanField()
    max_side = models.PositiveIntegerField()
    output_format = models.CharField(max_length=4, choices=[("webp", "WebP"), ("jpeg", "JPEG"), ("png", "PNG")])
    engine = models.CharField(max_length=10, choices=Style.Engine.choices)

    class Meta:
        abstract = True


def params_hash(*, strength, preserve_color, max_side, output_format, engine, style_fingerprint):
    """Hash of everything that changes the output pixels, for the unique key and file name."""
    payload = json.dumps(
        {
            "strength": round(float(strength), 4),
            "preserve_color": bool(preserve_color),
            "max_side": int(max_side),
            "format": output_format,
            "engine": engine,
            "style": style_fingerprint,
            "engine_version": ENGINE_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# Bump when the engine's output for the same inputs changes, so old variants go stale.
ENGINE_VERSION = "1"


class StylizedImageQuerySet(models.QuerySet):
    def visible(self):
        """Variants a customer may see: ready, current, and approved (or auto-approved)."""
        qs = self.filter(
            status=StylizedImage.Status.READY,
            source_hash=models.F("source__content_hash"),
            style_fingerprint=models.F("style__fingerprint"),
            style__active=True,
        )
        if not stylestore_settings.AUTO_APPROVE:
            qs = qs.filter(review=StylizedImage.Review.APPROVED)
        return qs.exclude(review=StylizedImage.Review.REJECTED)


class StylizedImage(RenderParams):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        # The job's worker died on every attempt (a poison input); never retried automatically.
        DEAD = "dead", _("Dead")

    class Review(models.TextChoices):
        UNREVIEWED = "unreviewed", _("Unreviewed")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    source = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="variants")
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="variants")
    source_hash = models.CharField(max_length=64)
    params_hash = models.CharField(max_length=32)
    style_fingerprint = models.CharField(max_length=64, blank=True)

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text=_("Retry backoff: not claimed before this."))
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Last time a task for this row was sent; the sweeper re-sends long-pending rows.
    enqueued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    # No width_field/height_field: those re-read the file from storage on model load,
    # costly on S3; the worker records the size it wrote.
    file = models.ImageField(storage=variant_storage, max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    file_size = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)

    review = models.CharField(max_length=10, choices=Review.choices, default=Review.UNREVIEWED)

    objects = StylizedImageQuerySet.as_manager()

    class Meta:
        verbose_name = _("stylized image")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "style", "source_hash", "params_hash"], name="stylestore_variant_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ready") | ~models.Q(file=""), name="stylestore_ready_has_file"
            ),
            models.CheckConstraint(
                condition=models.Q(strength__gte=0) & models.Q(strength__lte=1), name="stylestore_variant_strength_range"
            ),
        ]
        indexes = [models.Index(fields=["status", "not_before"], name="stylestore_claimable")]

    def __str__(self):
        return f"{self.style} on {self.source} [{self.status}]"

    @property
    def is_stale(self):
        return self.source_hash != self.source.content_hash or self.style_fingerprint != self.style.fingerprint


# Personalization models live in their own package but belong to this app.
from .personalization.models import StyleEvent, StyleHourlyStats, Visitor  # noqa: E402,F401
