"""Web load: the product page with and without personalization, and the events endpoint.

Usage: ``.venv/bin/python bench/load.py [--rounds 30] [--threads 8] [--workers 2] [--server-threads 4]``
(needs ``wrk``: ``make wrk``)

Starts gunicorn on 127.0.0.1 against a throw-away copy of the demo shop (its own
SQLite database and media folder, seeded with the demo catalogue, three ready variants
per product and the style vectors and photo embeddings a worker computes), one
single-worker gunicorn per worker process, each on its own port with its share of
the visitors (``Shop.start`` says why), then measures requests/s and p50/p95/p99
latency, all in one run:

- ``page, personalized``: a product page for a consenting visitor with a visitor
  cookie and a history, so the images are chosen per visitor from the visitor's
  stored state. Before anything is measured, each visitor browses every product as a
  browser does: the page, then the beacon batch its script sends (the page's view and
  its main image's impression), so every visitor has a row and a learned state. The
  page itself writes nothing (its view travels with the beacon batch): the write is
  what the ``events`` row measures;
- ``page, not personalized``: the same pages without consent. The shop runs with
  ``STYLESTORE["CONSENT_REQUIRED"]``, so these visitors get no per-visitor state and
  see the globally best style: the difference between the two is what personalization
  costs;
- ``listing``: the product listing (every product's image chosen), with and without
  consent likewise;
- ``events``: ``POST /api/v1/visitor/events/`` with a batch of view events.

Each page is measured in paired rounds of one second each, in ABBA order (30
rounds of the product page by default, a third as many of the listing), each visitor
keeping its cookies throughout, so drifting load from other processes on the machine
affects both variants of a round alike. The overhead reported is the ratio of the
pooled p95s, with a 95% bootstrap interval over the rounds. Throttling is switched off in the
throw-away shop: the benchmark measures serving requests, not refusing them. Any
failed request is an error. The variants are downscaled copies of the product photos,
created through the job state machine (claim, write, finish): the benchmark measures
serving pages, and rendering real styles would only make the set-up slower.

The load generator is wrk (``make wrk`` installs Debian's package), one per server:
one thread and one keep-alive connection per visitor, each with that visitor's
cookies, so the client costs the two cores little next to the server. Python only seeds the shop and
makes the visitors browse. The whole run takes about two minutes.

This machine's speed drifts by tens of percent within minutes, so one run's p95
ratio moves by several points either way: read the interval, and the requests/s
change, before reading much into one figure.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CONSENT_COOKIE = "stylestore_consent=1"

SETTINGS = textwrap.dedent('''
    """The demo shop as the load benchmark runs it (written by bench/load.py)."""
    from shop.settings import *  # noqa: F401,F403
    from shop.settings import REST_FRAMEWORK, STYLESTORE

    DEBUG = False
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    # A handful of visitors from one address send all the load: the limits that exist to
    # stop exactly that (the events budgets, the API's throttles) are off.
    STYLESTORE = {**STYLESTORE, "CONSENT_REQUIRED": True, "AUTO_APPROVE": True,
                  "EVENT_BUDGETS": {"IP": None, "VISITOR": None, "NEW_VISITORS_PER_IP": None}}
    REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "stylestore_anon": None, "stylestore_user": None, "stylestore_visitor": None}}
''')

SEED = textwrap.dedent('''
    import io
    from PIL import Image
    from shop.models import Product
    from stylestore.variants import requests
    from stylestore.variants import state
    from stylestore.models import Style
    from stylestore.models import SourceImage
    from stylestore.variants.worker import analyse_sources, engine_style
    from stylestore.variants.files import save_atomically, variant_name

    products = list(Product.objects.order_by("pk"))
    # Two painting styles and one preset, with the style vectors and photo embeddings a
    # worker computes: views then teach a preference and "more in this style" has
    # neighbours, as in a running shop.
    styles = list(Style.objects.filter(kind=Style.Kind.IMAGE).order_by("pk")[:2])
    styles += list(Style.objects.filter(kind=Style.Kind.PRESET).order_by("pk")[:1])
    for style in styles:
        engine_style(style)
    ids = requests.request_for_objects(products, "image", styles, requests.RenderRequest(max_side=512), enqueue=False).ids
    for row in state.claim(ids):
        with row.source.get_field_file().open("rb") as photo, Image.open(photo) as image:
            image.thumbnail((512, 512))
            data = io.BytesIO()
            image.convert("RGB").save(data, "WEBP", quality=80)
        name = save_atomically(variant_name(row), data.getvalue())
        state.finish(row, name=name, width=image.width, height=image.height, size=len(data.getvalue()),
                    metrics={}, timings={})
    analyse_sources(SourceImage.objects.values_list("pk", flat=True))
    print(len(ids), "variants", *[p.slug for p in products])
''')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Shop:
    """A throw-away demo shop served by gunicorn."""

    def __init__(self, workers, threads, settings=SETTINGS):
        self.dir = Path(tempfile.mkdtemp(prefix="stylestore-load-"))
        (self.dir / "bench_load_settings.py").write_text(settings)
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(SHOP_VAR_DIR=str(self.dir), DJANGO_SETTINGS_MODULE="bench_load_settings",
                        PYTHONPATH=os.pathsep.join([str(self.dir), str(ROOT)]))
        self.ports = [free_port() for _ in range(workers)]
        self.threads = threads
        self.servers = []
        self.log = None

    def manage(self, *args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=300)
        if result.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def seed(self):
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo")
        out = self.manage("shell", "-c", SEED).strip().splitlines()[-1].split()
        return int(out[0]), out[2:]

    def start(self):
        """One gunicorn (one worker process, ``threads`` threads) per worker, each on its
        own port. Under a single gunicorn the workers race to accept each new
        connection, so which worker serves a keep-alive visitor is chance: in one-second
        rounds of 8 visitors, all 8 landed on one worker in 4 of 12 rounds,
        halving throughput and doubling p95 whatever was measured. With a port each, the
        visitors are split evenly (``run_phase``), as a load balancer in front would."""
        bin_dir = Path(sys.executable).parent
        self.log = (self.dir / "gunicorn.log").open("wb")
        self.servers = [
            subprocess.Popen(
                [str(bin_dir / "gunicorn"), "shop.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                 "--threads", str(self.threads), "--worker-class", "gthread", "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
            )
            for port in self.ports
        ]
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    connection.request("GET", "/")
                    if connection.getresponse().status == 200:
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"gunicorn did not start:\n{(self.dir / 'gunicorn.log').read_text()}")
                    time.sleep(0.3)

    def stop(self):
        for server in self.servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
        if self.log:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Visitor:
    """One simulated visitor: a keep-alive connection and its cookies (consent given or not)."""

    def __init__(self, port, consent):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {"stylestore_consent": "1"} if consent else {}

    def send(self, method, path, body=None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items() if v)} if self.cookies else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():  # kept like a browser does (visitor id, CSRF token)
            if header.lower() == "set-cookie":
                name, _, cookie = value.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = cookie
        return response.status, content, elapsed

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items() if v)

    def visitor_id(self):
        """The signed visitor id the shop issues on a first page."""
        self.send("GET", "/")
        return self.cookies["stylestore_vid"]

    def browse(self, path):
        """A product page as a browser shows it: the page, then its beacon batch."""
        status, content, _ = self.send("GET", path)
        html = content.decode()
        view = re.search(r'data-stylestore-view="([^"]+)"', html)
        choice = re.search(r'class="product-photo">\s*<picture>.*?data-stylestore-choice="([^"]+)"', html, re.S)
        if status != 200 or not view or not choice:
            raise SystemExit(f"{path}: no personalized page to browse (status {status})")
        batch = [{"kind": "view", "source": view[1]}, {"kind": "impression", "choice": choice[1]}]
        status = self.send("POST", "/api/v1/visitor/events/", json.dumps(batch))[0]
        if status != 202:
            raise SystemExit(f"the beacon batch of {path} was refused: {status}")


WRK_SCRIPT = """
local requests = {%(requests)s}
local cookies = {%(cookies)s}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  n = id
  headers = {["Content-Type"] = "application/json"}
  if cookies[id + 1] ~= "" then headers["Cookie"] = cookies[id + 1] end
end
function request()
  n = n + 1
  local r = requests[(n %% #requests) + 1]
  return wrk.format(r[1], r[2], headers, r[3])
end
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format("ERRORS %%d\\n", e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, #latency do
    local microseconds, count = latency(i)
    io.write(string.format("LATENCY %%d %%d\\n", microseconds, count))
  end
end
"""


def lua_string(text):
    return json.dumps(text)  # a JSON string literal is a valid Lua one for these ASCII texts


def run_phase(ports, cookies, seconds, requests, script_dir):
    """wrk with one thread and one keep-alive connection per visitor (its cookies),
    each cycling through ``requests`` (method, path, body) for ``seconds``; returns
    latencies and the number of failed requests (errors, or a status not 2xx/3xx).
    The visitors are dealt to the servers in turn, one wrk per server, run together."""
    runs = []
    for i, port in enumerate(ports):
        share = cookies[i::len(ports)]
        script = script_dir / f"phase-{port}.lua"
        script.write_text(WRK_SCRIPT % {
            "requests": ", ".join("{%s, %s, %s}" % (lua_string(m), lua_string(p), lua_string(b) if b else "nil")
                                  for m, p, b in requests),
            "cookies": ", ".join(lua_string(c) for c in share),
        })
        connections = str(len(share))
        runs.append(subprocess.Popen(
            ["wrk", "-t", connections, "-c", connections, "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
             "-s", str(script), f"http://127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    latencies, errors = [], 0
    for run in runs:
        stdout, stderr = run.communicate(timeout=seconds + 60)
        found = False
        for line in stdout.splitlines():
            if line.startswith("LATENCY "):
                _, microseconds, count = line.split()
                latencies += [int(microseconds) / 1e6] * int(count)
                found = True
            elif line.startswith("ERRORS "):
                errors += int(line.split()[1])
        if run.returncode or not found:
            raise SystemExit(f"wrk failed:\n{stdout}{stderr}")
    return latencies, errors


def summary(latencies, errors, seconds):
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")

    return {"requests": len(ordered), "errors": errors, "rps": round(len(ordered) / seconds, 1),
            "p50_ms": round(pct(50), 1), "p95_ms": round(pct(95), 1), "p99_ms": round(pct(99), 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else float("nan")}


def p95_overhead(personalized, plain, resamples=2000):
    """The pooled p95 ratio of two variants measured in paired rounds, minus 1, and a
    95% bootstrap interval over the rounds (the same rounds drawn for both variants, so
    a slow spell of the machine stays paired)."""
    rounds = len(personalized)
    pers, base = [np.asarray(r) for r in personalized], [np.asarray(r) for r in plain]

    def overhead(picked):
        return (np.percentile(np.concatenate([pers[i] for i in picked]), 95)
                / np.percentile(np.concatenate([base[i] for i in picked]), 95) - 1)

    draws = np.random.default_rng(0).integers(0, rounds, size=(resamples, rounds))
    low, high = np.percentile([overhead(picked) for picked in draws], [2.5, 97.5])
    return overhead(range(rounds)), low, high


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30,
                        help="paired one-second rounds of the product page (default 30; the listing gets a third)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent visitors (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each a single-worker gunicorn on its own port (default 2)")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    args = parser.parse_args()
    if args.threads < args.workers:
        parser.error("--threads must be at least --workers: every worker gets its share of the visitors")
    if shutil.which("wrk") is None:
        raise SystemExit("bench/load.py needs wrk: run `make wrk` (Debian's package)")
    run_started = time.monotonic()
    shop = Shop(args.workers, args.server_threads)
    try:
        variants, slugs = shop.seed()
        shop.start()
        print(f"shop: {len(slugs)} products, {variants} ready variants, {args.workers} gunicorn workers (one per port) x {args.server_threads} threads "
              f"on 127.0.0.1:{','.join(map(str, shop.ports))}; {args.threads} concurrent visitors")

        pages = [("GET", f"/products/{slug}/", None) for slug in slugs]
        listing = [("GET", "/", None)]
        views = [{"kind": "view", "source": f"shop.product:{i % len(slugs) + 1}"} for i in range(5 * len(slugs))]
        events = [("POST", "/api/v1/visitor/events/", json.dumps(views[i:i + 5])) for i in range(0, len(views), 5)]

        consenting = [Visitor(shop.ports[0], True) for _ in range(args.threads)]
        for visitor in consenting:
            for slug in slugs:
                visitor.browse(f"/products/{slug}/")
        with_consent = [visitor.cookie_header() for visitor in consenting]
        without_consent = [""] * args.threads
        fresh = [f"stylestore_consent=1; stylestore_vid={Visitor(shop.ports[0], True).visitor_id()}" for _ in range(args.threads)]

        def phase(seconds, requests, cookies):
            return run_phase(shop.ports, cookies, seconds, requests, shop.dir)

        # Warm-up: every process loads its code and caches before anything is measured.
        phase(3, pages, with_consent)
        phase(2, pages, without_consent)
        phase(2, events, fresh)

        # Paired one-second rounds, alternating, so a drifting machine hits both variants
        # of a round alike; the product page (the target) gets the most rounds.
        kinds = {"page": (pages, args.rounds), "listing": (listing, max(2, args.rounds // 3))}
        rounds, errors = {}, {}
        for kind, (requests, count) in kinds.items():
            for variant in ("personalized", "not personalized"):
                rounds[f"{kind}, {variant}"], errors[f"{kind}, {variant}"] = [], 0
            for i in range(count):
                variants = (("personalized", with_consent), ("not personalized", without_consent))
                for variant, cookies in variants[::1 if i % 2 == 0 else -1]:  # ABBA: no variant always first
                    latencies, failed = phase(1, requests, cookies)
                    rounds[f"{kind}, {variant}"].append(latencies)
                    errors[f"{kind}, {variant}"] += failed
        report = {name: summary([x for r in lats for x in r], errors[name], len(lats)) for name, lats in rounds.items()}
        event_seconds = 20
        event_latencies, event_errors = phase(event_seconds, events, fresh)
        report["events (5 per request)"] = summary(event_latencies, event_errors, event_seconds)
    finally:
        shop.stop()

    print(f"\n{'':26}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, row in report.items():
        print(f"{name:26}{row['rps']:>8}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}{row['errors']:>8}")
    overheads = {kind: p95_overhead(rounds[f"{kind}, personalized"], rounds[f"{kind}, not personalized"]) for kind in kinds}
    throughput = {kind: report[f"{kind}, personalized"]["rps"] / report[f"{kind}, not personalized"]["rps"] - 1 for kind in kinds}
    print()
    for kind, (overhead, low, high) in overheads.items():
        print(f"personalization adds {overhead:+.1%} to the {kind}'s p95 (95% interval over rounds {low:+.1%} .. {high:+.1%}); "
              f"requests/s {throughput[kind]:+.1%}")
    overhead, low, high = overheads["page"]
    verdict = ("under the 10% budget" + ("" if high < 0.10 else ", but the interval reaches past it")
               if overhead < 0.10 else "NOT under the 10% budget")
    print(f"product page: {verdict}")
    errors = sum(row["errors"] for row in report.values())
    print(f"errors: {errors}; run took {time.monotonic() - run_started:.0f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "load.json").write_text(json.dumps({
        "threads": args.threads, "workers": args.workers, "server_threads": args.server_threads, "rounds": args.rounds,
        "p95_overhead": {kind: [round(float(x), 4) for x in values] for kind, values in overheads.items()},
        "throughput_change": {kind: round(value, 4) for kind, value in throughput.items()},
        "results": report}, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
