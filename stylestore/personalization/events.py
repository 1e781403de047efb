"""Recording what visitors do: views, impressions, clicks, add to carts, purchases and picks.

Every batch of events of one visitor is applied in one transaction that locks the
visitor's row, so concurrent beacons of the same visitor are serialized: the
duplicate checks below are exact, and the state is never updated from a stale copy.
What one batch does:

- **Deduplicates.** A client ``event_id`` is recorded once per visitor (a retried
  beacon is not counted twice), and each rendered choice (``choice_id``) gets at most
  one impression, one click and one add to cart. A click whose impression never
  arrived (the beacon was lost, the page left early) records that impression too: a
  click proves the image was seen, and CTRs must never exceed 1. A product viewed
  again within ``VIEW_REPEAT_SECONDS`` (a refresh) is not a new view. A pick of the
  look the visitor already has is a duplicate, and a visitor keeps one pick row (their
  latest): repeated picks neither grow the log nor inflate the pick counts.
- **Attributes purchases** to the look the visitor saw the product in: the last
  impression of that image the visitor reported (its style, choice id, probability and
  reason are copied onto the purchase row; a pick's look and the control group's
  original photo included). A purchase of an image never seen attributes to no style.
  The first purchase of an impression keeps its ``choice_id`` (the analytics' "this
  impression led to a purchase"); a later one (another order) keeps the style only.
- **Updates the policy state** (``policy.VisitorState``: decayed sums, bounded under
  1 KB by construction; the outcome ``STYLESTORE["REWARD"]`` names counts as its
  success, see ``_teach``) and the look each image was seen in (``looks``), and stores
  them on the ``Visitor`` row as JSON.
- **Appends to the log** (``StyleEvent``) and adds to the anonymous hourly counters
  per style and product category (``StyleHourlyStats``) the global model is refitted
  from. The original photo the policy drew as an arm (``STYLESTORE["ORIGINAL_AS_ARM"]``)
  is logged and counted like a style, under no style (its row's ``style`` is null); the
  control group's is logged only. A visitor's first
  ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]`` impressions of a UTC day count for the
  counters (``Visitor.impressions_that_day``); their later impressions, and the clicks
  and add to carts answering those, are logged and teach their own state only: a
  crawler that runs the page's script, held on one look and never clicking, would
  otherwise bury that style's clicks under its impressions. A click or add to cart
  counts where its impression did (``StyleEvent.counted``, read with the lookup of the
  batch's choices the log already holds), however many impressions came between.
  Purchases, revenue and picks always count. What counts (a customer's own picks
  left out) is counted again for each image the visitor viewed lately
  (``ViewerDailyStats``): the look shoppers see in a product (``viewers``).

The log is bounded in time: ``purge_expired`` (a daily django-q2 schedule) deletes
events, counters and idle visitors older than ``STYLESTORE["EVENT_RETENTION_DAYS"]``;
and in rate: ``charge_budgets`` takes every request's events from budgets per client
address and per visitor, and new visitors from a budget per address
(``STYLESTORE["EVENT_BUDGETS"]``), so no client can fill the database.
"""
import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.cache import DEFAULT_CACHE_ALIAS
from django.core.cache import caches as cache_backends
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import ratelimit
from ..conf import stylestore_settings
from ..models import ErasedVisitor, SourceImage, Style, StyleEvent, StyleHourlyStats, ViewerDailyStats, Visitor
from ..variants.sources import product_key_of, source_fields
from . import caches, choices, embeddings, looks, policy, population, viewers
from .identity import get_visitor

logger = logging.getLogger(__name__)

Kind = StyleEvent.Kind
#: Most events one request may carry.
MAX_BATCH = 50
#: A view of the same product by the same visitor within this long is a refresh.
VIEW_REPEAT_SECONDS = 30 * 60
#: Most recent views remembered per visitor for telling refreshes apart (keeps the
#: visitor's row small: an older view seen again counts as a new view).
MAX_RECENT_VIEWS = 16
#: Rows deleted per statement by the purge, so it never holds long locks.
PURGE_CHUNK = 5000
CHOICE_KINDS = (Kind.IMPRESSION, Kind.CLICK, Kind.ADD_TO_CART)
#: The outcomes of an impression, shallowest first (``STYLESTORE["REWARD"]`` is one).
OUTCOMES = (Kind.CLICK, Kind.ADD_TO_CART, Kind.PURCHASE)
#: ISO 4217's codes of money in use (no funds, metals or test codes): a purchase's currency.
CURRENCIES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF
    XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())
#: Largest value one purchase may carry, and its decimal places (``StyleEvent.value``).
MAX_PURCHASE_VALUE = Decimal("999999999999")
PURCHASE_DECIMAL_PLACES = 4


@dataclass(frozen=True)
class Event:
    """One validated event, ready to record.

    ``choice`` (impression, click, add to cart) is the verified content of the
    ``choice_id`` token; ``source_id`` and ``embedding`` (view) the viewed image's
    ``SourceImage`` and its style embedding; ``pick`` (pick) a style key,
    ``choices.ORIGINAL``, or None to clear the pick; ``source_id``, ``value`` and
    ``currency`` (purchase) the bought product's image and what its order line was worth.
    """

    kind: str
    event_id: str = ""
    choice: choices.ChoiceRecord | None = None
    source_id: int | None = None
    embedding: list | None = None
    pick: str | None = None
    value: Decimal | None = None
    currency: str = ""


@dataclass(frozen=True)
class RecordReport:
    accepted: int
    duplicates: int


class OverBudget(Exception):
    """The client or visitor sent more events than its budget; ``wait`` seconds until
    the request would fit."""

    def __init__(self, wait: float):
        super().__init__(f"over the event budget; retry in {wait:.0f} s")
        self.wait = wait


def charge_budgets(context, client: str, count: int):
    """Take ``count`` events from the budgets of the client address (``client``, as the
    rate limits tell it) and of the visitor, and, when the request brings no visitor
    yet (one will be made), a new visitor from the address's budget. Raises
    ``OverBudget``, having charged nothing."""
    budgets = stylestore_settings.EVENT_BUDGETS
    charges = [("IP", client, count)]
    if context.presented_key is None:
        charges.append(("NEW_VISITORS_PER_IP", client, 1))
    else:
        charges.append(("VISITOR", context.presented_key, count))
    cache = cache_backends[DEFAULT_CACHE_ALIAS]
    taken = []
    for name, ident, amount in charges:
        if budgets.get(name) is None:
            continue
        key, (limit, duration) = f"stylestore-budget:{name}:{ident}", ratelimit.parse_rate(budgets[name])
        outcome = ratelimit.take(cache, key, limit, duration, amount)
        if not outcome.allowed:
            for key, duration, amount in taken:
                ratelimit.refund(cache, key, duration, amount)
            raise OverBudget(outcome.wait)
        taken.append((key, duration, amount))


def purchase_problems(value, currency) -> dict:
    """``{"value" | "currency": message}`` of what is wrong with a purchase's value (a
    positive ``Decimal`` of at most ``PURCHASE_DECIMAL_PLACES`` places) and currency (an
    ISO 4217 code in capitals); empty when both are fine."""
    problems = {}
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= MAX_PURCHASE_VALUE:
        problems["value"] = _("A purchase's value must be a positive amount of at most %s.") % MAX_PURCHASE_VALUE
    elif -value.as_tuple().exponent > PURCHASE_DECIMAL_PLACES:
        problems["value"] = _("A purchase's value may have at most %d decimal places.") % PURCHASE_DECIMAL_PLACES
    if currency not in CURRENCIES:
        problems["currency"] = _("%r is not an ISO 4217 currency code (such as USD, EUR or CNY).") % (currency,)
    return problems


class InvalidEvents(ValueError):
    """Events that cannot be recorded; ``errors`` maps ``"<index>.<field>"`` to messages."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def resolve(context, items) -> list[Event]:
    """Turn well-formed client events into ``Event``s, checking what needs the database
    or the visitor's key, in a fixed number of queries for the whole batch.

    ``items`` are dicts with ``kind``, ``event_id``, and per kind: ``choice`` (the
    signed ``choice_id`` of the image, for impression, click and add to cart),
    ``source`` (a parsed ``SourceReference``, for view and purchase; optional for pick)
    with ``field`` (default: the model's first source field), ``style`` (pick: a style
    slug, ``"original"``, or None to let the shop choose again), ``value`` (a positive
    ``Decimal``) and ``currency`` (an ISO 4217 code) for purchase.
    """
    context.drop_revoked_key()  # an erased visitor's choice ids must not verify
    errors = {}
    source_keys = {}
    for index, item in enumerate(items):
        reference = item.get("source")
        if reference is not None:
            field = item.get("field") or reference.fields[0]
            if field not in reference.fields:
                errors[f"{index}.field"] = [
                    _("%(source)s has no source image field %(field)r.") % {"source": reference.label, "field": field}
                ]
                continue
            source_keys[index] = (reference.content_type.pk, reference.object_id, field)
    sources = {}
    if source_keys:
        condition = Q()
        for content_type_id, object_id, field in set(source_keys.values()):
            condition |= Q(content_type_id=content_type_id, object_id=object_id, field_name=field)
        for pk, content_type_id, object_id, field, embedding in SourceImage.objects.filter(condition).values_list(
            "pk", "content_type_id", "object_id", "field_name", "embedding"
        ):
            sources[(content_type_id, object_id, field)] = (pk, embedding)
    slugs = {
        item["style"]
        for item in items
        if item["kind"] == Kind.PICK and item.get("style") not in (None, choices.ORIGINAL)
    }
    styles = dict(Style.objects.filter(slug__in=slugs, active=True).values_list("slug", "pk")) if slugs else {}

    events = []
    for index, item in enumerate(items):
        kind, event_id = item["kind"], item.get("event_id") or ""
        source = sources.get(source_keys.get(index))
        if index in source_keys and source is None:
            errors[f"{index}.source"] = [_("%s has no image known to Stylestore.") % item["source"].label]
        source_id, embedding = source or (None, None)
        if kind in CHOICE_KINDS:
            choice = choices.read_choice(context.key, item.get("choice") or "") if context.key else None
            if choice is None:
                errors[f"{index}.choice"] = [_("Not a choice id issued to this visitor.")]
            events.append(Event(kind=kind, event_id=event_id, choice=choice))
        elif kind == Kind.VIEW:
            if index not in source_keys and f"{index}.field" not in errors:
                errors[f"{index}.source"] = [_("A view needs the viewed source.")]
            events.append(Event(kind=kind, event_id=event_id, source_id=source_id, embedding=embedding))
        elif kind == Kind.PURCHASE:
            if index not in source_keys and f"{index}.field" not in errors:
                errors[f"{index}.source"] = [_("A purchase needs the bought source.")]
            events.append(Event(kind=kind, event_id=event_id, source_id=source_id, value=item.get("value"),
                                currency=item.get("currency") or ""))
        elif kind == Kind.PICK:
            style = item.get("style")
            if style not in (None, choices.ORIGINAL) and style not in styles:
                errors[f"{index}.style"] = [_("No active style %r.") % style]
            if style is not None and stylestore_settings.PICK_SCOPE == "product" and index not in source_keys:
                errors.setdefault(f"{index}.source", []).append(
                    _("In this shop a pick applies to one product: name it in source."))
            pick = str(styles[style]) if style in styles else style
            events.append(Event(kind=kind, event_id=event_id, source_id=source_id, pick=pick))
        else:
            errors[f"{index}.kind"] = [_("Unknown event kind %r.") % kind]
    if errors:
        raise InvalidEvents(errors)
    return events


def record(context, events) -> RecordReport:
    """Record a visitor's events (in order). Raises ``PermissionError`` without consent."""
    if not context.consent:
        raise PermissionError("no consent: nothing may be stored for this visitor")
    try:
        with transaction.atomic():
            return _record(context, list(events))
    except IntegrityError:
        # Only reachable where rows are not locked (a backend without SELECT ... FOR
        # UPDATE): a concurrent duplicate won. Once more, now seeing its rows.
        with transaction.atomic():
            return _record(context, list(events))


def _record(context, events) -> RecordReport:
    visitor = context.get_or_create_visitor(lock=True)
    now = visitor.last_seen_at = timezone.now()
    state = policy.VisitorState.from_dict(visitor.state)
    params = population.policy_params()
    seen_ids, seen_choices, counted_choices = _already_recorded(visitor, events)
    recent_views = _recent_views(visitor.recent_views, now)
    shown = dict(visitor.looks or {})
    styles, sources = _still_existing(events)
    seen_looks = _seen_looks(visitor, events, seen_choices)

    counters = _Counters(population.image_categories(
        {event.choice.source_id if event.choice is not None else event.source_id for event in events}), recent_views,
        now)
    allowance = _Allowance(visitor, now, counted_choices)
    rows, duplicates, picked = [], 0, None
    for event in events:
        if event.event_id and event.event_id in seen_ids:
            duplicates += 1
            continue
        if event.choice is not None:
            choice = event.choice
            gone = choice.style_id is not None and choice.style_id not in styles  # None: the original photo
            if (event.kind, choice.choice_id) in seen_choices or gone:
                duplicates += 1  # a deleted style's choice has nothing left to count
                continue
            source_id = choice.source_id if choice.source_id in sources else None
            if event.kind != Kind.IMPRESSION and (Kind.IMPRESSION, choice.choice_id) not in seen_choices:
                evidence = allowance.counters(counters, Kind.IMPRESSION, choice)
                _apply_choice_event(Kind.IMPRESSION, state, choice, params, evidence)
                rows.append(_choice_row(visitor, Kind.IMPRESSION, choice, source_id, "", now, evidence is not None))
                seen_choices.add((Kind.IMPRESSION, choice.choice_id))
                looks.remember(shown, source_id, choice, int(now.timestamp()))
                seen_looks[source_id] = choice  # a purchase later in the batch answers it
            seen_choices.add((event.kind, choice.choice_id))
            evidence = allowance.counters(counters, event.kind, choice)
            _apply_choice_event(event.kind, state, choice, params, evidence)
            rows.append(_choice_row(visitor, event.kind, choice, source_id, event.event_id, now, evidence is not None))
            if event.kind == Kind.IMPRESSION:
                looks.remember(shown, source_id, choice, int(now.timestamp()))
                seen_looks[source_id] = choice
        elif event.kind == Kind.PURCHASE:
            rows.append(_purchase(visitor, event, seen_looks.get(event.source_id), seen_choices, state, params,
                                  counters, now))
        elif event.kind == Kind.VIEW:
            if str(event.source_id) in recent_views:
                duplicates += 1
                continue
            recent_views[str(event.source_id)] = int(now.timestamp())
            _apply_view(state, event.source_id, event.embedding, params)
            rows.append(
                StyleEvent(visitor=visitor, kind=Kind.VIEW, source_id=event.source_id, event_id=event.event_id,
                           created_at=now)
            )
        elif event.kind == Kind.PICK:
            if not _apply_pick(state, shown, event, int(now.timestamp())):
                duplicates += 1  # the look the visitor already has
                continue
            style_id = int(event.pick) if event.pick not in (None, choices.ORIGINAL) else None
            if style_id is not None:
                counters.row(style_id, event.source_id)["picks"] += 1
            picked = StyleEvent(visitor=visitor, kind=Kind.PICK, source_id=event.source_id, style_id=style_id,
                                reason=event.pick or "", event_id=event.event_id, created_at=now)
        else:
            raise ValueError(f"unknown event kind {event.kind!r}")
        if event.event_id:
            seen_ids.add(event.event_id)

    if picked is not None:
        # One pick row per visitor, their latest: picking again replaces it.
        StyleEvent.objects.filter(visitor=visitor, kind=Kind.PICK).delete()
        rows.append(picked)
    StyleEvent.objects.bulk_create(rows)
    _add_to_counters(counters, now)
    visitor.state = state.to_dict()
    visitor.recent_views = dict(sorted(recent_views.items(), key=lambda item: item[1])[-MAX_RECENT_VIEWS:])
    visitor.looks = shown
    visitor.impressions_on, visitor.impressions_that_day = allowance.day, allowance.impressions
    visitor.save(update_fields=["state", "recent_views", "looks", "impressions_on", "impressions_that_day",
                                "last_seen_at"])
    context.remember(visitor)
    return RecordReport(accepted=len(events) - duplicates, duplicates=duplicates)


def _apply_pick(state, shown, event, at) -> bool:
    """Apply a pick in ``STYLESTORE["PICK_SCOPE"]``: shop-wide on the state, or pinned
    on the picked image's product, every image of it (``looks.pin``), with the picks of
    the other scope (the setting changed since) given up; a pick without a source clears
    every pick. Returns whether anything changed (else it is a duplicate)."""
    if stylestore_settings.PICK_SCOPE == "product" and event.source_id is not None:
        # A product deleted meanwhile: the pin stays on the image, which nothing shows.
        product = product_key_of(event.source_id) or str(event.source_id)
        if (state.pick, looks.pinned(shown, product, event.source_id)) == (None, event.pick):
            return False
        state.set_pick(None)
        looks.pin(shown, product, event.pick, at, source_id=event.source_id)
        return True
    before = (state.pick, dict(shown))
    state.set_pick(event.pick)
    looks.unpin_all(shown)
    return before != (state.pick, shown)


def _already_recorded(visitor, events):
    """What of this batch the log already holds: event ids, (kind, choice id) pairs, and
    the choice ids whose impression counted for the shop-wide counters."""
    event_ids = {e.event_id for e in events if e.event_id}
    choice_ids = {e.choice.choice_id for e in events if e.choice}
    if not event_ids and not choice_ids:  # the product page's view: nothing to look up
        return set(), set(), set()
    mine = StyleEvent.objects.filter(visitor=visitor)
    seen_ids = set(mine.filter(event_id__in=event_ids).values_list("event_id", flat=True)) if event_ids else set()
    recorded = mine.filter(choice_id__in=choice_ids).values_list("kind", "choice_id", "counted") if choice_ids else []
    seen_choices, counted_choices = set(), set()
    for kind, choice_id, counted in recorded:
        seen_choices.add((kind, choice_id))
        if kind == Kind.IMPRESSION and counted:
            counted_choices.add(choice_id)
    return seen_ids, seen_choices, counted_choices


def _still_existing(events):
    """The ids of the styles and source images the choices of ``events`` name that
    still exist (none to look up for a batch of views, the product page's case)."""
    choices = [e.choice for e in events if e.choice]
    if not choices:
        return set(), set()
    styles = set(Style.objects.filter(pk__in={c.style_id for c in choices}).values_list("pk", flat=True))
    source_ids = {c.source_id for c in choices if c.source_id}
    sources = set(SourceImage.objects.filter(pk__in=source_ids).values_list("pk", flat=True)) if source_ids else set()
    return styles, sources


def _seen_looks(visitor, events, seen_choices) -> dict:
    """``{source id: ChoiceRecord}``: the look of the last impression the visitor reported
    of each image this batch's purchases name (what a purchase is attributed to). The
    purchases already recorded for those impressions join ``seen_choices``."""
    source_ids = {e.source_id for e in events if e.kind == Kind.PURCHASE}
    if not source_ids:
        return {}
    # Through the (visitor, kind, choice) index, which holds rows with a choice only.
    impressions = (
        StyleEvent.objects.filter(visitor=visitor, kind=Kind.IMPRESSION, source_id__in=source_ids)
        .exclude(choice_id="")
        .order_by("created_at", "id")
        .values_list("source_id", "choice_id", "style_id", "propensity", "history_share", "reason", "available")
    )
    seen = {}
    for source_id, choice_id, style_id, propensity, share, reason, available in impressions:
        seen[source_id] = choices.ChoiceRecord(choice_id, source_id, style_id, propensity or 1.0, share or 0.0,
                                               reason, None, tuple(available or ()))
    seen_choices.update(
        StyleEvent.objects.filter(visitor=visitor, kind=Kind.PURCHASE,
                                  choice_id__in=[look.choice_id for look in seen.values()])
        .values_list("kind", "choice_id")
    )
    return seen


def _purchase(visitor, event, look, seen_choices, state, params, counters, now):
    """The purchase's row, attributed to ``look`` (None: an image the visitor was never
    shown), counted for its style and taught to the visitor's state."""
    if look is None:
        return StyleEvent(visitor=visitor, kind=Kind.PURCHASE, source_id=event.source_id, event_id=event.event_id,
                          value=event.value, currency=event.currency, created_at=now)
    first = (Kind.PURCHASE, look.choice_id) not in seen_choices
    seen_choices.add((Kind.PURCHASE, look.choice_id))
    _apply_choice_event(Kind.PURCHASE, state, look, params, counters)
    if look.style_key is not None:
        row = counters.row(look.style_id, look.source_id, event.currency)
        row["revenue"] = row.get("revenue", Decimal(0)) + event.value
    return StyleEvent(
        visitor=visitor, kind=Kind.PURCHASE, source_id=event.source_id, style_id=look.style_id,
        choice_id=look.choice_id if first else "", event_id=event.event_id, propensity=look.propensity,
        history_share=look.history_share, reason=look.reason, value=event.value, currency=event.currency,
        created_at=now,
    )


def _recent_views(recent_views, now) -> dict:
    """``{source id (str): unix time}`` of the stored views within ``VIEW_REPEAT_SECONDS``:
    a view of one of those products is a refresh."""
    cutoff = now.timestamp() - VIEW_REPEAT_SECONDS
    return {source: at for source, at in (recent_views or {}).items() if at >= cutoff}


def _viewed_recently(recent_views, source_id, now) -> bool:
    """Whether viewing this source now is a refresh (see ``_recent_views``)."""
    return (recent_views or {}).get(str(source_id), -math.inf) >= now.timestamp() - VIEW_REPEAT_SECONDS


def _choice_row(visitor, kind, choice, source_id, event_id, now, counted):
    impression = kind == Kind.IMPRESSION
    return StyleEvent(
        visitor=visitor,
        kind=kind,
        source_id=source_id,
        style_id=choice.style_id,
        choice_id=choice.choice_id,
        event_id=event_id,
        propensity=choice.propensity,
        history_share=choice.history_share,
        reason=choice.reason,
        available=list(choice.available) if impression else None,
        counted=counted,
        created_at=now,
    )


class _Allowance:
    """The visitor's impressions today, against ``STYLESTORE["COUNTED_IMPRESSIONS_PER_DAY"]``,
    and the choices whose impressions counted (``counted_choices``: from the log, then
    this batch's)."""

    def __init__(self, visitor, now, counted_choices):
        self.day = now.date()
        self.impressions = visitor.impressions_that_day if visitor.impressions_on == self.day else 0
        self.limit = stylestore_settings.COUNTED_IMPRESSIONS_PER_DAY
        self.counted_choices = counted_choices

    def counters(self, counters, kind, choice):
        """``counters`` if an event of ``kind`` on ``choice`` counts for them, else None.
        An impression of a look counts while it is one of the day's first ``limit``; an
        outcome where its impression did, however many impressions came between."""
        if kind != Kind.IMPRESSION:
            return counters if choice.choice_id in self.counted_choices else None
        if choice.style_key is not None:  # the control group's original photo: not counted anyway
            self.impressions += 1
            if self.limit is not None and self.impressions > self.limit:
                return None
        self.counted_choices.add(choice.choice_id)
        return counters


def _apply_impression(state, choice, params, counters):
    state.record_impression(choice.to_choice(), params)
    if counters is None:
        return
    row = counters.row(choice.style_id, choice.source_id)
    row["impressions"] += 1
    if choice.reason == "pick":
        row["picked_impressions"] += 1
        return
    row["share_sum"] += choice.history_share
    row["share_sq_sum"] += choice.history_share**2
    if choice.style_id is not None:
        counters.credit_viewers(choice.style_id, "impressions")


def _apply_choice_event(kind, state, choice, params, counters):
    """Teach the state and add to ``counters`` (by style id, None: the original
    photo drawn as an arm; no counters: the visitor's allowance is spent)."""
    if choice.style_key is None:
        # The control group's original photo: logged as an event, no look to count.
        if kind == Kind.IMPRESSION:
            state.record_impression(choice.to_choice(), params)
        return
    if kind == Kind.IMPRESSION:
        _apply_impression(state, choice, params, counters)
        return
    _teach(state, kind, choice.style_key, params)
    if counters is None:
        return
    row = counters.row(choice.style_id, choice.source_id)
    count, picked, share_sum = population.OUTCOME_COUNTERS[kind]
    row[count] += 1
    if choice.reason == "pick":
        row[picked] += 1
        return
    row[share_sum] += choice.history_share
    if choice.style_id is not None:
        counters.credit_viewers(choice.style_id, count)


def _teach(state, kind, style_key, params):
    """Tell the visitor's state about an outcome on ``style_key``: the configured reward
    (``STYLESTORE["REWARD"]``) is the state's success count, what the policy calls
    clicks; a deeper outcome is extra evidence, as the policy weighs add to carts; a
    shallower one teaches nothing (a shop optimising purchases must not chase clicks)."""
    depth, reward = OUTCOMES.index(kind), OUTCOMES.index(stylestore_settings.REWARD)
    if depth == reward:
        state.record_click(style_key, params)
    elif depth > reward:
        state.record_add_to_cart(style_key, params)


def _apply_view(state, source_id, embedding, params):
    """Spread the view over the styles by the photo's style embedding, corrected by
    what its viewers clicked (``viewers``). A photo without an embedding yet (the
    worker has not computed it) teaches nothing."""
    preference = viewers.view_preference(source_id, embedding, params)
    if preference:
        state.record_view(preference, params)


class _Counters(defaultdict):
    """A batch's sums per ``StyleHourlyStats`` row: (style id, None for the original
    photo; the image's category, "" for none; the currency of its revenue, "" for the
    rows of counts); and per ``ViewerDailyStats`` row (``viewers``: (source id, style
    id)), credited to the images in ``recent_views``, the visitor's as the batch adds
    to them."""

    def __init__(self, categories, recent_views, now):
        super().__init__(lambda: defaultdict(float))
        self.categories = categories
        self.recent_views = recent_views
        self.now = now.timestamp()
        self.viewers = defaultdict(lambda: defaultdict(int))

    def row(self, style_id, source_id, currency=""):
        return self[(style_id, self.categories.get(source_id) or "", currency)]

    def credit_viewers(self, style_id, column):
        """Count one of ``column`` (impressions or an outcome) on ``style_id`` for each
        image the visitor viewed lately: its viewers' reactions teach the policy the
        look shoppers see in it (``viewers``)."""
        for source in credited_views(self.recent_views, self.now):
            self.viewers[(int(source), style_id)][column] += 1


def credited_views(recent_views, now) -> list:
    """The images a visitor's impression or outcome at ``now`` (unix time) is credited
    to (``viewers``): of ``recent_views`` (``{source id: unix time}``), the latest
    ``MAX_RECENT_VIEWS`` viewed within ``VIEW_REPEAT_SECONDS``. One rule for the shop and
    for data loaded in bulk (the scale fixture)."""
    recent = [(source, at) for source, at in recent_views.items() if at >= now - VIEW_REPEAT_SECONDS]
    return [source for source, _at in sorted(recent, key=lambda item: item[1])[-MAX_RECENT_VIEWS:]]


def _add_to_counters(counters, now):
    """Add the batch's sums to this hour's ``StyleHourlyStats`` rows and this day's
    ``ViewerDailyStats`` rows. Rows in key order (styles in id order, the original
    first, then categories and currencies; images then styles), so two batches touching
    the same rows lock them in the same order (no deadlock)."""
    integer_fields = {"impressions", "picks", "picked_impressions", *(
        name for count, picked, share_sum in population.OUTCOME_COUNTERS.values() for name in (count, picked))}
    hour = population.hour_start(now)
    for key in sorted(counters, key=lambda key: (key[0] is not None, key[0] or 0, *key[1:])):
        style_id, category, currency = key
        _increment(StyleHourlyStats, {"style_id": style_id, "hour": hour, "category": category, "currency": currency},
                   {k: (int(v) if k in integer_fields else v) for k, v in counters[key].items()})
    if not counters.viewers:
        return
    # A recent view may name an image deleted since: its row has nowhere to go.
    existing = set(SourceImage.objects.filter(pk__in={source for source, _style in counters.viewers})
                   .values_list("pk", flat=True))
    for source_id, style_id in sorted(counters.viewers):
        if source_id in existing:
            _increment(ViewerDailyStats, {"source_id": source_id, "style_id": style_id, "day": now.date()},
                       counters.viewers[(source_id, style_id)])


def _increment(model, key, values):
    """Add ``values`` to the columns of ``model``'s row ``key``, creating it if need be."""
    values = {k: v for k, v in values.items() if v}
    if not values:
        return
    rows = model.objects.filter(**key)
    if rows.update(**{k: F(k) + v for k, v in values.items()}):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **values)
    except IntegrityError:  # created concurrently since the update found nothing
        rows.update(**{k: F(k) + v for k, v in values.items()})


def expect_view(request, obj, field_name) -> bool:
    """Apply, in memory, the view this page's beacon will report, before the page
    chooses its looks; returns whether a new view is expected (not for a refresh).

    Call it from the product page's view before rendering, with
    ``{% stylestore_beacon view=product %}`` in the page. The looks of images not seen
    yet are then chosen from the state the visitor will have once the beacon's batch is
    recorded (images seen before keep their look: ``looks``). Nothing is written here.
    """
    context = get_visitor(request)
    if not context.consent:
        return False
    source = embeddings.photo_source(obj, field_name)
    if source is None or _viewed_recently(context.recent_views, source[0], timezone.now()):
        return False
    _apply_view(context.state, source[0], source[1], population.policy_params())
    context.forget_choices()
    return True


def record_view(request, obj, field_name) -> bool:
    """Record a product view server-side, for a shop whose pages do not load the beacon
    script (``{% stylestore_beacon view=product %}`` reports views with the page's
    impressions instead, so serving the page writes nothing). Call it from the product
    page's view before rendering: the look is then chosen from the state a refresh sees.

    Returns whether a view was recorded: not without consent, not when Stylestore does
    not know the image, not for a refresh. A refresh is told from the visitor's row,
    which the page reads anyway for the choice, so it costs no query and takes no lock.
    """
    context = get_visitor(request)
    if not context.consent:
        return False
    try:
        return _record_view(context, embeddings.photo_source(obj, field_name))
    except IntegrityError:
        # The per-process index named a source row deleted since (its object's id was
        # reused by a new object): look again in the database.
        caches.clear_caches()
        return _record_view(context, embeddings.photo_source(obj, field_name))


def _record_view(context, source) -> bool:
    if source is None:
        return False
    visitor = context.visitor
    if visitor is not None and _viewed_recently(visitor.recent_views, source[0], timezone.now()):
        return False
    return record(context, [Event(kind=Kind.VIEW, source_id=source[0], embedding=source[1])]).accepted == 1


def record_purchase(request, order_id, lines, currency, field_name=None) -> RecordReport:
    """Record an order's products as purchases of the visitor of ``request``: call it
    from the checkout once the order is placed.

    ``lines``: ``(product, value)`` pairs, ``value`` a ``Decimal`` (the line's total,
    quantity included) in ``currency`` (ISO 4217, such as ``"EUR"``); ``product`` an
    object of a ``SOURCE_MODELS`` model, its image ``field_name`` (default: its first
    source field). Each line is attributed to the look the visitor saw that image in
    (see the module's docstring). Idempotent by ``order_id`` (any string): placing the
    same order again records nothing twice. Products Stylestore has no image of are left
    out. Raises ``ValueError`` on a value or currency ``purchase_problems`` refuses,
    having recorded nothing; records nothing without consent (returns 0 accepted).
    """
    values = {}  # per image: two lines of one product are one purchase
    for obj, value in lines:
        if problems := purchase_problems(value, currency):
            raise ValueError(" ".join(str(message) for message in problems.values()))
        source = embeddings.photo_source(obj, field_name or source_fields(type(obj))[0])
        if source is not None:
            values[source[0]] = values.get(source[0], Decimal(0)) + value
    resolved = [Event(kind=Kind.PURCHASE, event_id=_purchase_event_id(order_id, source_id), source_id=source_id,
                      value=value, currency=currency) for source_id, value in values.items()]
    context = get_visitor(request)
    if not context.consent or not resolved:
        return RecordReport(accepted=0, duplicates=0)
    return record(context, resolved)


def _purchase_event_id(order_id, source_id) -> str:
    """The idempotency key of one order line: the same for every retry of the order."""
    return "order-" + hashlib.sha256(f"{order_id}:{source_id}".encode()).hexdigest()[:40]


def purge_expired() -> dict:
    """Delete events, hourly counters and idle visitors older than the retention period.

    The django-q2 schedule ``stylestore-personalization-purge`` runs it daily. Deletes
    go in chunks of ``PURGE_CHUNK`` rows so no statement holds locks for long.
    """
    now = timezone.now()
    cutoff = now - timedelta(days=stylestore_settings.EVENT_RETENTION_DAYS)
    counts = {
        "events": _delete_in_chunks(StyleEvent.objects.filter(created_at__lt=cutoff)),
        "visitors": _delete_in_chunks(Visitor.objects.filter(last_seen_at__lt=cutoff)),
        "hourly_stats": _delete_in_chunks(StyleHourlyStats.objects.filter(hour__lt=cutoff)),
        "viewer_stats": _delete_in_chunks(ViewerDailyStats.objects.filter(day__lt=cutoff.date())),
        # Revocations outlive the visitor until its tokens have expired anyway.
        "erased_visitors": _delete_in_chunks(ErasedVisitor.objects.filter(
            erased_at__lt=now - timedelta(seconds=stylestore_settings.VISITOR_COOKIE_AGE))),
    }
    logger.info("personalization purge: %s", counts)
    return counts


def _delete_in_chunks(queryset) -> int:
    deleted = 0
    while True:
        # In key order: the chunk's rows lie together in the table (rows are added in time
        # order), which made a purge of 10^6 events on SQLite 1.3x faster than index order.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:PURGE_CHUNK])
        if not ids:
            return deleted
        # Count the rows of the model itself, not the cascaded ones (a visitor's events).
        _, per_model = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += per_model.get(queryset.model._meta.label, 0)
