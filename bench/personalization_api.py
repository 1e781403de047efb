"""The personalization simulation's shoppers, sent through a live shop's public REST API.

    .venv/bin/python bench/personalization_api.py                          # no_signal and visual, seed 1
    .venv/bin/python bench/personalization_api.py --worlds unrelated --seeds 1 2 --visitors 600

``bench/personalization.py`` calls the policy in process and mirrors, in a few lines,
what the Django layer does around it: the counters the population model learns from,
the refits, the remembered looks, the crawler allowance. This benchmark checks that
mirror. It builds the same worlds (``personalization.World``, 48 products by default,
as the outside measurement of the personalization issue had), seeds a throw-away demo
shop with them (one preset style per world style with the world's style vector, one
product per world product with its photo embedding and category, and a ready variant
wherever the world has one), serves it with gunicorn (two processes, each with its own
population model, as a deployment has), and lets the world's visitors shop through
the API only, as a headless storefront would: per view, a ``POST v1/visitor/events/``
with the view, ``GET v1/sources/<reference>/personalized/`` for the image, then one more
events post with its impression and the click and add to cart the world draws
(``--expect-view``: the README's two-request flow instead, the image asked for with
``expect_view=true`` and the view sent in the batch before the impression).
``--threads`` visitors shop at once, so a visitor's outcomes reach the model while
others shop; the model is refitted at least every ``--refit-seconds`` (the setting
``POPULATION_REFIT_SECONDS``; 3 s is about as many visitors between refits as the
in-process simulation's 20 at the default rate, and the shop's 60 s with
``--refit-every`` at its visitors a minute compares a busier shop), and sooner while its
counters grow fast (``refits.RefitClock``, as in process). Once the visitors are gone, the shop's
hourly counters must hold every impression and click they sent (a visitor's first
``COUNTED_IMPRESSIONS_PER_DAY``), and its viewer counters each of them once per product
among the visitor's recent views, or the run stops with the difference.

The same visitors (the same products viewed, in the same order) are then run through
the in-process simulation, and both are reported the same way: the policy's true CTR
against the oracle, the best single style and a random style, per phase (the first
``--cold`` visitors, then the rest). Each run is one unit of the intervals, so one seed
gives point estimates only. Figures far apart mean the Django layer does not do what
the simulation assumes; close figures let the in-process simulation, hundreds of times
faster, stand for the shop. Clicks are drawn per visitor here (requests from several
threads arrive in no fixed order), so the two runs are not paired click for click.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
import personalization as simulation  # noqa: E402

#: Exit status when the shop fails (a refused request, a count that does not match what
#: was sent, a set-up step); 1 is a missed target.
SHOP_FAILED = 2

SETTINGS = textwrap.dedent('''
    """The demo shop as bench/personalization_api.py runs it (written by it)."""
    from shop.settings import *  # noqa: F401,F403
    from shop.settings import REST_FRAMEWORK, STYLESTORE

    DEBUG = False
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    STYLESTORE = {{
        **STYLESTORE, "AUTO_APPROVE": True, "CONTROL_SHARE": 0.0, "POPULATION_REFIT_SECONDS": {refit},
        "ORIGINAL_AS_ARM": {original_arm}, "COUNTED_IMPRESSIONS_PER_DAY": {counted},
        # Every simulated visitor comes from 127.0.0.1: the budgets per address are off.
        "EVENT_BUDGETS": {{"IP": None, "VISITOR": None, "NEW_VISITORS_PER_IP": None}},
    }}
    REST_FRAMEWORK = {{**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {{
        "stylestore_anon": None, "stylestore_user": None, "stylestore_visitor": None}}}}
''')

SEED = textwrap.dedent('''
    import io, json, os
    from django.core.files.base import ContentFile
    from django.utils import timezone
    from PIL import Image
    from shop.models import Category, Product
    from stylestore.models import SourceImage, Style
    from stylestore.variants import requests, state
    from stylestore.variants.files import save_atomically, variant_name

    world = json.loads(open(os.environ["BENCH_WORLD"]).read())
    styles = [Style.objects.create(name=f"World style {i}", slug=f"world-style-{i}", kind=Style.Kind.PRESET,
                                   preset_weights={str(i): 1.0}, style_vector=vector)
              for i, vector in enumerate(world["styles"])]
    categories = {}
    products = []
    for p, category in enumerate(world["categories"]):
        if category not in categories:
            categories[category] = Category.objects.create(name=f"Category {category}", slug=f"category-{category}")
        photo = io.BytesIO()
        Image.new("RGB", (64, 64), (40 * (p % 6), 90, 200 - (3 * p) % 200)).save(photo, "PNG")
        products.append(Product.objects.create(
            name=f"World product {p}", slug=f"world-product-{p}", category=categories[category], price=10,
            image=ContentFile(photo.getvalue(), name=f"world-product-{p}.png")))
    for i, style in enumerate(styles):
        ready = [product for product, row in zip(products, world["ready"]) if row[i]]
        ids = requests.request_for_objects(ready, "image", [style], requests.RenderRequest(max_side=64),
                                           enqueue=False).ids
        for row in state.claim(ids):
            with row.source.get_field_file().open("rb") as photo:
                data = photo.read()
            name = save_atomically(variant_name(row), data)
            state.finish(row, name=name, width=64, height=64, size=len(data), metrics={}, timings={})
    for product, vector in zip(products, world["products"]):
        SourceImage.objects.filter(object_id=str(product.pk), field_name="image").update(
            embedding=vector, updated_at=timezone.now())
    print(json.dumps({"products": [p.pk for p in products], "styles": [s.pk for s in styles]}))
''')

#: What the shop counted and learnt, read from its database once the visitors are gone.
LEARNT = textwrap.dedent('''
    import json
    from django.db.models import Sum
    from stylestore.models import StyleHourlyStats, ViewerDailyStats
    from stylestore.personalization import population
    counted = StyleHourlyStats.objects.aggregate(impressions=Sum("impressions"), clicks=Sum("clicks"))
    credited = ViewerDailyStats.objects.aggregate(impressions=Sum("impressions"), clicks=Sum("clicks"))
    print(json.dumps({"history_weight": population.global_model().history_weight, **counted,
                      "credited": [credited["impressions"] or 0, credited["clicks"] or 0]}))
''')


class Shopper:
    """One thread's keep-alive connection, shopping as visitor after visitor."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(self, method, path, headers, body=None):
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        if response.status not in (200, 202):
            raise RuntimeError(f"{method} {path}: {response.status} {content[:300]!r}")
        return json.loads(content) if content else None


class Visits:
    """The world's visitors, drawn up front in the order the in-process simulation
    draws them, and what each was shown through the API."""

    def __init__(self, world, visitors, products, styles, expect_view=False):
        self.world = world
        self.expect_view = expect_view
        self.plans = []
        for _ in range(visitors):
            base, view, views = world.visitor()
            self.plans.append((base, [view(t) for t in range(views)]))
        self.products = products
        self.arm = {pk: i for i, pk in enumerate(styles)}
        arms = len(world.keys)
        self.truths = np.zeros((visitors, simulation.IMPRESSIONS, arms))
        self.readies = np.zeros((visitors, simulation.IMPRESSIONS, arms), dtype=bool)
        self.policy = np.zeros(visitors)
        self.reasons = {}
        self.sent = {"impression": 0, "click": 0}
        #: The same, each counted once per product among the visitor's recent views when
        #: it was sent, as the shop credits its viewer counters (a styled look only).
        self.credited = {"impression": 0, "click": 0}
        self.next = 0
        self.lock = threading.Lock()
        self.error = None

    def take(self):
        with self.lock:
            if self.error is not None or self.next >= len(self.plans):
                return None
            self.next += 1
            return self.next - 1

    def shop(self, port, seed):
        shopper = Shopper(port)
        try:
            while (v := self.take()) is not None:
                self.visit(shopper, v, seed)
        except Exception as exc:  # reported by the main thread; the other threads stop
            with self.lock:
                self.error = exc

    def visit(self, shopper, v, seed):
        world = self.world
        base, views = self.plans[v]
        outcomes = np.random.default_rng([seed, simulation.WORLDS.index(world.kind), 2, v])
        headers = {"X-Visitor-Consent": "1"}
        reasons, sent, credited = {}, {"impression": 0, "click": 0}, {"impression": 0, "click": 0}
        recent = {}  # product -> when first viewed, as the shop keeps recent views (a visit is quick)
        for t, (product, taste) in enumerate(views):
            reference = f"shop.product:{self.products[product]}"
            # The view first, as the README's headless storefront does: the image is then
            # chosen knowing it, as the shop's own product page chooses (expect_view).
            # With --expect-view the image is asked for as if it were, and the view goes
            # with the impression.
            view = {"kind": "view", "source": reference}
            if not self.expect_view:
                viewed = shopper.send("POST", "/api/v1/visitor/events/", headers, json.dumps([view]))
                headers["X-Visitor-Id"] = viewed["visitor"]
            if product not in recent:
                recent[product] = t
                recent = dict(sorted(recent.items(), key=lambda item: item[1])[-simulation.MAX_RECENT_VIEWS:])
            query = "?expect_view=true" if self.expect_view else ""
            image = shopper.send("GET", f"/api/v1/sources/{reference}/personalized/{query}", headers)
            headers["X-Visitor-Id"] = image["visitor"]
            truth = world.truth(base, taste)
            style = image["style"]
            # The original photo: the world's original arm, or no one's taste.
            p_click = world.original_truth(base) if style is None else float(truth[self.arm[style["id"]]])
            if t < simulation.IMPRESSIONS:
                self.truths[v, t], self.readies[v, t] = truth, world.ready[product]
            self.policy[v] += p_click
            reasons[image["reason"]] = reasons.get(image["reason"], 0) + 1
            batch = [view] if self.expect_view else []
            if image["choice_id"]:
                batch.append({"kind": "impression", "choice": image["choice_id"]})
                if outcomes.random() < p_click:
                    batch.append({"kind": "click", "choice": image["choice_id"]})
                    if outcomes.random() < simulation.CART_RATE:
                        batch.append({"kind": "add_to_cart", "choice": image["choice_id"]})
            for event in batch:
                if event["kind"] in sent:
                    sent[event["kind"]] += 1
                    if style is not None and sent["impression"] <= simulation.COUNTED_IMPRESSIONS_PER_DAY:
                        credited[event["kind"]] += len(recent)
            if batch:
                shopper.send("POST", "/api/v1/visitor/events/", headers, json.dumps(batch))
        # The shop counts a visitor's first impressions of the day only (a crawler's
        # later ones, which never click).
        sent["impression"] = min(sent["impression"], simulation.COUNTED_IMPRESSIONS_PER_DAY)
        with self.lock:
            for key, n in reasons.items():
                self.reasons[key] = self.reasons.get(key, 0) + n
            for key, n in sent.items():
                self.sent[key] += n
                self.credited[key] += credited[key]


def run_world(kind, seed, args):
    """One world and seed through a fresh shop, and the same visitors in process."""
    world = simulation.World(kind, seed, products=args.products)
    settings = SETTINGS.format(refit=args.refit_seconds, original_arm=kind == "original_best",
                               counted=simulation.COUNTED_IMPRESSIONS_PER_DAY)
    shop = load.Shop(args.workers, args.server_threads, settings)
    try:
        description = shop.dir / "world.json"
        description.write_text(json.dumps({
            "styles": world.style_vectors.round(5).tolist(),
            "products": world.product_vectors.round(5).tolist(),
            "categories": world.category.tolist(),
            "ready": world.ready[:, :simulation.STYLES].tolist(),
        }))
        shop.env["BENCH_WORLD"] = str(description)
        shop.manage("migrate", "--noinput", "-v0")
        seeded = json.loads(shop.manage("shell", "-c", SEED).strip().splitlines()[-1])
        shop.start()
        visits = Visits(world, args.cold + args.visitors, seeded["products"], seeded["styles"], args.expect_view)
        started = time.perf_counter()
        threads = [threading.Thread(target=visits.shop, args=(shop.ports[i % len(shop.ports)], seed))
                   for i in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if visits.error is not None:
            raise SystemExit(f"{kind} seed {seed}: {visits.error}\n{(shop.dir / 'gunicorn.log').read_text()[-3000:]}")
        elapsed = time.perf_counter() - started
        learnt = json.loads(shop.manage("shell", "-c", LEARNT).strip().splitlines()[-1])
    finally:
        shop.stop()
    visitors = len(visits.plans)
    sent = (visits.sent["impression"], visits.sent["click"])
    if (learnt["impressions"], learnt["clicks"]) != sent:
        raise SystemExit(f"{kind} seed {seed}: the shop counted {learnt['impressions']} impressions and "
                         f"{learnt['clicks']} clicks of the {sent[0]} and {sent[1]} sent")
    if learnt["credited"] != [visits.credited["impression"], visits.credited["click"]]:
        raise SystemExit(f"{kind} seed {seed}: the shop credited its products' viewers with {learnt['credited']} "
                         f"impressions and clicks, not the {visits.credited} sent")
    through_api = simulation.Run(
        simulation.baselines(visits.truths, visits.readies, visits.policy, seed), np.zeros(visitors, dtype=bool),
        np.zeros(visitors), np.zeros(visitors), sent[1], visits.reasons, [], learnt["history_weight"])
    in_process = simulation.simulate(simulation.World(kind, seed, products=args.products), seed, visitors,
                                     simulation.Cadence(args.refit_every, at_once=args.threads),
                                     simulation.PolicyParams())
    return through_api, in_process, elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", nargs="+", choices=simulation.WORLDS, default=["no_signal", "visual"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="evaluation seeds (default 1)")
    parser.add_argument("--products", type=int, default=48)
    parser.add_argument("--cold", type=int, default=300, help="cold-start visitors of an empty shop (default 300)")
    parser.add_argument("--visitors", type=int, default=300, help="visitors after the cold start (default 300)")
    parser.add_argument("--threads", type=int, default=6, help="visitors shopping at once (default 6)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes (default 2)")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per gunicorn process (default 4)")
    parser.add_argument("--refit-seconds", type=int, default=3,
                        help="POPULATION_REFIT_SECONDS of the shop (default 3)")
    parser.add_argument("--refit-every", type=int, default=20,
                        help="visitors between refits of the in-process simulation (default 20)")
    parser.add_argument("--expect-view", action="store_true",
                        help="two requests per view: the image with expect_view=true, then the view, the impression "
                             "and its outcomes in one batch (default: the view posted before the image is asked for)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"personalization through the API: seeds {args.seeds}; per world and seed {args.cold} cold-start "
          f"visitors of an empty shop of {args.products} products, then {args.visitors}; {args.threads} at once; "
          f"refit every {args.refit_seconds} s (in process: every {args.refit_every} visitors, as many at once)")
    phases = simulation.run_phases(args.cold, args.visitors)
    failures = 0
    for kind in args.worlds:
        try:
            runs = [run_world(kind, seed, args) for seed in args.seeds]
        except SystemExit as exc:
            if not isinstance(exc.code, str):
                raise
            print(exc.code, file=sys.stderr)
            return SHOP_FAILED
        rate = sum(len(api.sums["policy"]) for api, _, _ in runs) / sum(elapsed for _, _, elapsed in runs)
        print(f"\n  [{kind}: through the API, {rate:.1f} visitors/s]", end="")
        failures += simulation.report(kind, [api for api, _, _ in runs], phases)
        print(f"  [{kind}: the same visitors in process]", end="")
        simulation.report(kind, [local for _, local, _ in runs], phases)
    print(f"\n  {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
