"""What personalization costs a listing page: the Django side of choosing, per image.

    .venv/bin/python bench/choose_latency.py              # 300 pages (about half a minute)
    .venv/bin/python bench/choose_latency.py --pages 50   # quicker

A throwaway SQLite database (a temporary directory; nothing else is touched) holds a
listing of 24 products x 10 styles, every variant ready at two sizes, a global model
fitted from an hour of counters, and a returning visitor whose state is full (views,
impressions, clicks over all styles). Each page is a fresh request, as in production:

* **per page**: loading the visible variants of the 24 images (one query) and the
  visitor's state (one query);
* **per image**: ``page.styled_image`` after that: ``policy.choose``, signing the
  choice id, and building the URL, size and srcset. Timed one image at a time, so
  p50/p99 are per image;
* **the listing**: the demo shop's real ``shop/product_list.html`` (tags, prefetch,
  beacon) rendered through the visitor middleware, next to the same listing without
  personalization (the markup the shop had before: ``product.image.url``), and their
  ratio. Both include the product query.

Every figure is given twice: wall-clock, and the CPU time of this thread (SQLite runs
in-process, so that includes the queries). On a shared, busy machine the wall-clock
tail is the scheduler's, not ours; the CPU time is what the code costs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRODUCTS = 24
STYLES = 10
DIM = 100

BARE_LISTING = """{% extends "base.html" %}
{% block content %}
<h1>All products</h1>
<ul class="product-grid">
  {% for product in products %}
  <li class="product-card">
    <a href="{{ product.get_absolute_url }}">
      <img src="{{ product.image.url }}" alt="{{ product.image_alt|default:product.name }}" loading="lazy">
      <span class="product-name">{{ product.name }}</span>
      <span class="product-price">${{ product.price }}</span>
    </a>
  </li>
  {% endfor %}
</ul>
{% endblock %}
"""


def setup_django(workdir: Path):
    os.environ["SHOP_VAR_DIR"] = str(workdir)
    os.environ["SHOP_MEDIA_ROOT"] = str(workdir / "media")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed():
    """The catalogue, built with bulk inserts (no signals, no worker tasks)."""
    import numpy as np
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from shop.models import Category, Product
    from stylestore.models import SourceImage, Style, StyleHourlyStats, StylizedImage, Visitor
    from stylestore.personalization import embeddings, policy, population

    rng = np.random.default_rng(1)
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    products = Product.objects.bulk_create(
        [Product(name=f"Vase {i}", slug=f"vase-{i}", category=category, price="10.00", image=f"products/vase-{i}.jpg",
                 image_alt=f"Vase {i}") for i in range(PRODUCTS)]
    )
    shared = rng.normal(size=DIM)
    style_vectors = [rng.normal(size=DIM) + shared for _ in range(STYLES)]
    styles = Style.objects.bulk_create(
        [Style(name=f"Style {i}", slug=f"s{i}", kind=Style.Kind.PRESET, preset_weights={str(i): 1.0},
               style_vector=[float(x) for x in style_vectors[i]], fingerprint=f"{i:064x}") for i in range(STYLES)]
    )
    content_type = ContentType.objects.get_for_model(Product)
    sources = SourceImage.objects.bulk_create(
        [SourceImage(content_type=content_type, object_id=str(p.pk), field_name="image", content_hash=f"{p.pk:064x}",
                     embedding=[float(x) for x in style_vectors[i % STYLES] + rng.normal(size=DIM)])
         for i, p in enumerate(products)]
    )
    StylizedImage.objects.bulk_create(
        [StylizedImage(source=source, style=style, source_hash=source.content_hash, params_hash=f"{size:032x}",
                       style_fingerprint=style.fingerprint, status=StylizedImage.Status.READY,
                       review=StylizedImage.Review.APPROVED, strength=1.0, preserve_color=True, max_side=size,
                       output_format="webp", engine="preset", width=size, height=size * 2 // 3,
                       file=f"stylestore/{source.content_hash[:12]}/{style.pk}/{size}.webp")
         for source in sources for style in styles for size in (512, 768)]
    )
    last_hour = population.hour_start(timezone.now()) - timezone.timedelta(hours=1)
    StyleHourlyStats.objects.bulk_create(
        [StyleHourlyStats(style=style, hour=last_hour, impressions=2000, clicks=int(rng.integers(40, 120)),
                          share_sum=300.0, share_sq_sum=90.0, click_share_sum=15.0) for style in styles]
    )
    params = population.policy_params()
    table = embeddings.style_table()
    state = policy.VisitorState()
    for source in sources[:40] * 2:
        state.record_view(policy.view_preference(table, source.embedding, params.temperature), params)
    for style in styles[:5]:
        key = str(style.pk)
        state.record_impression(policy.Choice(key, 0.5, "global", state.history_share(key), key), params)
        state.record_click(key, params)
    visitor = Visitor.objects.create(key="0" * 32, state=state.to_dict())
    return visitor


def percentiles(samples):
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Timer:
    """Wall-clock and thread CPU time of the code inside, in nanoseconds."""

    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu

    def __enter__(self):
        self.start = time.perf_counter_ns(), time.thread_time_ns()

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter_ns() - self.start[0])
        self.cpu.append(time.thread_time_ns() - self.start[1])


def line(label, wall, cpu, scale, unit):
    (w50, w99), (c50, c99) = percentiles(wall), percentiles(cpu)
    return (f"  {label:<36} wall p50 {w50 / scale:7.2f} {unit}  p99 {w99 / scale:7.2f} {unit}   "
            f"cpu p50 {c50 / scale:7.2f} {unit}  p99 {c99 / scale:7.2f} {unit}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="stylestore-bench-") as workdir:
        setup_django(Path(workdir))
        from django.db import connection
        from django.template import engines
        from django.test import RequestFactory
        from django.test.utils import CaptureQueriesContext

        from shop.models import Product
        from shop.views import product_list
        from stylestore.personalization import identity, page

        visitor = seed()
        cookie = {"stylestore_vid": identity.sign_key(visitor.key)}
        factory = RequestFactory()
        bare = engines["django"].from_string(BARE_LISTING)

        def request():
            r = factory.get("/")
            r.COOKIES.update(cookie)
            return r

        def personalized_listing():
            identity.VisitorMiddleware(product_list)(request()).content

        def bare_listing():
            r = request()
            bare.render({"products": Product.objects.select_related("category")}, r)

        # Warm-up: template compilation, content types, the global model and embeddings.
        for _ in range(5):
            personalized_listing()
            bare_listing()
        with CaptureQueriesContext(connection) as queries:
            personalized_listing()

        per_page = ([], [])
        per_image = ([], [])
        for _ in range(args.pages):
            products = list(Product.objects.select_related("category"))
            with Timer(*per_page):
                context = identity.get_visitor(request())
                page.load_images(context, products, "image")
                context.state  # noqa: B018 - the one visitor query, timed with the page's loads
            for product in products:
                with Timer(*per_image):
                    page.styled_image(context, product, "image", size=512)

        listings = {"personalized": ([], []), "bare": ([], [])}
        for _ in range(args.pages):
            for name, render in (("personalized", personalized_listing), ("bare", bare_listing)):
                with Timer(*listings[name]):
                    render()

    print(f"Listing of {PRODUCTS} products x {STYLES} styles (2 sizes each), {args.pages} pages, "
          f"returning visitor with full state")
    print(f"  queries per personalized listing page: {len(queries)} (the product count for paging, categories, "
          f"products, variants, visitor)")
    print(line("per page, loads (variants + visitor)", *per_page, 1e6, "ms"))
    print(line("per image, choose + sign + render", *per_image, 1e3, "us"))
    print(line("listing, personalized", *listings["personalized"], 1e6, "ms"))
    print(line("listing, bare (no personalization)", *listings["bare"], 1e6, "ms"))
    for index, label in ((0, "wall"), (1, "cpu")):
        ratio = statistics.median(listings["personalized"][index]) / statistics.median(listings["bare"][index])
        print(f"  ratio personalized / bare, median {label}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
