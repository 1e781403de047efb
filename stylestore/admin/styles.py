"""Styles: thumbnails, preset-blend editing and a preview on a sample product (rendered by a worker)."""
from django import forms
from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..forms import StyleAdminForm
from ..models import Style
from ..variants import previews
from . import views
from .display import swatch, thumbnail


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    form = StyleAdminForm
    change_form_template = "stylestore/admin/style_change_form.html"
    list_display = ["thumbnail", "name", "kind", "engine_display", "default_strength", "preserve_color",
                    "auto_apply", "active"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["kind", "active", "auto_apply", "engine"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["image_preview"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "active", "auto_apply"]}),
        (_("Look"), {"fields": ["image", "image_preview", "preset_weights"]}),
        (_("Rendering defaults"), {"fields": ["engine", "default_strength", "preserve_color", "region"]}),
        (_("Shown to customers"), {"fields": ["description", "attribution"]}),
    ]

    @admin.display(description=_("Image"))
    def thumbnail(self, obj):
        if obj.kind == Style.Kind.PRESET:
            return swatch(previews.style_swatch(obj), obj.preset_weights, self.swatches_url(), alt=str(obj))
        return thumbnail(obj.image)

    @admin.display(description=_("Preview"))
    def image_preview(self, obj):
        if obj.kind == Style.Kind.PRESET:
            return swatch(previews.style_swatch(obj), obj.preset_weights, self.swatches_url(),
                          size=previews.SWATCH_SIDE, alt=str(obj))
        if obj.image:
            return format_html('<img src="{}" alt="" class="stylestore-style-preview">', obj.image.url)
        return _("No style image yet.")

    @admin.display(description=_("Engine"), ordering="engine")
    def engine_display(self, obj):
        return Style.Engine(obj.effective_engine).label

    def swatches_url(self):
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_swatches")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.swatches_url = self.swatches_url()
        return form

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("swatches/", self.admin_site.admin_view(self.swatches_view), name="%s_%s_swatches" % info),
            path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                 name="%s_%s_preview" % info),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        return views.style_preview_view(self, request, object_id)

    def swatches_view(self, request):
        return views.swatches_view(self, request)

    @property
    def media(self):
        return super().media + forms.Media(
            js=["stylestore/admin/style_form.js", "stylestore/admin/swatches.js"],
            css={"all": ["stylestore/admin/stylestore.css"]},
        )
