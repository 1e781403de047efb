"""Per-request cost at two catalogue sizes, measured in the same run.

Usage: ``.venv/bin/python bench/scale.py [--small 100 --large 10000]
[--small-events 10000 --large-events 1000000] [--rounds 6] [--requests 10] [--dir DIR]``

Builds two throw-away shops (each its own SQLite database and media folder under
``--dir``, a temporary folder by default) with ``manage.py stylestore_scale_fixture``:
N products, 20 styles, a ready variant of every product in every style (tiny files:
load data) and M events. The fixture is idempotent, so a ``--dir`` kept from an earlier
run is reused as it is (building N = 10,000 and M = 10^6 takes this 2-core machine
several minutes).

One measuring process per shop (this script with ``--serve``) answers requests through
Django's test client, in process: what is measured is the shop's own work per request
(views, queries, templates), not a network. The two processes take turns in ABBA
rounds, one at a time, so drifting load on the machine affects both sizes alike. Each
round asks every request ``--requests`` times, for random products (and random pages
among the listing's first four) of that shop's catalogue, as a new visitor, a returning
visitor with events, and an admin. The table gives the pooled p95 at each size, their
ratio (goal: within 1.25x for the storefront and API) and the queries per request; the
same ratio of the measuring process's CPU time per request (SQLite runs inside it,
so that is the shop's and the database's work), which other work on a shared machine
does not inflate the way it inflates wall time; and the ratio of the medians, which
work done once a minute per process (the population refit, a photo index update) or a
full garbage collection does not move, wherever among a few hundred requests it lands.

Then, in the large shop: the analytics page (p95 of a few loads; goal under 2 s), the
population model's refit from the hourly counters (goal under 10 s), and the admin
pages' p95 (goal under 1 s). Last, in a copy of the large shop's database (the purge
deletes): the bytes the personalization tables and their indexes take per million events
(SQLite's ``dbstat``), and the retention purge (``events.purge_expired``, the daily
schedule's work) timed twice: with a retention one day shorter than the events span (a
day's worth, what the daily run meets) and with a one-day retention (nearly all of them,
the worst case; goal under a minute).
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (url pattern, who asks). ``{ref}`` a random product's reference, ``{slug}``
#: its slug, ``{page}`` one of the listing's first four pages.
REQUESTS = {
    "listing page": ("/?page={page}", "new"),
    "listing page, returning": ("/?page={page}", "returning"),
    "product page": ("/products/{slug}/", "new"),
    "product page, returning": ("/products/{slug}/", "returning"),
    "personalized API": ("/api/v1/sources/{ref}/personalized/", "returning"),
    "more in this style API": ("/api/v1/sources/{ref}/more-in-this-style/", "returning"),
    "variants API": ("/api/v1/sources/{ref}/variants/", "new"),
    "styles API": ("/api/v1/styles/", "new"),
    "jobs API": ("/api/v1/jobs/", "staff"),
    "admin products": ("/admin/shop/product/", "staff"),
    "admin variants": ("/admin/stylestore/stylizedimage/", "staff"),
}
ADMIN = ("jobs API", "admin products", "admin variants")
#: The fixture's events are spread over this many past days (its default).
FIXTURE_DAYS = 30


def shop_env(folder):
    # Throttling off: the benchmark measures serving requests, not refusing them.
    return {**os.environ, "SHOP_VAR_DIR": str(folder), "SHOP_MEDIA_ROOT": str(Path(folder) / "media"),
            "DJANGO_SETTINGS_MODULE": "shop.settings", "API_ANON_RATE": "1000000/second",
            "API_USER_RATE": "1000000/second", "DJANGO_DEBUG": "0", "STYLESTORE_LOG_LEVEL": "WARNING"}


def build(folder, products, events):
    env = shop_env(folder)
    (Path(folder) / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise's STATIC_ROOT
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "stylestore_scale_fixture", "--products", str(products),
                    "--events", str(events), "--days", str(FIXTURE_DAYS)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


# ------------------------------------------------------------------ measuring process

def serve():
    """Answer commands on stdin with one JSON line each: ``round N``, ``extras``."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from shop.models import Product
    from stylestore.conf import stylestore_settings
    from stylestore.models import Visitor
    from stylestore.personalization import caches, population
    from stylestore.personalization.identity import sign_key

    products = list(Product.objects.filter(slug__startswith="scale-").values_list("pk", "slug"))
    clients = {who: Client() for who in ("new", "returning", "staff")}
    visitor = Visitor.objects.filter(key__startswith="5ca1e").order_by("key").first()
    clients["returning"].cookies[stylestore_settings.VISITOR_COOKIE] = sign_key(visitor.key)
    User = get_user_model()
    staff = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", None)
    clients["staff"].force_login(staff)
    rng = random.Random(0)

    def url(pattern):
        pk, slug = rng.choice(products)
        return pattern.format(ref=f"shop.product:{pk}", slug=slug, page=rng.randint(1, 4))

    def timed(client, path):
        """Wall and CPU seconds of one request."""
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        elapsed = time.perf_counter() - started, time.process_time() - cpu
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        return elapsed

    for who, client in clients.items():  # cookies set, per-process caches warm
        for pattern, asker in REQUESTS.values():
            if asker == who:
                timed(client, url(pattern))
    for line in sys.stdin:
        command, *arg = line.split()
        if command == "round":
            out = {"ms": {}, "cpu_ms": {}, "queries": {}}
            for name, (pattern, who) in REQUESTS.items():
                times = [timed(clients[who], url(pattern)) for _ in range(int(arg[0]))]
                out["ms"][name] = [1000 * wall for wall, _ in times]
                out["cpu_ms"][name] = [1000 * cpu for _, cpu in times]
                with CaptureQueriesContext(connection) as queries:
                    timed(clients[who], url(pattern))
                out["queries"][name] = len(queries)
        else:  # extras
            analytics = [timed(clients["staff"], "/admin/stylestore/styleevent/analytics/") for _ in range(3)]
            refits = []
            for _ in range(3):
                caches.clear_caches()
                started = time.perf_counter()
                population.global_model()
                refits.append(1000 * (time.perf_counter() - started))
            out = {"analytics_ms": [1000 * wall for wall, _ in analytics],
                   "analytics_cpu_ms": [1000 * cpu for _, cpu in analytics], "refit_ms": refits}
        print(json.dumps(out), flush=True)


def retention(days_spanned):
    """Print one JSON line: the personalization tables' bytes, then two purges' seconds
    and row counts. Destructive: run on a copy of a shop's database."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    from stylestore.models import StyleEvent, StyleHourlyStats, ViewerDailyStats, Visitor
    from stylestore.personalization.events import purge_expired

    tables = [model._meta.db_table for model in (StyleEvent, Visitor, StyleHourlyStats, ViewerDailyStats)]
    with connection.cursor() as cursor:
        # An index's pages count for its table.
        cursor.execute("SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name "
                       "GROUP BY m.tbl_name")
        sizes = dict(cursor.fetchall())
    out = {"events": StyleEvent.objects.count(), "bytes": {table: sizes.get(table, 0) for table in tables},
           "purges": []}
    for days in (days_spanned - 1, 1):
        with override_settings(STYLESTORE={**settings.STYLESTORE, "EVENT_RETENTION_DAYS": days}):
            started = time.perf_counter()
            counts = purge_expired()
            out["purges"].append({"days": days, "seconds": time.perf_counter() - started, "deleted": counts})
    print(json.dumps(out), flush=True)


def measure_retention(folder, days_spanned):
    """``retention`` in a throw-away copy of ``folder``'s database."""
    with tempfile.TemporaryDirectory(prefix="stylestore-retention-") as copy:
        source, target = sqlite3.connect(Path(folder) / "db.sqlite3"), sqlite3.connect(Path(copy) / "db.sqlite3")
        source.backup(target)  # consistent, WAL included
        source.close()
        target.close()
        shutil.copytree(Path(folder) / "static", Path(copy) / "static")
        done = subprocess.run([sys.executable, __file__, "--retention", str(days_spanned)], cwd=ROOT,
                              env=shop_env(copy), check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


# ------------------------------------------------------------------ orchestration

def p95(values):
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100, help="products in the small shop")
    parser.add_argument("--large", type=int, default=10_000, help="products in the large shop")
    parser.add_argument("--small-events", type=int, default=10_000)
    parser.add_argument("--large-events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6, help="ABBA rounds (each shop measured once per round)")
    parser.add_argument("--requests", type=int, default=10, help="requests of each kind per round")
    parser.add_argument("--dir", type=Path, default=None, help="keep the shops here (reused when run again)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--retention", type=int, metavar="DAYS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve()
    if args.retention:
        return retention(args.retention)
    base = args.dir or Path(tempfile.mkdtemp(prefix="stylestore-scale-"))
    sizes = {"small": (args.small, args.small_events), "large": (args.large, args.large_events)}
    folders = {}
    for label, (n, m) in sizes.items():
        folders[label] = base / f"n{n}-m{m}"
        seconds = build(folders[label], n, m)
        print(f"{label} shop: N={n} products, M={m} events ({folders[label]}): fixture {seconds:.0f} s", flush=True)

    shops = {label: subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, env=shop_env(folder),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for label, folder in folders.items()}

    def ask(label, command):
        shops[label].stdin.write(command + "\n")
        shops[label].stdin.flush()
        line = shops[label].stdout.readline()
        if not line:
            raise SystemExit(f"the {label} shop's process died")
        return json.loads(line)

    ms = {label: {name: [] for name in REQUESTS} for label in shops}
    cpu_ms = {label: {name: [] for name in REQUESTS} for label in shops}
    queries = {label: {} for label in shops}
    try:
        for r in range(args.rounds):
            for label in (("small", "large") if r % 2 == 0 else ("large", "small")):
                result = ask(label, f"round {args.requests}")
                for name, values in result["ms"].items():
                    ms[label][name] += values
                    cpu_ms[label][name] += result["cpu_ms"][name]
                queries[label] = result["queries"]
        extras = ask("large", "extras")
    finally:
        for shop in shops.values():
            shop.stdin.close()
            shop.wait()

    (n_s, m_s), (n_l, m_l) = sizes["small"], sizes["large"]
    print(f"\np95 per request, {args.rounds} rounds x {args.requests} requests each, "
          f"N={n_s:,} (M={m_s:,}) vs N={n_l:,} (M={m_l:,})")
    print(f"{'request':28}{'p95 small ms':>14}{'p95 large ms':>14}{'ratio':>8}{'CPU ratio':>11}{'p50 ratio':>11}"
          f"{'queries':>10}  goal")
    for name in REQUESTS:
        small, large = p95(ms["small"][name]), p95(ms["large"][name])
        ratio, cpu_ratio = large / small, p95(cpu_ms["large"][name]) / p95(cpu_ms["small"][name])
        median_ratio = statistics.median(ms["large"][name]) / statistics.median(ms["small"][name])
        same = queries["small"][name] == queries["large"][name]
        q = f"{queries['small'][name]}{'' if same else '->' + str(queries['large'][name])}"
        goal = (f"< 1 s: {'PASS' if large < 1000 else 'FAIL'}" if name in ADMIN
                else f"<= 1.25x: {'PASS' if ratio <= 1.25 else 'FAIL'}")
        print(f"{name:28}{small:14.1f}{large:14.1f}{ratio:8.2f}{cpu_ratio:11.2f}{median_ratio:11.2f}{q:>10}  {goal}")
    analytics, refit = p95(extras["analytics_ms"]), min(extras["refit_ms"])
    print(f"\nlarge shop (M={m_l:,} events): analytics page p95 {analytics:.0f} ms "
          f"(CPU {p95(extras['analytics_cpu_ms']):.0f} ms) "
          f"({'PASS' if analytics < 2000 else 'FAIL'}: < 2 s), population model refit {refit:.0f} ms "
          f"({'PASS' if refit < 10_000 else 'FAIL'}: < 10 s)")

    kept = measure_retention(folders["large"], FIXTURE_DAYS)
    per_million = {table: size * 1e6 / kept["events"] for table, size in kept["bytes"].items()}
    print(f"\ndatabase growth per 10^6 events (SQLite, tables and their indexes, large shop): "
          f"{sum(per_million.values()) / 2**20:.0f} MiB ("
          + ", ".join(f"{table} {size / 2**20:.0f}" for table, size in per_million.items()) + ")")
    for purge in kept["purges"]:
        deleted = purge["deleted"]
        print(f"retention purge, {purge['days']}-day retention: {purge['seconds']:.1f} s for "
              f"{deleted['events']:,} events, {deleted['visitors']:,} visitors, {deleted['hourly_stats']:,} "
              f"hourly rows, {deleted['viewer_stats']:,} viewer rows ({'PASS' if purge['seconds'] < 60 else 'FAIL'}: < 1 min)")


if __name__ == "__main__":
    main()
