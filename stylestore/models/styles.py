"""``Style``: a look a shop admin can apply (a painting or brand image, a built-in
preset or a blend of presets), and the fingerprint of what defines it."""
import hashlib
import json

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..engine.preset_names import NUM_PRESETS
from ..fields import GatedImageField
from ..storage import file_hash


class Region(models.TextChoices):
    """Where the style goes, by the product mask (``stylestore.engine.product``)."""

    ALL = "all", _("Whole picture")
    PRODUCT = "product", _("Product only")
    BACKGROUND = "background", _("Background only (the product stays as photographed)")


class Style(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Style image (painting, brand look)")
        PRESET = "preset", _("Built-in preset or blend of presets")

    class Engine(models.TextChoices):
        ARBITRARY = "arbitrary", _("Fast, any style image")
        PRESET = "preset", _("Fast, built-in presets")
        OPTIMIZE = "optimize", _("Highest quality, slow (VGG optimization)")

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.IMAGE)
    description = models.TextField(_("description"), blank=True,
                                   help_text=_("Shown to customers in the style picker."))
    attribution = models.CharField(_("attribution"), max_length=300, blank=True)
    image = GatedImageField(
        _("style image"),
        upload_to="stylestore/styles/",
        blank=True,
        help_text=_("The painting or look to transfer. Required for image styles."),
    )
    preset_weights = models.JSONField(
        _("preset weights"),
        default=dict,
        blank=True,
        help_text=_('Preset index -> weight, e.g. {"3": 0.5, "12": 0.5}. Required for preset styles.'),
    )
    engine = models.CharField(_("engine"), max_length=10, choices=Engine.choices, blank=True,
                              help_text=_("Empty: the kind's fast engine."))
    default_strength = models.FloatField(
        _("strength"),
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    preserve_color = models.BooleanField(
        _("preserve colours"),
        default=True,
        help_text=_("Keep the product's true colours and lightness; the style shows as texture on it and fully "
                    "around it. Off is a creative mode: it changes how the product looks."),
    )
    region = models.CharField(
        _("region"),
        max_length=10, choices=Region.choices, default=Region.ALL,
        help_text=_("Where the style goes. The product is found in every photo (its transparency, else a "
                    "product-mask network)."),
    )
    # The 100-d Magenta style vector of the style image, computed by a worker; used for
    # rendering and as the style's embedding for personalization.
    style_vector = models.JSONField(null=True, blank=True, editable=False)
    # Hash of what defines the look (image content or preset weights): part of every
    # variant's key, so replacing a style's image retires its old variants.
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    auto_apply = models.BooleanField(
        _("auto-apply"),
        default=False, help_text=_("Apply to every new or changed product automatically.")
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("style")
        verbose_name_plural = _("styles")
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
        if self.kind == self.Kind.IMAGE and not self.image:
            raise ValidationError({"image": _("An image style needs a style image.")})
        if self.kind == self.Kind.PRESET:
            self.preset_weights = validate_preset_weights(self.preset_weights)
        if self.effective_engine == self.Engine.PRESET and self.kind != self.Kind.PRESET:
            raise ValidationError({"engine": _("The preset engine only renders preset styles.")})
        if self.effective_engine != self.Engine.PRESET and self.kind == self.Kind.PRESET:
            raise ValidationError({"engine": _("Preset styles are rendered by the preset engine.")})


def validate_preset_weights(weights):
    """Normalise ``{index: weight}`` for the 26 presets, or raise ValidationError."""
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
