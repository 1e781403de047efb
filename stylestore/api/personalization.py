"""Personalization endpoints for headless storefronts.

- ``GET  v1/sources/<reference>/personalized/``: the variant this visitor sees for a
  source object's image (or the original), with the ``choice_id`` to report its
  impression with and the probability it was chosen with.
- ``GET  v1/sources/<reference>/more-in-this-style/``: objects whose photos are close
  in style to the visitor's preferred look, each with its personalized image.
- ``POST v1/visitor/events/``: views, impressions, clicks, add to carts, purchases and picks.
- ``POST v1/visitor/erase/``: erase everything stored about this visitor.

The visitor is named by the ``X-Visitor-Id`` header (the signed token every response
returns as ``visitor``) or by the visitor cookie of ``identity.VisitorMiddleware``;
consent by ``X-Visitor-Consent`` or the consent cookie (``identity``). Requests that
carry no visitor get one minted, returned as ``visitor``.

The two POST endpoints authenticate no user (only token authentication, for a
server-side storefront's throttling): the visitor is the cookie or header, and a
cookie-session user would otherwise need a CSRF token that ``navigator.sendBeacon``
cannot send. The SameSite=Lax visitor cookie keeps other sites from posting as the
visitor (see ``identity``), and where a browser sends it anyway (a sibling subdomain is
the same site) a post identified by the cookie must come from this origin or one of
``CSRF_TRUSTED_ORIGINS`` (its ``Origin`` header, sent with every browser POST), else it
is refused (403 ``cross_site``). Posts naming the visitor in ``X-Visitor-Id`` cannot be
forged across sites (a custom header needs CORS), nor can server-side ones. Events are JSON only, at most ``events.MAX_BATCH`` per
request and ``MAX_EVENTS_BODY`` bytes, throttled per visitor (``stylestore_visitor``)
and per client IP (``stylestore_anon``), taken from event budgets per client address
and per visitor (requests without a visitor also from the address's budget of new
visitors: ``STYLESTORE["EVENT_BUDGETS"]``), and idempotent by their ``event_id``.
"""
import io

from django.conf import settings
from django.urls import path
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import StyleEvent
from ..personalization import erase, events, page
from ..personalization.identity import CONSENT_HEADER, VISITOR_HEADER, get_visitor
from ..references import EXAMPLE_REFERENCE, REFERENCE_PATTERN, MalformedReference, UnknownReference, parse_reference
from .exceptions import PayloadTooLarge
from .parsers import JSONParser
from .schema import describe
from .serializers import absolute_url
from .throttles import StylestoreAnonRateThrottle, StylestoreUserRateThrottle, VisitorRateThrottle
from .views import MalformedReferenceError, StylestoreAPIMixin, UnknownReferenceError

#: Largest events request body: 50 events of a few hundred bytes each, with room.
MAX_EVENTS_BODY = 32 * 1024
MAX_IMAGE_SIZE = 4096
MAX_MORE_LIMIT = 24


def visitor_context(request):
    """The visitor of a DRF request (kept on the underlying HttpRequest, where the
    middleware and the template tags find the same one)."""
    return get_visitor(request._request)


class EventsJSONParser(JSONParser):
    """The API's JSON parser, refusing bodies over ``MAX_EVENTS_BODY`` before parsing."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_EVENTS_BODY + 1)
        if len(body) > MAX_EVENTS_BODY:
            raise PayloadTooLarge(_("At most %d bytes of events per request.") % MAX_EVENTS_BODY)
        return super().parse(io.BytesIO(body), media_type, parser_context)


# ---------------------------------------------------------------------- representations


class StyleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class PersonalizedImageSerializer(serializers.Serializer):
    source = serializers.CharField(source="reference", help_text=gettext_lazy("Reference of the source object."))
    url = serializers.CharField(help_text=gettext_lazy("Absolute URL of the image to show."))
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    srcset = serializers.CharField(help_text=gettext_lazy("An <img srcset> value; empty for the original photo."))
    alt = serializers.CharField()
    style = StyleRefSerializer(allow_null=True, help_text=gettext_lazy("The style shown; null for the original."))
    choice_id = serializers.CharField(
        allow_null=True,
        help_text=gettext_lazy("Send it with the impression event once the image is seen, and with clicks and "
                               "add to carts on it. Null when nothing is to be reported."),
    )
    probability = serializers.FloatField(source="propensity", help_text=gettext_lazy("Probability of this choice."))
    reason = serializers.CharField(help_text=gettext_lazy('Why: "pick", "sticky", "history", "global", "explore", '
                                                          '"original", "remembered" (the look this visitor saw this '
                                                          'image in before) or "control" (the visitor is in the '
                                                          'control group: original photos everywhere).'))

    def to_representation(self, image):
        data = super().to_representation(image)
        request = self.context.get("request")
        data["url"] = absolute_url(request, image.url)
        data["srcset"] = ", ".join(f"{absolute_url(request, url)} {width}w" for url, width in image.candidates)
        return data


class PersonalizedResponseSerializer(PersonalizedImageSerializer):
    visitor = serializers.CharField(allow_null=True, help_text=gettext_lazy(
        "The visitor's token: send it as X-Visitor-Id. Null without consent."))
    field = serializers.CharField()


class SimilarSerializer(serializers.Serializer):
    source = serializers.CharField()
    similarity = serializers.FloatField(help_text=gettext_lazy("Cosine similarity in style-embedding space."))
    image = PersonalizedImageSerializer(allow_null=True)


class MoreInThisStyleSerializer(serializers.Serializer):
    visitor = serializers.CharField(allow_null=True)
    results = SimilarSerializer(many=True)


class EventSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StyleEvent.Kind.choices)
    event_id = serializers.RegexField(
        r"^[A-Za-z0-9_-]{8,64}$", required=False,
        help_text=gettext_lazy("Client-made idempotency key (e.g. a UUID): an event is recorded once per id."),
    )
    choice = serializers.CharField(
        required=False, max_length=512,
        help_text=gettext_lazy("impression, click, add_to_cart: the image's choice_id."),
    )
    source = serializers.RegexField(
        REFERENCE_PATTERN, required=False, max_length=300,
        help_text=gettext_lazy("view: the viewed object, e.g. %s; purchase: the bought product; pick: the "
                               "product picked on, needed where a pick applies to one product (PICK_SCOPE "
                               "\"product\"); a pick clearing without it clears every pick.") % EXAMPLE_REFERENCE,
    )
    field = serializers.CharField(required=False, max_length=64, help_text=gettext_lazy(
        "The object's image field; default: its first."))
    style = serializers.CharField(required=False, allow_null=True, max_length=100, help_text=gettext_lazy(
        'pick: a style slug, "original", or null to let the shop choose again.'))
    value = serializers.DecimalField(
        required=False, max_digits=20, decimal_places=events.PURCHASE_DECIMAL_PLACES, coerce_to_string=False,
        help_text=gettext_lazy("purchase: what the order line was worth (quantity included), a positive amount "
                               "such as \"49.90\"."))
    currency = serializers.CharField(required=False, max_length=3, help_text=gettext_lazy(
        "purchase: the value's currency, an ISO 4217 code such as USD, EUR or CNY."))

    def validate_source(self, value):
        try:
            return parse_reference(value)
        except (MalformedReference, UnknownReference) as exc:
            raise serializers.ValidationError(str(exc))

    def validate(self, attrs):
        kind = attrs["kind"]
        if kind in events.CHOICE_KINDS and not attrs.get("choice"):
            raise serializers.ValidationError({"choice": _("Required for %s events.") % kind})
        if kind == StyleEvent.Kind.VIEW and "source" not in attrs:
            raise serializers.ValidationError({"source": _("Required for view events.")})
        if kind == StyleEvent.Kind.PICK and "style" not in attrs:
            raise serializers.ValidationError({"style": _("Required for pick events (null clears the pick).")})
        if kind == StyleEvent.Kind.PURCHASE:
            required = {name: [_("Required for purchase events.")] for name in ("source", "event_id", "value",
                                                                                  "currency") if name not in attrs}
            if required:
                raise serializers.ValidationError(required)
            if problems := events.purchase_problems(attrs["value"], attrs["currency"]):
                raise serializers.ValidationError({field: [message] for field, message in problems.items()})
        return attrs


class EventsResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text=gettext_lazy("Events recorded now."))
    duplicates = serializers.IntegerField(help_text=gettext_lazy("Events already recorded (same event_id or "
                                                                 "choice), repeated views, or of deleted styles."))
    visitor = serializers.CharField()


class EraseResultSerializer(serializers.Serializer):
    visitors = serializers.IntegerField()
    events = serializers.IntegerField()


# ---------------------------------------------------------------------- views

REFERENCE = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=REFERENCE_PATTERN,
    description=f"Stable reference of the source object, e.g. `{EXAMPLE_REFERENCE}`.",
)
FIELD = OpenApiParameter("field", OpenApiTypes.STR, description="Image field of the object; default: its first.")
SIZE = OpenApiParameter("size", OpenApiTypes.INT, description="Longer side wanted, in pixels; the smallest "
                                                              "variant covering it is chosen. Default: DEFAULT_SIZE.")
VISITOR = OpenApiParameter(VISITOR_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER,
                           description="The visitor token a previous response returned (else the cookie).")
CONSENT = OpenApiParameter(CONSENT_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER,
                           description='With CONSENT_REQUIRED: the visitor\'s consent ("1"), else the cookie.')


EXPECT_VIEW = OpenApiParameter(
    "expect_view", OpenApiTypes.BOOL,
    description="`true` when the image is the object's own product page, whose view the client reports in the "
                "same events batch as this image's impression: the look is chosen as if that view were already "
                "recorded, as the HTML product page chooses (nothing is written; a refresh changes nothing). "
                "Saves posting the view before asking for the image.",
)


def _bool_param(request, name):
    """A boolean query parameter, read as DRF reads a form's (true/false, 1/0, yes/no,
    on/off); absent or empty is False, anything else a 400 naming it."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return False
    try:
        return serializers.BooleanField().to_internal_value(value)
    except exceptions.ValidationError as exc:  # DRF's own message, in the request's language
        raise exceptions.ValidationError({name: exc.detail})


def _int_param(request, name, default, low, high):
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        message = _("An integer from %(low)d to %(high)d.") % {"low": low, "high": high}
        raise exceptions.ValidationError({name: [message]})
    return number


class PersonalizedAPIView(StylestoreAPIMixin, APIView):
    permission_classes = [AllowAny]

    def source(self, request, reference):
        """The referenced object and its image field, or the API's 400/404 errors."""
        try:
            ref = parse_reference(reference)
            obj = ref.source_objects(public=True)[0]  # an owner's (a product's) primary image
        except MalformedReference as exc:
            raise MalformedReferenceError(str(exc))
        except UnknownReference as exc:
            raise UnknownReferenceError(str(exc))
        field = request.query_params.get("field") or ref.fields[0]
        if field not in ref.fields:
            raise exceptions.ValidationError({"field": [_("%(ref)s has no source image field %(field)r.") % {
                "ref": ref.label, "field": field}]})
        return obj, field

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Per-visitor answers: browsers may keep them, shared caches must not.
        patch_cache_control(response, private=True, no_store=True)
        return response


@describe(
    summary="The personalized image of a source object",
    description="Chooses among the object's ready, approved variants for this visitor (an explicit pick wins; "
                "the same visitor gets the same look on every request of the day) and falls back to the "
                "original photo. Never triggers rendering. On a product page, either pass `expect_view=true` and "
                "report the view with the impression, or post the product's view (events) first: the look of "
                "an image not seen yet is then chosen knowing that view, as the HTML product page chooses.",
    parameters=[REFERENCE, FIELD, SIZE, EXPECT_VIEW, VISITOR, CONSENT],
    responses={200: PersonalizedResponseSerializer},
)
class PersonalizedImageView(PersonalizedAPIView):
    def get(self, request, reference, **kwargs):
        obj, field = self.source(request, reference)
        size = _int_param(request, "size", None, 1, MAX_IMAGE_SIZE)
        if _bool_param(request, "expect_view"):
            events.expect_view(request._request, obj, field)
        context = visitor_context(request)
        image = page.styled_image(context, obj, field, size=size)
        if image is None:
            raise exceptions.NotFound(_("The object has no image in this field."))
        data = PersonalizedImageSerializer(image, context={"request": request}).data
        return Response({"visitor": context.token, "field": field, **data})


@describe(
    summary="More in this style",
    description="Objects of the same model that this visitor sees in the style the object is shown in (else "
                "in their preferred style: their pick, their sticky choice, their most browsed), their photos "
                "closest to that style first, each with its personalized image: only objects with an approved, "
                "ready variant in that style, never an original photo. Empty when the object shows its "
                "original photo and the visitor prefers no style.",
    parameters=[REFERENCE, FIELD, SIZE, VISITOR, CONSENT,
                OpenApiParameter("limit", OpenApiTypes.INT, description=f"1 to {MAX_MORE_LIMIT}; default 4.")],
    responses={200: MoreInThisStyleSerializer},
)
class MoreInThisStyleView(PersonalizedAPIView):
    def get(self, request, reference, **kwargs):
        obj, field = self.source(request, reference)
        limit = _int_param(request, "limit", 4, 1, MAX_MORE_LIMIT)
        size = _int_param(request, "size", None, 1, MAX_IMAGE_SIZE)
        context = visitor_context(request)
        results = []
        for similar, score in page.more_in_this_style(context, obj, field, limit=limit):
            image = page.styled_image(context, similar, field, size=size)
            opts = similar._meta
            results.append({"source": f"{opts.app_label}.{opts.model_name}:{similar.pk}", "similarity": score,
                            "image": image})
        body = MoreInThisStyleSerializer({"visitor": context.token, "results": results}, context={"request": request})
        return Response(body.data)


def cross_site(request) -> bool:
    """A browser post from another origin: its ``Origin`` is neither this site's nor
    trusted (``"null"``, sent from sandboxed or privacy-sensitive contexts, included).
    Without ``Origin`` (not a browser's POST), only ``Sec-Fetch-Site`` can tell."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site") == "cross-site"
    return origin != f"{request.scheme}://{request.get_host()}" and origin not in settings.CSRF_TRUSTED_ORIGINS


class VisitorPostView(StylestoreAPIMixin, APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [VisitorRateThrottle, StylestoreAnonRateThrottle, StylestoreUserRateThrottle]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if VISITOR_HEADER not in request.headers and cross_site(request._request):
            raise exceptions.PermissionDenied(_("Cross-site posts as the visitor are refused."), code="cross_site")


@describe(
    summary="Record visitor events",
    description="One event object, or a list of at most %d. Kinds: `view` (needs `source`), `impression`, "
                "`click`, `add_to_cart` (need the image's `choice`), `purchase` (needs the bought product's "
                "`source`, `value`, `currency` and an `event_id` made from the order, e.g. `order-1042-3`: one "
                "per order line), `pick` (needs `style`). Each event is recorded once per `event_id`, and each "
                "choice gets at most one impression, click and add to cart. A purchase is attributed to the "
                "look the visitor was last shown the product's image in. JSON only, at most %d bytes."
                % (events.MAX_BATCH, MAX_EVENTS_BODY),
    parameters=[VISITOR, CONSENT],
    request=EventSerializer(many=True),
    responses={202: EventsResultSerializer},
)
class VisitorEventsView(VisitorPostView):
    parser_classes = [EventsJSONParser]

    def post(self, request, **kwargs):
        context = visitor_context(request)
        if not context.consent:
            raise exceptions.PermissionDenied(_("The visitor has not consented to personalization."),
                                              code="consent_required")
        items = request.data if isinstance(request.data, list) else [request.data]
        if not items or len(items) > events.MAX_BATCH:
            raise exceptions.ValidationError(_("Send from 1 to %d events.") % events.MAX_BATCH)
        try:
            # Before validation: invalid events cost the sender as much as valid ones.
            events.charge_budgets(context, StylestoreAnonRateThrottle().get_ident(request), len(items))
        except events.OverBudget as exc:
            raise exceptions.Throttled(wait=exc.wait)
        serializer = EventSerializer(data=items, many=True)
        serializer.is_valid(raise_exception=True)
        try:
            outcome = events.record(context, events.resolve(context, serializer.validated_data))
        except events.InvalidEvents as exc:
            raise exceptions.ValidationError(exc.errors)
        body = {"accepted": outcome.accepted, "duplicates": outcome.duplicates, "visitor": context.token}
        return Response(EventsResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@describe(
    summary="Erase this visitor's data",
    description="Deletes the visitor, its events and its state (the visitor cookie too). Works without consent: "
                "withdrawing consent never locks anyone out of erasure. Anonymous per-style totals stay.",
    parameters=[VISITOR],
    request=None,
    responses={200: EraseResultSerializer},
)
class VisitorEraseView(VisitorPostView):
    def post(self, request, **kwargs):
        return Response(EraseResultSerializer(erase.erase_visitor(visitor_context(request))).data)


personalization_urlpatterns = [
    path("sources/<str:reference>/personalized/", PersonalizedImageView.as_view(), name="source-personalized"),
    path("sources/<str:reference>/more-in-this-style/", MoreInThisStyleView.as_view(),
         name="source-more-in-this-style"),
    path("visitor/events/", VisitorEventsView.as_view(), name="visitor-events"),
    path("visitor/erase/", VisitorEraseView.as_view(), name="visitor-erase"),
]
