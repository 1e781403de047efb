"""End-to-end job throughput: admin submit -> all variants ready, next to the engine alone.

Usage: ``.venv/bin/python bench/jobs.py [--products 8] [--styles 4] [--size 512]``

Runs in a throw-away shop (its own SQLite database and media folder) with the demo
catalogue. First the engine renders the same images in-process (decode + render +
metrics + encode, models warm), then a real ``qcluster`` worker (warmed up on other
work) renders them after the admin's "Apply style" form is submitted through Django's
test client. The difference is the cost of the queue, the database and file writes.
Target: under 15% of the end-to-end time.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--styles", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stylestore-bench-"))
    os.environ.update(SHOP_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="shop.settings", Q_WORKERS="1")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from shop.models import Product
    from stylestore.models import Style, StylizedImage
    from stylestore.variants import requests
    from stylestore.variants.worker import engine_style, get_stylizer, open_source, render_options

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    products = list(Product.objects.order_by("pk")[: args.products])
    paintings = list(Style.objects.filter(kind=Style.Kind.IMAGE).order_by("pk"))
    presets = list(Style.objects.filter(kind=Style.Kind.PRESET).order_by("pk"))
    styles = (paintings[: args.styles - 1] + presets[:1])[: args.styles]
    request = requests.RenderRequest(max_side=args.size)

    # 1. The engine alone, in this process, on exactly the work the worker will do.
    stylizer = get_stylizer()
    work = [(style, SimpleNamespace(**request.resolve(style))) for style in styles]

    def engine_pass():
        started = time.perf_counter()
        for style, params in work:
            images = [open_source(p.image) for p in products]
            results = stylizer.render(images, engine_style(style), render_options(params))
            assert all(r.error is None for r in results), [r.error for r in results]
        return time.perf_counter() - started

    engine_pass()  # warm-up: model loads, allocator
    engine_s = min(engine_pass() for _ in range(2))

    # 2. A real worker, warmed up on a different size so none of its work is reused.
    env = {**os.environ}
    log = open(workdir / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        warm = requests.request_for_objects(products[:2], "image", styles, requests.RenderRequest(max_side=256))
        wait_ready(StylizedImage, warm.created, timeout=600)

        User = get_user_model()
        User.objects.create_superuser("bench", "bench@example.com", "bench-pass-123")
        client = Client()
        client.login(username="bench", password="bench-pass-123")
        started = time.perf_counter()
        response = client.post("/admin/shop/product/", {
            "action": "apply_style", "_stylestore_confirm": "1", "_selected_action": [p.pk for p in products],
            "styles": [s.pk for s in styles], "size": args.size, "output_format": "webp",
            "preserve_color": "", "engine": "", "strength": "",
        })
        assert response.status_code == 302, response.content[:2000]
        ids = list(StylizedImage.objects.filter(max_side=args.size).values_list("pk", flat=True))
        assert len(ids) == len(products) * len(styles), len(ids)
        wait_ready(StylizedImage, ids, timeout=1800)
        e2e_s = time.perf_counter() - started
    finally:
        # The measurement is over: no need to wait for a graceful shutdown.
        os.killpg(worker.pid, 9)
        worker.wait()

    n = len(products) * len(styles)
    overhead = (e2e_s - engine_s) / e2e_s
    print(f"{len(products)} products x {len(styles)} styles at {args.size}px = {n} images")
    print(f"{'':28}{'seconds':>10}{'images/s':>10}")
    print(f"{'engine alone (in-process)':28}{engine_s:10.2f}{n / engine_s:10.2f}")
    print(f"{'admin submit -> all ready':28}{e2e_s:10.2f}{n / e2e_s:10.2f}")
    print(f"queue/DB/storage overhead: {overhead:.1%} of the end-to-end time "
          f"({'PASS' if overhead < 0.15 else 'FAIL'}: target < 15%)")


def wait_ready(model, ids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = list(model.objects.filter(pk__in=ids).values_list("status", flat=True))
        if all(s == "ready" for s in statuses):
            return
        bad = [s for s in statuses if s in ("failed", "dead")]
        if bad:
            raise SystemExit(f"{len(bad)} jobs failed: see the admin")
        time.sleep(0.1)
    raise SystemExit("timed out waiting for the worker")


if __name__ == "__main__":
    main()
