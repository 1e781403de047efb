"""Fill the demo shop with a catalogue at scale: load data for the web and database side.

N products with small generated photos (64 px), 20 image styles, one ready variant of
every product in every style, and M personalization events spread over visitors and
days, with the hourly counters the population model and analytics read and the
counters of each product's viewers the learnt look reads.

The variant files are real images but tiny (64 px, one picture per style shared by
every product): they exist so that pages, the API and the admin meet real rows and real
storage names, not to be looked at. No engine runs. Rows are written with bulk_create
in chunks, so no signal fires and no job is queued.

Idempotent: everything has a fixed name (slug, visitor key, choice id) derived from its
index, a second run adds only what is missing, and a larger N or M adds the difference.
"""
import hashlib
import io
import random
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, FloatField, Q, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone
from PIL import Image

from shop.models import Category, Product
from stylestore.management.progress import ProgressBar, unstyled
from stylestore.models import (SourceImage, Style, StyleEvent, StyleHourlyStats, StylizedImage, ViewerDailyStats,
                               Visitor, params_hash)
from stylestore.personalization.events import credited_views
from stylestore.personalization.population import OUTCOME_COUNTERS
from stylestore.storage import variant_storage
from stylestore.variants.files import variant_name

CHUNK = 2000
STYLES = 20
PHOTO_SIDE = 64
VECTOR_DIM = 100  # the style predictor's space, as the workers compute it
VISITOR_PREFIX = "5ca1e"  # fixture visitor keys: 5ca1e + 27 hex digits of the index
SESSION = 10  # events per visit: a view, seven impressions, a click, an add to cart
Kind = StyleEvent.Kind


def jpeg(seed, side=PHOTO_SIDE):
    """A small photo-like JPEG: a two-colour gradient that differs by ``seed``."""
    rng = random.Random(seed)
    a = tuple(rng.randrange(256) for _ in range(3))
    b = tuple(rng.randrange(256) for _ in range(3))
    img = Image.linear_gradient("L").resize((side, side)).rotate(rng.randrange(360))
    img = Image.composite(Image.new("RGB", (side, side), a), Image.new("RGB", (side, side), b), img)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def webp_of(data):
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, "WEBP", quality=60)
    return buf.getvalue()


def vector(seed):
    rng = random.Random(seed)
    return [round(rng.gauss(0, 1), 4) for _ in range(VECTOR_DIM)]


def chunks(items, size=CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Command(BaseCommand):
    help = ("Fill the database with a scale fixture: N products with small photos, 20 styles with a ready variant "
            "of each product (tiny real files: load data), and M personalization events. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=100, help="N: products (default 100)")
        parser.add_argument("--events", type=int, default=10_000, help="M: personalization events (default 10,000)")
        parser.add_argument("--visitors", type=int, default=None,
                            help="visitors the events are spread over (default: one per 100 events)")
        parser.add_argument("--days", type=int, default=30, help="the events are spread over this many past days")

    def handle(self, *args, **options):
        n, m, days = options["products"], options["events"], options["days"]
        visitors = options["visitors"] or max(1, m // 100)
        if n < 1 or m < 0 or days < 1 or visitors < 1:
            raise CommandError("--products, --visitors and --days must be at least 1, --events at least 0.")
        self.now = timezone.now()
        styles = self.ensure_styles()
        products = self.ensure_products(n)
        sources = self.ensure_sources(products)
        self.ensure_variants(sources, styles)
        self.ensure_visitors(visitors)
        self.ensure_events(m, visitors, days, sources, styles)
        # Planner statistics for the new rows, as PostgreSQL's autovacuum would gather.
        # SQLite has none until ANALYZE: without them it scanned every ready variant
        # (the status index) for a page's four products, 0.4 s at 200,000 variants.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(
            f"Scale fixture in place: {Product.objects.filter(slug__startswith='scale-').count()} products, "
            f"{len(styles)} styles, {StylizedImage.objects.filter(style__in=styles).count()} variants, "
            f"{StyleEvent.objects.filter(visitor__key__startswith=VISITOR_PREFIX).count()} events."
        ))

    def progress(self, what, total):
        self.stderr.write(what, style_func=unstyled)
        return ProgressBar(self.stderr, total, labels=("new", "kept"))

    def ensure_styles(self):
        styles = []
        for i in range(STYLES):
            slug = f"scale-style-{i:02d}"
            style = Style.objects.filter(slug=slug).first()
            if style is None:
                style = Style(name=f"Scale style {i:02d}", slug=slug, kind=Style.Kind.IMAGE, style_vector=vector(f"style-{i}"))
                style.image.save(f"{slug}.jpg", ContentFile(jpeg(f"style-{i}")), save=False)
                style.save()
            styles.append(style)
        return styles

    def ensure_products(self, n):
        category, _ = Category.objects.get_or_create(slug="scale", defaults={"name": "Scale fixture"})
        slugs = [f"scale-{i:06d}" for i in range(n)]
        have = set(Product.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        bar = self.progress(f"Products ({n}, small photos):", n)
        new = 0
        for batch in chunks([(i, s) for i, s in enumerate(slugs) if s not in have]):
            rows = []
            for i, slug in batch:
                name = f"products/scale/{slug}.jpg"
                if not default_storage.exists(name):
                    name = default_storage.save(name, ContentFile(jpeg(f"product-{i}")))
                rows.append(Product(name=f"Scale product {i:06d}", slug=slug, category=category,
                                    price=f"{10 + i % 90}.00", image=name, image_alt=f"Generated photo {i}"))
            Product.objects.bulk_create(rows)
            new += len(rows)
            bar.update(new, len(have))
        bar.update(new, len(have))
        bar.close()
        return list(Product.objects.filter(slug__in=slugs).order_by("slug").only("pk", "image", "slug"))

    def ensure_sources(self, products):
        ct = ContentType.objects.get_for_model(Product)
        known = set(SourceImage.objects.filter(content_type=ct, field_name="image").values_list("object_id", flat=True))
        missing = [p for p in products if str(p.pk) not in known]
        for batch in chunks(missing):
            rows = []
            for product in batch:
                with default_storage.open(product.image.name, "rb") as fh:
                    data = fh.read()
                rows.append(SourceImage(content_type=ct, object_id=str(product.pk), field_name="image",
                                        content_hash=hashlib.sha256(data).hexdigest(), width=PHOTO_SIDE,
                                        height=PHOTO_SIDE, embedding=vector(f"photo-{product.slug}")))
            SourceImage.objects.bulk_create(rows)
        by_object = {s.object_id: s for s in SourceImage.objects.filter(content_type=ct, field_name="image")}
        return [by_object[str(p.pk)] for p in products]

    def ensure_variants(self, sources, styles):
        storage = variant_storage()
        have = set(StylizedImage.objects.filter(style__in=styles).values_list("source_id", "style_id"))
        todo = [(source, style) for source in sources for style in styles if (source.pk, style.pk) not in have]
        pictures = {style.pk: webp_of(jpeg(f"variant-{style.slug}")) for style in styles}
        params = {"strength": 1.0, "preserve_color": True, "max_side": 256, "output_format": "webp", "region": "all"}
        bar = self.progress(f"Variants ({len(sources)} x {len(styles)} styles, tiny files):", len(sources) * len(styles))
        new = 0
        for batch in chunks(todo):
            rows = []
            for source, style in batch:
                row = StylizedImage(
                    source=source, style=style, source_hash=source.content_hash, style_fingerprint=style.fingerprint,
                    params_hash=params_hash(**params, engine=style.effective_engine, style_fingerprint=style.fingerprint),
                    engine=style.effective_engine, status=StylizedImage.Status.READY,
                    review=StylizedImage.Review.APPROVED, width=PHOTO_SIDE, height=PHOTO_SIDE,
                    file_size=len(pictures[style.pk]), started_at=self.now, finished_at=self.now, **params,
                )
                row.file = variant_name(row)
                if not storage.exists(row.file.name):
                    storage.save(row.file.name, ContentFile(pictures[style.pk]))
                rows.append(row)
            StylizedImage.objects.bulk_create(rows)
            new += len(rows)
            bar.update(new, len(have))
        bar.update(new, len(have))
        bar.close()

    def ensure_visitors(self, count):
        keys = [f"{VISITOR_PREFIX}{v:027x}" for v in range(count)]
        have = set(Visitor.objects.filter(key__startswith=VISITOR_PREFIX).values_list("key", flat=True))
        for batch in chunks([k for k in keys if k not in have]):
            Visitor.objects.bulk_create([Visitor(key=key, last_seen_at=self.now) for key in batch])

    def ensure_events(self, m, visitors, days, sources, styles):
        """Events ``0..m-1``; event ``i`` is always the same (its session's random
        generator is seeded with the session's number), so a rerun adds only the rest."""
        fixture = StyleEvent.objects.filter(visitor__key__startswith=VISITOR_PREFIX)
        start = fixture.count()
        visitor_ids = dict(Visitor.objects.filter(key__startswith=VISITOR_PREFIX).values_list("key", "pk"))
        available = [style.pk for style in styles]
        bar = self.progress(f"Events ({m} over {visitors} visitors and {days} days):", m)
        bar.update(0, start)
        for first in range(start, m, CHUNK):
            rows = [self.event(i, visitor_ids, visitors, days, sources, available) for i in range(first, min(m, first + CHUNK))]
            with transaction.atomic():
                StyleEvent.objects.bulk_create(rows)
            bar.update(first + len(rows) - start, start)
        bar.close()
        if m > start:
            self.rebuild_hourly_stats(styles)
            self.rebuild_viewer_stats(styles)

    def event(self, i, visitor_ids, visitors, days, sources, available):
        session, step = divmod(i, SESSION)
        rng = random.Random(session)
        visitor = visitor_ids[f"{VISITOR_PREFIX}{session % visitors:027x}"]
        at = self.now - timedelta(seconds=rng.uniform(60, days * 86400)) + timedelta(seconds=step)
        shown = [rng.choice(sources) for _ in range(SESSION)]
        looks = [rng.choice(available) for _ in range(SESSION)]
        # Steps 1-7 are impressions; the click (8) and add to cart (9) answer step 1's.
        target = 1 if step >= 8 else step
        common = {"visitor_id": visitor, "created_at": at, "source": shown[target]}
        if step == 0:
            return StyleEvent(kind=Kind.VIEW, **common)
        kind = {8: Kind.CLICK, 9: Kind.ADD_TO_CART}.get(step, Kind.IMPRESSION)
        return StyleEvent(
            kind=kind, style_id=looks[target], choice_id=f"{session:012x}{target:04x}",
            propensity=0.9 if target % 2 else 0.05, history_share=round(rng.random() / 2, 4),
            reason="history" if target % 2 else "global",
            available=available if kind == Kind.IMPRESSION else None, **common,
        )

    def rebuild_hourly_stats(self, styles):
        """The fixture styles' hourly counters, summed from their events in the database
        (what recording the events one by one would have added up to)."""
        share = Coalesce("history_share", 0.0, output_field=FloatField())
        sums = (
            StyleEvent.objects.filter(style__in=styles)
            .annotate(hour=TruncHour("created_at"))
            .values("style_id", "hour")
            .annotate(
                impressions=Count("pk", filter=Q(kind=Kind.IMPRESSION)),
                clicks=Count("pk", filter=Q(kind=Kind.CLICK)),
                add_to_carts=Count("pk", filter=Q(kind=Kind.ADD_TO_CART)),
                share_sum=Coalesce(Sum(share, filter=Q(kind=Kind.IMPRESSION)), 0.0),
                share_sq_sum=Coalesce(Sum(share * share, filter=Q(kind=Kind.IMPRESSION)), 0.0),
                click_share_sum=Coalesce(Sum(share, filter=Q(kind=Kind.CLICK)), 0.0),
            )
            .order_by()
        )
        with transaction.atomic():
            StyleHourlyStats.objects.filter(style__in=styles).delete()
            for batch in chunks(list(sums)):
                StyleHourlyStats.objects.bulk_create([StyleHourlyStats(**row) for row in batch])

    def rebuild_viewer_stats(self, styles):
        """The fixture's ``ViewerDailyStats``, summed from its events as the shop credits
        them (``events.credited_views``), per UTC day."""
        columns = {Kind.IMPRESSION: "impressions", **{Kind(kind): counts[0] for kind, counts in OUTCOME_COUNTERS.items()}}
        fixture = (StyleEvent.objects.filter(visitor__key__startswith=VISITOR_PREFIX)
                   .filter(Q(kind=Kind.VIEW) | Q(kind__in=list(columns), style__in=styles))
                   .order_by("visitor_id", "created_at", "pk")
                   .values_list("visitor_id", "kind", "source_id", "style_id", "created_at"))
        sums = {}
        visitor, views = None, {}
        for visitor_id, kind, source_id, style_id, at in fixture.iterator(chunk_size=CHUNK):
            if visitor_id != visitor:
                visitor, views = visitor_id, {}
            if kind == Kind.VIEW:
                views[source_id] = at.timestamp()
                continue
            for source in credited_views(views, at.timestamp()):
                row = sums.setdefault((source, style_id, at.date()), dict.fromkeys(columns.values(), 0))
                row[columns[kind]] += 1
        with transaction.atomic():
            ViewerDailyStats.objects.filter(style__in=styles).delete()
            for batch in chunks(list(sums.items())):
                ViewerDailyStats.objects.bulk_create([ViewerDailyStats(source_id=source, style_id=style, day=day, **counts)
                                                      for (source, style, day), counts in batch])
