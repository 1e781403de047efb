"""``StylizedImage``: one variant = source x style x render parameters, its file, and
its state as a job. The unique key is claimed before any work is done (see
``stylestore.variants.state``)."""
import hashlib
import json

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..conf import stylestore_settings
from ..engine.formats import CHOICES as FORMAT_CHOICES
from ..storage import variant_storage
from .sources import SourceImage
from .styles import Region, Style


class RenderParams(models.Model):
    """Abstract: the parameters a variant is rendered with, hashed into its unique key."""

    strength = models.FloatField(_("strength"), validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    preserve_color = models.BooleanField(_("preserve colours"))
    max_side = models.PositiveIntegerField(_("size"))
    output_format = models.CharField(_("format"), max_length=4, choices=FORMAT_CHOICES)
    engine = models.CharField(_("engine"), max_length=10, choices=Style.Engine.choices)
    region = models.CharField(_("region"), max_length=10, choices=Region.choices, default=Region.ALL)

    class Meta:
        abstract = True


def params_hash(*, strength, preserve_color, max_side, output_format, engine, region, style_fingerprint):
    """Hash of everything that changes the output pixels, for the unique key and file name."""
    payload = json.dumps(
        {
            "strength": round(float(strength), 4),
            "preserve_color": bool(preserve_color),
            "max_side": int(max_side),
            "format": output_format,
            "engine": engine,
            "region": region,
            "style": style_fingerprint,
            "engine_version": ENGINE_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# Bump when the engine's output for the same inputs changes: the variants of the older
# engine stay shown until `manage.py stylize --outdated` replaces them
# (stylestore.variants.upgrades).
ENGINE_VERSION = "3"  # 2: tone-true colour and product masks; 3: grain on the backdrop


class StylizedImageQuerySet(models.QuerySet):
    def current(self):
        """Ready variants of the photo as it is now, in an active style as it is now,
        whatever their review."""
        return self.filter(
            status=StylizedImage.Status.READY,
            source_hash=models.F("source__content_hash"),
            style_fingerprint=models.F("style__fingerprint"),
            style__active=True,
        )

    def visible(self):
        """Variants a customer may see: current, and approved (or auto-approved when
        neither rejected nor held by the quality gate)."""
        qs = self.current()
        if not stylestore_settings.AUTO_APPROVE:
            qs = qs.filter(review=StylizedImage.Review.APPROVED)
        return qs.exclude(review__in=[StylizedImage.Review.REJECTED, StylizedImage.Review.HELD])


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
        # Failed the automatic quality gate (``metrics["gate"]`` says why): never shown,
        # even with AUTO_APPROVE, until someone approves it on purpose.
        HELD = "held", _("Held by the quality gate")

    source = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="variants",
                               verbose_name=_("source image"))
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="variants", verbose_name=_("style"))
    source_hash = models.CharField(_("photo hash"), max_length=64)
    params_hash = models.CharField(_("parameters hash"), max_length=32)
    style_fingerprint = models.CharField(_("style fingerprint"), max_length=64, blank=True)

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True,
                                      help_text=_("Retry backoff: not claimed before this."))
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Last time a task for this row was sent; the sweeper re-sends long-pending rows.
    enqueued_at = models.DateTimeField(_("queued"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    timings = models.JSONField(_("timings"), default=dict, blank=True)

    # No width_field/height_field: those re-read the file from storage on model load,
    # costly on S3; the worker records the size it wrote.
    file = models.ImageField(_("file"), storage=variant_storage, max_length=255, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    file_size = models.PositiveIntegerField(_("file size"), null=True, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)

    review = models.CharField(_("review"), max_length=10, choices=Review.choices, default=Review.UNREVIEWED)

    objects = StylizedImageQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("stylized images")
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
        indexes = [
            models.Index(fields=["status", "not_before"], name="stylestore_claimable"),
            # The API's and the admin's newest-first job lists: read from the index's end,
            # not a sort of every row (1.3 s at 200,000 variants on SQLite).
            models.Index(fields=["created_at", "id"], name="stylestore_variant_newest"),
            # A style's preview, its smallest and newest visible variant (the styles API):
            # read from the index's start, not a sort of every variant of the style
            # (3.4 s for 20 styles at 10,000 products on SQLite).
            models.Index(fields=["style", "status", "max_side", "-finished_at", "-id"], name="stylestore_style_preview"),
        ]

    def __str__(self):
        return _("%(style)s on %(source)s [%(status)s]") % {"style": self.style, "source": self.source,
                                                             "status": self.status}

    @property
    def is_stale(self):
        return self.source_hash != self.source.content_hash or self.style_fingerprint != self.style.fingerprint


def group_by_render(rows) -> dict:
    """Rows (anything with ``style_id`` and ``params_hash``) by what they are rendered
    with: one style and one parameter set make one batch, one forward pass."""
    groups = {}
    for row in rows:
        groups.setdefault((row.style_id, row.params_hash), []).append(row)
    return groups
