"""What personalization stores: visitors, their events, and per-style hourly counters.

- ``Visitor``: our own random key (in a long-lived cookie: the session key changes at
  login, and personalization must survive that), the user it was linked to at login,
  and the policy's bounded per-visitor state (``policy.VisitorState.to_dict``, < 1 KB).
  A row exists only for a visitor who consented (or when consent is not required), and
  only once something had to be remembered: browsing the listing creates nothing.
- ``StyleEvent``: the event log (view, impression, click, add to cart, purchase, pick)
  with the probability every impression was chosen with, for offline IPW evaluation. Rows are
  tied to their visitor and go with it (erasure, retention purge).
- ``StyleHourlyStats``: anonymous per-style, per-hour sums of that log. The policy's
  global model is refitted from them (a few thousand rows, not the whole log), and
  they are what the analytics table shows. Hours rather than days because every
  process fits the model from the *completed* hours only: the fit is deterministic,
  so all processes agree on it (and on the probabilities they log) until the next
  hour starts. They hold no visitor identity, so erasing a visitor leaves them alone;
  they are purged with the same retention as events.
- ``ViewerDailyStats``: anonymous per-image, per-style, per-day sums of how the image's
  viewers reacted to each style: the look shoppers see in a product, which the policy
  learns where its photo's embedding reads it wrongly (``personalization.viewers``).
  Purged with the same retention.
- ``ErasedVisitor``: the hash of an erased visitor's key, kept while its token could
  still be presented, so the token cannot bring the visitor back.

"""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .sources import SourceImage
from .styles import Style

#: Longest category name the hourly counters keep; a longer one is cut to it.
MAX_CATEGORY_LENGTH = 100


def counted_category(name: str | None) -> str | None:
    """``name`` as the hourly counters keep it (cut to ``MAX_CATEGORY_LENGTH``): what
    a page's image and a batch of events must both call a category, so the policy
    reads the counters its events wrote."""
    return name and name[:MAX_CATEGORY_LENGTH]


__all__ = ["Visitor", "StyleEvent", "PersonalizationAnalytics", "StyleHourlyStats", "ViewerDailyStats", "ErasedVisitor"]


class Visitor(models.Model):
    #: 32 random hex characters; the cookie and ``X-Visitor-Id`` carry it signed, so a
    #: client can neither choose its key nor guess another visitor's.
    key = models.CharField(_("key"), max_length=32, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Deleting an account deletes the browsing data linked to it.
        on_delete=models.CASCADE,
        related_name="stylestore_visitors",
        verbose_name=_("user"),
    )
    state = models.JSONField(_("state"), default=dict, blank=True, editable=False)
    #: ``{source id: unix time}`` of the products viewed within the refresh window
    #: (``events.VIEW_REPEAT_SECONDS``, at most ``events.MAX_RECENT_VIEWS``): kept on
    #: the row already read for the state, so telling a refresh from a new view costs
    #: no query and no write.
    recent_views = models.JSONField(_("recent views"), default=dict, blank=True, editable=False)
    #: The look each image was last shown in (``personalization.looks``), read with the
    #: state and written with the impressions: one look per product on every page.
    looks = models.JSONField(_("looks shown"), default=dict, blank=True, editable=False)
    #: How many impressions of a look the visitor had on the UTC day ``impressions_on``:
    #: the first ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]`` count for the shop-wide
    #: counters (``personalization.events``).
    impressions_on = models.DateField(_("impressions counted on"), null=True, blank=True, editable=False)
    impressions_that_day = models.PositiveIntegerField(_("impressions that day"), default=0, editable=False)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    # Indexed for the retention purge, which deletes visitors idle for longer than it.
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")

    def __str__(self):
        return _("visitor %(key)s…") % {"key": self.key[:8]}


class StyleEvent(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", _("Product view")
        IMPRESSION = "impression", _("Impression")
        CLICK = "click", _("Click")
        ADD_TO_CART = "add_to_cart", _("Add to cart")
        PURCHASE = "purchase", _("Purchase")
        PICK = "pick", _("Style pick")

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="events", verbose_name=_("visitor"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # SET_NULL: the log keeps counting when a product or style is deleted.
    source = models.ForeignKey(SourceImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("source image"))
    style = models.ForeignKey(Style, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("style"))
    # The rendered choice an impression, click or add to cart refers to (a random id
    # minted with every personalized image): each choice gets at most one of each kind.
    choice_id = models.CharField(_("choice id"), max_length=16, blank=True)
    # The client's idempotency key: a retried batch is not counted twice.
    event_id = models.CharField(_("event id"), max_length=64, blank=True)
    # Impressions (and the clicks and add to carts answering them): the probability the
    # policy chose the style with, why, and the visitor's history share of that style.
    # Picks: ``reason`` holds the pick itself ("original" for the original photos,
    # empty when the customer handed the choice back to the shop).
    propensity = models.FloatField(_("probability"), null=True, blank=True)
    history_share = models.FloatField(_("history share"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=10, blank=True)
    # Impressions: the ids of the styles that were available, in the order offered, and
    # "original" where the original photo was one more look (then an impression without
    # a style and not of the control group shows it); what a target policy needs to say
    # how it would have chosen (IPW).
    available = models.JSONField(_("styles available"), null=True, blank=True)
    # Purchases: what the order line was worth, in ``currency`` (ISO 4217). The row
    # carries the look it is attributed to (``style``, the impression's ``choice_id``
    # and probability: ``personalization.events``).
    value = models.DecimalField(_("value"), max_digits=16, decimal_places=4, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    # False: an impression beyond the visitor's ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]``
    # that day, or a click or add to cart answering one; left out of the shop-wide
    # counters and the analytics, logged for the visitor's own state and the record.
    counted = models.BooleanField(_("counted"), default=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("style event")
        verbose_name_plural = _("style events")
        constraints = [
            models.UniqueConstraint(
                fields=["visitor", "event_id"], condition=~models.Q(event_id=""), name="stylestore_event_idempotent"
            ),
            models.UniqueConstraint(
                fields=["visitor", "kind", "choice_id"],
                condition=~models.Q(choice_id=""),
                name="stylestore_event_once_per_choice",
            ),
        ]
        indexes = [models.Index(fields=["kind", "created_at"], name="stylestore_event_kind_time")]

    def __str__(self):
        return _("%(kind)s by visitor %(visitor)s at %(time)s") % {
            "kind": self.get_kind_display(), "visitor": self.visitor_id, "time": f"{self.created_at:%Y-%m-%d %H:%M}"}


class PersonalizationAnalytics(StyleEvent):
    """The analytics page's entry in the admin's app list: a proxy, so no table and no
    template override; its admin leads to the page (``personalization.admin``)."""

    class Meta:
        proxy = True
        verbose_name = _("analytics")
        verbose_name_plural = _("analytics")
        default_permissions = ()  # seeing it takes the permission to view the events


class OutcomeCounts(models.Model):
    """Impressions and the outcomes counted on them: what every counter table sums."""

    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    add_to_carts = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class StyleHourlyStats(OutcomeCounts):
    """One style's event sums in one hour (``hour``: its start).

    ``impressions``, ``clicks``, ``add_to_carts`` and ``purchases`` count everything;
    ``picked_*`` the part of them shown because the customer picked the style. The
    policy's global model is fitted on the rest (what the shop chose), with the
    history-share sums ``policy.StyleStats`` needs, for whichever outcome
    ``STYLESTORE["REWARD"]`` names. ``revenue`` adds up the purchases' values in
    ``currency``: Stylestore converts no currency, so a purchase's value goes to the row
    of its currency, one style's hour has a row per currency its purchases came in, and
    the counts add up over them (``currency`` is empty in the rows of counts alone, and
    in rows kept from before revenue was per currency where their currency could not be
    told). A row without a style counts the original
    photo where the policy chose it as one more look (``STYLESTORE["ORIGINAL_AS_ARM"]``).
    Rows are per product category too (``category``, the ``SOURCE_MODELS`` entry's
    ``category`` lookup; empty for images without one): the policy learns which styles
    suit which categories.
    """

    style = models.ForeignKey(Style, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    category = models.CharField(max_length=MAX_CATEGORY_LENGTH, blank=True, default="")
    revenue = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    currency = models.CharField(max_length=3, blank=True, default="")
    picks = models.PositiveIntegerField(default=0)
    picked_impressions = models.PositiveIntegerField(default=0)
    picked_clicks = models.PositiveIntegerField(default=0)
    picked_add_to_carts = models.PositiveIntegerField(default=0)
    picked_purchases = models.PositiveIntegerField(default=0)
    share_sum = models.FloatField(default=0.0)
    share_sq_sum = models.FloatField(default=0.0)
    click_share_sum = models.FloatField(default=0.0)
    add_to_cart_share_sum = models.FloatField(default=0.0)
    purchase_share_sum = models.FloatField(default=0.0)

    class Meta:
        verbose_name = _("style hourly statistics")
        verbose_name_plural = _("style hourly statistics")
        constraints = [
            models.UniqueConstraint(fields=["style", "hour", "category", "currency"],
                                    name="stylestore_style_hour_category_currency"),
            # NULLs are distinct in the constraint above: one original-photo row per hour,
            # category and currency.
            models.UniqueConstraint(fields=["hour", "category", "currency"], condition=models.Q(style__isnull=True),
                                    name="stylestore_original_hour_category_currency"),
        ]
        indexes = [models.Index(fields=["hour"], name="stylestore_stats_hour")]

    def __str__(self):
        return (f"{self.style_id} at {self.hour:%Y-%m-%d %H}h" + (f" in {self.category}" if self.category else "")
                + (f", revenue in {self.currency}" if self.currency else ""))


class ViewerDailyStats(OutcomeCounts):
    """How the visitors who had viewed one image (``source``, among their recent views)
    reacted to one style, anywhere in the shop, in one day (``day``, UTC): impressions
    and their outcomes, counted as the hourly counters count them (the day's allowance
    of impressions; a customer's own picks left out). Days, not hours: a row per image
    and style is many, and the learnt look needs no finer time."""

    # No index of its own: the unique constraint's leads with it (a second was 12 % of
    # the table's bytes, and written on every new row).
    source = models.ForeignKey(SourceImage, on_delete=models.CASCADE, related_name="+", db_index=False)
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        verbose_name = _("viewer daily statistics")
        verbose_name_plural = _("viewer daily statistics")
        constraints = [models.UniqueConstraint(fields=["source", "style", "day"], name="stylestore_viewer_day")]
        indexes = [models.Index(fields=["day"], name="stylestore_viewer_stats_day")]

    def __str__(self):
        return f"viewers of {self.source_id} on {self.style_id} on {self.day}"


class ErasedVisitor(models.Model):
    """An erased visitor's key, revoked. Its token stays valid by signature until it
    expires (``VISITOR_COOKIE_AGE``); without this a replayed token would recreate the
    same visitor and its old choice ids would count again. The key is stored hashed:
    nothing about the erased visitor is kept, only a way to recognise its token."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Indexed for the purge, which drops rows once their tokens have expired.
    erased_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("erased visitor")
