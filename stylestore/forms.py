"""Admin forms: the "Apply style" confirmation form and the Style change form.

The apply form speaks in the admin's terms (blank = "the style's default") and turns
its answer into a ``requests.RenderRequest``, validated against every chosen style, so
the view never reaches the job layer with a request it would refuse.
"""
import json

from django import forms
from django.utils.translation import gettext_lazy as _

from .conf import stylestore_settings
from .engine import formats
from .engine.preset_names import PRESET_NAMES
from .models import Region, Style
from .variants import previews, requests


class StyleCheckboxSelectMultiple(forms.CheckboxSelectMultiple):
    """Checkboxes that show each style's image, or a preset style's swatch: admins pick
    looks by sight, not by name. ``swatches_url`` (set by the view) answers the page's
    polling for swatches still being rendered."""

    template_name = "stylestore/admin/widgets/style_checkboxes.html"
    option_template_name = "stylestore/admin/widgets/style_option.html"
    swatches_url = ""
    swatch_side = 96

    class Media:
        js = ["stylestore/admin/swatches.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        options = [option for _group, group_options, _index in context["widget"]["optgroups"]
                   for option in group_options
                   if option["value"].instance.kind == Style.Kind.PRESET and option["value"].instance.preset_weights]
        blends = [option["value"].instance.preset_weights for option in options]
        for option, blend, preview in zip(options, blends, previews.swatches(blends)):
            option["swatch"] = {"preview": preview, "weights_json": json.dumps(blend, sort_keys=True),
                                "url": self.swatches_url, "size": self.swatch_side, "alt": ""}
        return context


class ApplyStyleForm(forms.Form):
    styles = forms.ModelMultipleChoiceField(
        label=_("Styles"),
        queryset=Style.objects.none(),
        widget=StyleCheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one style.")},
    )
    strength = forms.FloatField(
        label=_("Strength"),
        required=False,
        min_value=0.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": _("Style default")}),
        help_text=_("0 keeps the photo, 1 applies the full style. Leave blank to use each style's default."),
    )
    preserve_color = forms.TypedChoiceField(
        label=_("Preserve colours"),
        required=False,
        choices=[("", _("Style default")), ("yes", _("Yes: keep the product's true colours and lightness")),
                 ("no", _("No: take the style's palette (changes the product)"))],
        coerce=lambda value: value == "yes",
        empty_value=None,
    )
    region = forms.ChoiceField(
        label=_("Region"),
        required=False,
        choices=[("", _("Style default")), *Region.choices],
        help_text=_("The product is found in every photo: its transparency, else a product-mask network."),
    )
    engine = forms.ChoiceField(
        label=_("Engine"),
        required=False,
        choices=[("", _("Style default")), (Style.Engine.ARBITRARY.value, Style.Engine.ARBITRARY.label),
                 (Style.Engine.OPTIMIZE.value, Style.Engine.OPTIMIZE.label)],
        help_text=_("Preset styles always use the preset engine."),
    )
    size = forms.TypedChoiceField(label=_("Size"), coerce=int, help_text=_("Longer side, in pixels."))
    output_format = forms.ChoiceField(label=_("Format"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at request time: SIZES and DEFAULT_* are settings, and tests override them.
        self.fields["styles"].queryset = Style.objects.filter(active=True).order_by("name")
        sizes = sorted(stylestore_settings.SIZES)
        self.fields["size"].choices = [(size, f"{size} px") for size in sizes]
        self.fields["size"].initial = stylestore_settings.DEFAULT_SIZE
        self.fields["output_format"].choices = formats.CHOICES
        self.fields["output_format"].initial = stylestore_settings.DEFAULT_FORMAT

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        render_request = requests.RenderRequest(
            strength=cleaned.get("strength"),
            preserve_color=cleaned.get("preserve_color"),
            max_side=cleaned.get("size"),
            output_format=cleaned.get("output_format"),
            engine=cleaned.get("engine") or None,
            region=cleaned.get("region") or None,
        )
        for style, error in render_request.problems(cleaned.get("styles", [])):
            raise forms.ValidationError(_("%(style)s: %(error)s"), params={"style": style, "error": error})
        cleaned["render_request"] = render_request
        return cleaned


class PresetWeightsWidget(forms.MultiWidget):
    """One number box per built-in preset, each with the preset's name and swatch (its
    look on the reference photo, ``previews.swatches``), and a live preview of the blend
    (``swatches.js`` asks ``swatches_url`` for it as the weights change)."""

    template_name = "stylestore/admin/widgets/preset_weights.html"
    swatch_side = 64

    def __init__(self, labels, attrs=None, swatches_url=""):
        self.labels = labels
        self.swatches_url = swatches_url
        widgets = [forms.NumberInput(attrs={"step": "any", "min": "0", "placeholder": "0"}) for _ in labels]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        value = value or {}
        return [value.get(str(index), "") for index in range(len(self.labels))]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        blends = [previews.preset_blend(index) for index in range(len(self.labels))]
        found = previews.swatches(blends) if self.swatches_url else [None] * len(blends)
        for label, blend, preview, subwidget in zip(self.labels, blends, found, context["widget"]["subwidgets"]):
            subwidget["label"] = label
            subwidget["swatch"] = {"preview": preview, "weights_json": json.dumps(blend), "url": self.swatches_url,
                                   "size": self.swatch_side, "alt": label}
        context["widget"]["swatches_url"] = self.swatches_url
        context["widget"]["blend_side"] = previews.SWATCH_SIDE
        return context


class PresetWeightsField(forms.MultiValueField):
    """``{"index": weight}`` for the non-zero boxes; ``Style.clean`` validates and normalises it."""

    def __init__(self, labels, swatches_url="", **kwargs):
        fields = [forms.FloatField(min_value=0.0, required=False) for _ in labels]
        super().__init__(fields, widget=PresetWeightsWidget(labels, swatches_url=swatches_url),
                         require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list):
        return {str(index): weight for index, weight in enumerate(data_list or []) if weight}


class StyleAdminForm(forms.ModelForm):
    #: Where the blend editor asks for swatches: set by ``StyleAdmin.get_form``.
    swatches_url = ""

    class Meta:
        model = Style
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "preset_weights" in self.fields:
            self.fields["preset_weights"] = PresetWeightsField(
                PRESET_NAMES, swatches_url=self.swatches_url, label=_("Preset weights"),
                help_text=_("Weight of each preset in the blend; they are normalised to sum to 1. "
                            "Required for preset styles. Each swatch is the preset on the same photo; "
                            "the blend's preview follows the weights."),
            )
