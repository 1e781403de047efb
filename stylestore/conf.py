"""The ``STYLESTORE`` settings object.

Modelled on DRF's ``api_settings``: a shop sets only what it changes in one
``STYLESTORE`` dict; everything else falls back to the documented defaults below, and
``override_settings`` in tests takes effect immediately (the cache is reset on the
``setting_changed`` signal). A setting whose default is a dict of named limits
(``QUALITY_GATE``, ``EVENT_BUDGETS``) takes the shop's keys over the defaults' others:
tightening one limit keeps the others (``None`` switches one off).

Usage::

    from stylestore.conf import stylestore_settings
    stylestore_settings.MAX_SIDE
"""
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    # --- Sources and variants
    # Which models hold source images: {"app_label.model": ["image_field", ...]} (labels
    # in any case: "catalogue.ProductImage" works). Saving one of these re-hashes its
    # image so stale variants are regenerated. A value may instead be a dict:
    #   {"fields": ["original"],
    #    # Which objects customers may see: a dict of queryset lookups, or the dotted
    #    # path of a callable(queryset) -> queryset. Nothing else is recommended ("more
    #    # in this style") or served by the public API. Default: every object.
    #    "public": {"product__is_public": True},
    #    # A foreign key to the object the images belong to: "more in this style" then
    #    # ranks those objects (one image each), never the viewed image's own.
    #    "group": "product",
    #    # A lookup from the model to a category's name (the demo: "category__name";
    #    # Oscar's images: "product__categories__name", the first in name order where a
    #    # product has several): the analytics' per-category table, and the policy
    #    # learns which styles suit which category (where the data show categories
    #    # differ). Without it, or where an object has none, its images are
    #    # "Uncategorised" and get the shop's best styles. Through forward relations
    #    # only ("category__name"), pages read it off objects fetched with it joined;
    #    # otherwise it costs a query per page for images new to the process.
    #    "category": "product__categories__name"}
    "SOURCE_MODELS": {},
    # Variants are only shown to customers once approved, unless this is True.
    "AUTO_APPROVE": False,
    # Output sizes (longer side, px) are snapped up to these buckets to bound the
    # variant space; DEFAULT_SIZE (one of them) when a request names no size.
    "SIZES": [256, 512, 768, 1024],
    "DEFAULT_SIZE": 768,
    # Output format when a request names none: one of stylestore.engine.formats.FORMATS.
    "DEFAULT_FORMAT": "webp",
    # Encoder quality (1-100) for WebP and JPEG output.
    "QUALITY": 85,
    # Where variant files are written: a key of Django's STORAGES, and the folder in it.
    "STORAGE": "default",
    "UPLOAD_TO": "stylestore/variants",
    # The folder (in STORAGE) of the product masks, one small PNG per photo content.
    "MASKS_UPLOAD_TO": "stylestore/masks",
    # --- Image gate (stylestore.engine.gate). Every Django caller passes these three to
    # the gate (uploads, model validation, source hashing, worker decodes, stylize_file)
    # through ``image_limits()``; the engine's own caps are only its defaults for callers
    # outside Django. Anything over them is refused from its headers, before decoding.
    "MAX_PIXELS": 40_000_000,
    "MAX_UPLOAD_BYTES": 25 * 1024 * 1024,
    # Bytes that decoding and re-encoding one image may allocate, estimated from its
    # headers by format, mode and bit depth: what keeps a small file from taking a web
    # process's memory. 300 MB admits about 35 MP of 8-bit colour and 6 MP of lossless
    # WebP; 40 MP colour photos need about 350 MB.
    "MAX_DECODE_MEMORY": 300 * 1000 * 1000,
    # --- Engine (read by the workers; web processes never load it)
    # "auto" uses CUDA (fp16) when present, the CPU otherwise; or "cpu", "cuda", "cuda:1".
    "DEVICE": "auto",
    # "fast" (fp16 on CUDA, bf16 on CPUs that multiply bf16 in hardware, else fp32) or
    # "exact" (fp32 everywhere). None: the STYLESTORE_ENGINE_PRECISION environment
    # variable, else "fast".
    "ENGINE_PRECISION": None,
    # torch.compile the networks: True / False, or None for the engine's default (on for
    # CUDA, off on the CPU, where it gains 5-20% for 10-110 s of compiling per size) or
    # the STYLESTORE_ENGINE_COMPILE environment variable.
    "ENGINE_COMPILE": None,
    # torch threads per worker process on the CPU (e.g. cores // workers, so workers do
    # not oversubscribe the cores). None: STYLESTORE_ENGINE_THREADS, else torch's default.
    "ENGINE_THREADS": None,
    # --- The quality gate (stylestore.variants.quality): a variant that fails is held
    # for review and never shown until approved on purpose, even with AUTO_APPROVE.
    # PRODUCT_DELTA_E: most mean CIEDE2000 (lightness included) between photo and variant
    # over the product, when colours are to be preserved (3: about where a difference
    # becomes noticeable side by side). STRUCTURE: least SSIM of the product's luminance
    # (the product's shape and detail survived). STYLE_VISIBILITY: least visibility of
    # the style (0: the photo, 1: the full stylization) where it is to show around the
    # product (region "all" or "background"): a product that fills its photo leaves the
    # style nowhere to go, and its variants look like the photo, no look to offer. Off
    # by default (a shop turning it on sees such variants held for review); 0.05 holds
    # the demo's full-frame textile (0.00-0.03) and no other demo variant (0.07 and up).
    # None switches a check off.
    "QUALITY_GATE": {"PRODUCT_DELTA_E": 3.0, "STRUCTURE": 0.5, "STYLE_VISIBILITY": None},
    # --- Jobs
    # Executions per job (a worker that dies mid-job counts as one).
    "MAX_ATTEMPTS": 3,
    # How long a claimed job stays its worker's without news. The worker renews the
    # lease every LEASE_SECONDS / 3 while it renders (a heartbeat), so a slow render
    # keeps its job and only a dead worker's lease runs out; then the job is re-queued
    # (and taken over) by the next worker to finish a task or beat, else by the
    # per-minute sweep. So the lease need not cover a render (django-q2's timeout ends
    # hung ones, heartbeat included); it bounds how long the jobs of a dead worker on
    # another machine wait (on the same machine, a worker whose process is gone is seen
    # within seconds). At least 15 (checked: two missed beats, a slow database, must not
    # pass for a death); over 60 it breaks the one-minute recovery (warned).
    "LEASE_SECONDS": 30,
    # Backoff before a failed job's next attempt: this, doubled per attempt.
    "RETRY_BACKOFF_SECONDS": 30,
    # Jobs of one style are rendered together, this many images per forward pass.
    "BATCH_SIZE": 8,
    # django-q2 cluster (queue) name that stylization tasks go to; None = the default
    # cluster. Point GPU workers at a dedicated cluster name to keep web work off them.
    "TASK_CLUSTER": None,
    # --- Webhook (stylestore.variants.webhook): a POST of JSON to this URL on each event
    # below, sent by a task (never by the rendering worker itself), retried with backoff.
    # None: no webhook. The body is signed with WEBHOOK_SECRET (required with a URL) in the
    # header X-Stylestore-Signature: "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>";
    # a receiver recomputes it and refuses old timestamps (replays).
    "WEBHOOK_URL": None,
    "WEBHOOK_SECRET": "",
    # Which events are posted: "batch.finished" (an Apply style batch is done or was
    # cancelled) and "variant.ready" (one variant rendered; one request per image).
    "WEBHOOK_EVENTS": ["batch.finished", "variant.ready"],
    # Deliveries per event (the first included) and the wait before the second; it
    # doubles per attempt (30 s, 60 s, 120 s...). A 2xx answer within WEBHOOK_TIMEOUT
    # seconds is a delivery.
    "WEBHOOK_MAX_ATTEMPTS": 5,
    "WEBHOOK_BACKOFF_SECONDS": 30,
    "WEBHOOK_TIMEOUT": 10,
    # --- Personalization
    # When True, nothing is stored about a visitor (no cookie, no events) until the
    # consent cookie (CONSENT_COOKIE) says they agreed; they see the population's best.
    "CONSENT_REQUIRED": False,
    "CONSENT_COOKIE": "stylestore_consent",
    # The consent cookie (or X-Visitor-Consent header) values that mean "I agree",
    # compared without case and surrounding spaces. Only these count: any other value
    # (absent, empty, "reject", "necessary", "undefined"...) stores nothing. Set it to
    # what the shop's consent banner writes.
    "CONSENT_GRANTED_VALUES": ["1", "true", "yes", "granted", "accepted"],
    # The signed visitor-key cookie and its lifetime in seconds.
    "VISITOR_COOKIE": "stylestore_vid",
    "VISITOR_COOKIE_AGE": 365 * 24 * 3600,
    # Events, hourly and viewer counters and idle visitors older than this are purged
    # daily.
    "EVENT_RETENTION_DAYS": 90,
    # What the events endpoint accepts, in DRF's rate format ("N/second|minute|hour|day";
    # None switches one off): events per client address (as the API's rate limits tell
    # it, see NUM_PROXIES) and per visitor, and visitors made by requests that bring
    # none, per address. Each event writes at most two rows (a click whose impression
    # was lost writes that too), so one address adds at most 2 x IP rows per period.
    "EVENT_BUDGETS": {"IP": "3000/hour", "VISITOR": "1000/hour", "NEW_VISITORS_PER_IP": "60/hour"},
    # Most impressions of one visitor a UTC day that count as evidence for the shop-wide
    # counters the population model learns from (StyleHourlyStats; and ViewerDailyStats,
    # the look each product's viewers click) and the analytics;
    # their later impressions, and the clicks and add to carts answering those, are
    # still logged (StyleEvent.counted false), and still teach the visitor's own state.
    # Purchases always count. A crawler that runs the page's script sees
    # hundreds of images, is held on one look, and never clicks: uncapped, it swamps
    # that style's counters with impressions that cannot click, and the policy leaves
    # what may be the best style. In bench/personalization.py's "bots" world (a fifth of
    # the visitors are crawlers, shoppers as in "no_signal"), the shoppers' CTR against
    # the best single style's, paired on tuning seeds: crawlers viewing 200 products
    # each, 0.938 with every impression counted, 0.943 with 100 a day, 0.955 with 60,
    # 0.969 with 40 (1001-1032); viewing 600 each, 0.920, and 0.965 with 100
    # (1001-1008). The allowance has to be near what one shopper sees, or crawlers still
    # outweigh the shoppers. Its price: a shopper's impressions past it (a listing page
    # reports its two dozen cards, again on every return to it) are evidence the model
    # does without; no style is favoured by it. A shop whose customers browse long
    # listings and see few crawlers may raise it; None counts everything.
    "COUNTED_IMPRESSIONS_PER_DAY": 40,
    # Share of impressions that explore uniformly over the available styles (the price
    # of unbiased offline evaluation). Lower costs less but makes the off-policy
    # estimates rest on fewer impressions (weights up to 1/epsilon); at 0.01
    # bench/personalization.py's replayed intervals held the truth in 500 of 512 on its
    # tuning seeds (97.7 %; 494 at 0.02, which cost the worlds without usable taste
    # about half a point more).
    # The policy's other constants are fixed in
    # stylestore.personalization.policy.PolicyParams.
    "EXPLORATION_EPSILON": 0.01,
    # Longest seconds each process keeps the population model before refitting it from
    # the counters, the current hour's included. While the counters grow fast for what
    # they hold (a new shop's first minutes, whatever its traffic) it refits sooner, down
    # to every second (stylestore.personalization.refits). Processes refit on the same
    # clock buckets (see stylestore.personalization.population). A product's viewer
    # counters (stylestore.personalization.viewers) are kept this long.
    "POPULATION_REFIT_SECONDS": 60,
    # Share of consenting visitors (drawn once per visitor) who see the original photos
    # everywhere: the control group behind the analytics' "styled vs original". 0.10
    # measures styling's effect within weeks for most shops; 0 turns the control off.
    "CONTROL_SHARE": 0.0,
    # Whether the original photo is one more look the policy may choose for an image
    # that has variants (learned, explored, remembered and counted like a style, as
    # "Original photo"), so it wins where it earns more. Off by default: turning it on
    # shows some visitors original photos the shop chose to style, and makes the
    # control comparison "the policy, originals included, vs original photos"; a shop
    # opts in knowingly. The control group and a customer's pick of the original are
    # unchanged either way.
    "ORIGINAL_AS_ARM": False,
    # What a customer's pick in the style picker applies to: "shop" (every product
    # shows the picked look where it has it, until they let the shop choose again) or
    # "product" (only the images of the product it was made on, all of them where the
    # source model's "group" names the product; the other products keep their own
    # looks). The picker says which.
    "PICK_SCOPE": "shop",
    # The outcome the policy learns to win, counted as its "success" both in the
    # population model and in each visitor's state: "click" (the most data, the
    # shallowest signal), "add_to_cart" or "purchase" (closest to sales, but sparse: a
    # shop needs many more visitors before the policy can tell styles apart). Outcomes
    # deeper than the reward add evidence to a visitor's state as add to carts do;
    # shallower ones teach the policy nothing. The analytics' headline reports it.
    "REWARD": "click",
}

#: The values some settings accept, checked when read (a clear ImproperlyConfigured).
CHOICES = {"REWARD": ("click", "add_to_cart", "purchase"), "PICK_SCOPE": ("shop", "product"),
           "ORIGINAL_AS_ARM": (False, True)}


class StylestoreSettings:
    """Attribute access to ``settings.STYLESTORE`` with defaults and validation."""

    def __init__(self, defaults=None):
        self.defaults = defaults or DEFAULTS
        self._cached = set()

    @property
    def user_settings(self):
        if not hasattr(self, "_user_settings"):
            from django.conf import settings

            self._user_settings = getattr(settings, "STYLESTORE", {})
        return self._user_settings

    def __getattr__(self, attr):
        if attr not in self.defaults:
            raise AttributeError(f"Invalid STYLESTORE setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        if isinstance(value, dict) and isinstance(self.defaults[attr], dict):
            value = {**self.defaults[attr], **value}
        if attr in CHOICES and value not in CHOICES[attr]:
            raise ImproperlyConfigured(f"STYLESTORE[{attr!r}] must be one of "
                                       f"{', '.join(map(repr, CHOICES[attr]))}; got {value!r}.")
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self):
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            delattr(self, "_user_settings")


stylestore_settings = StylestoreSettings(DEFAULTS)


def image_limits() -> dict:
    """The gate's keyword arguments, from the settings: one place for every caller."""
    return {"max_pixels": stylestore_settings.MAX_PIXELS, "max_bytes": stylestore_settings.MAX_UPLOAD_BYTES,
            "max_memory": stylestore_settings.MAX_DECODE_MEMORY}


def reload_settings(*, setting, **kwargs):
    """Forget the cached values when ``STYLESTORE`` changes (``override_settings``);
    connected in ``stylestore.signals``."""
    if setting == "STYLESTORE":
        stylestore_settings.reload()
