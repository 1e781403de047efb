"""The demo shop's catalogue: any shop's models would do; Stylestore only needs an ImageField."""
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_cleanup import cleanup

from stylestore.fields import GatedImageField


class Category(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name


@cleanup.select  # its photo is deleted with it: see INSTALLED_APPS
class Product(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products",
                                 verbose_name=_("category"))
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2,
                                validators=[MinValueValidator(Decimal("0"))])
    # Uploads pass Stylestore's image gate and are stored re-encoded (no metadata, no payloads).
    image = GatedImageField(_("image"), upload_to="products/")
    image_alt = models.CharField(_("image description"), max_length=200, blank=True,
                                 help_text=_("Describes the photo for screen readers."))
    attribution = models.CharField(_("attribution"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="shop_product_price_non_negative")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:product", kwargs={"slug": self.slug})


class Order(models.Model):
    """A placed order of the demo's checkout: what was bought, at which prices. No
    payment, no address: it exists to show a checkout reporting purchases."""

    currency = models.CharField(_("currency"), max_length=3)
    created_at = models.DateTimeField(_("placed"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self):
        return _("Order %(number)s") % {"number": self.pk}

    @property
    def total(self):
        return sum((line.total for line in self.lines.all()), Decimal("0"))


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    # The product may be deleted later; the line keeps its name and price as sold.
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("product"))
    name = models.CharField(_("name"), max_length=200)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    def __str__(self):
        return f"{self.quantity} x {self.name}"

    @property
    def total(self):
        return self.unit_price * self.quantity
