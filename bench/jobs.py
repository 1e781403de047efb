"""End-to-end job throughput: admin submit -> all variants ready, next to the engine alone.

Usage: ``.venv/bin/python bench/jobs.py [--products 8] [--styles 4] [--size 512]``

Runs in a throw-away shop (its own SQLite database and media folder) with the demo
catalogue. First the engine renders the same images in-process (decode + render with
the photos' stored product masks + metrics + encode, models warm), then a real
``qcluster`` worker (warmed up on other work) renders them after the admin's "Apply
style" form is submitted through Django's test client. The difference is the cost of
the queue, the database and file writes. Target: under 15% of the end-to-end time.

Then the worker renders more of the same work at the other sizes, up to ``--renders``,
and its resident memory is read once it is idle: the goal is under 800 MB (issue #21).
What that memory is comes from ``/proc/<pid>/smaps`` (the C heap, other anonymous
memory, the torch and CUDA libraries' pages, the rest) and ``VmHWM`` (its peak, during
its largest render).
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
    parser.add_argument("--renders", type=int, default=100, help="renders before the worker's RSS is read")
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
    from stylestore.conf import stylestore_settings
    from stylestore.models import Style, StylizedImage
    from stylestore.variants import requests
    from stylestore.variants.masks import stored_mask
    from stylestore.variants.sources import sync_sources
    from stylestore.variants.worker import engine_style, get_stylizer, open_source, product_masks, render_options

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    products = list(Product.objects.order_by("pk")[: args.products])
    paintings = list(Style.objects.filter(kind=Style.Kind.IMAGE).order_by("pk"))
    presets = list(Style.objects.filter(kind=Style.Kind.PRESET).order_by("pk"))
    styles = (paintings[: args.styles - 1] + presets[:1])[: args.styles]
    request = requests.RenderRequest(max_side=args.size)

    # 1. The engine alone, in this process, on exactly the work the worker will do.
    memory = {"Python, Django, the app": rss_mb(os.getpid())}
    stylizer = get_stylizer()
    memory["the engine loaded"] = rss_mb(os.getpid())
    work = [(style, SimpleNamespace(**request.resolve(style))) for style in styles]
    # The photos' product masks, once each, as a shop has them before it applies a style
    # (computed with the embedding): both sides render with them, neither computes them.
    sources = sync_sources(products, "image")
    product_masks(sources, [open_source(p.image) for p in products])

    def engine_pass():
        started = time.perf_counter()
        for style, params in work:
            images = [open_source(p.image) for p in products]
            masks = [stored_mask(source) for source in sources]
            results = stylizer.render(images, engine_style(style), render_options(params), masks=masks)
            assert all(r.error is None for r in results), [r.error for r in results]
        return time.perf_counter() - started

    engine_pass()  # warm-up: model loads, allocator
    memory["after rendering"] = rss_mb(os.getpid())
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

        # 3. More of the same work at other sizes, until the worker rendered --renders images.
        for size in [s for s in stylestore_settings.SIZES if s != args.size]:
            if StylizedImage.objects.filter(status="ready").count() >= args.renders:
                break
            more = requests.request_for_objects(products, "image", styles, requests.RenderRequest(max_side=size))
            wait_ready(StylizedImage, more.created, timeout=1800)
        renders = StylizedImage.objects.filter(status="ready").count()
        workers = worker_pids()
        wait_idle(workers)
        cluster = group_rss(worker.pid)
        breakdowns = {pid: memory_breakdown(pid) for pid in workers}
        worker_cpu_s = sum(cpu_seconds(pid) for pid in workers)
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

    print(f"\nworker cluster RSS after {renders} renders (MB):")
    for pid, rss, command in cluster:
        role = "rendering worker" if pid in workers else ""
        print(f"{rss:8.0f}  {pid:>7}  {role:17}{command}")
    pid, breakdown = max(breakdowns.items(), key=lambda item: item[1]["Rss"])
    print(f"where the largest worker's memory goes (pid {pid}, MB):")
    for what in MEMORY_PARTS:
        print(f"{breakdown[what]:8.0f}  {what}")
    print(f"{breakdown['Private']:8.0f}  of it private to the worker, {breakdown['Shared']:.0f} shared with the "
          f"cluster's other processes (forked)")
    print(f"{breakdown['VmHWM']:8.0f}  its peak (VmHWM), during its largest render")
    print("where a rendering process's memory goes (this process, MB):")
    previous = 0
    for what, rss in memory.items():
        print(f"{rss:8.0f}  (+{rss - previous:.0f})  {what}")
        previous = rss
    print(f"rendering workers' CPU time: {worker_cpu_s:.1f} s for {renders} renders "
          f"(throughput on a shared machine: compare this, not wall time)")
    rss = breakdown["Rss"]
    print(f"worker RSS after {renders} renders: {rss:.0f} MB (goal < 800 MB): {'PASS' if rss < 800 else 'FAIL'}")


#: the parts of a process's resident memory, by mapping (``/proc/<pid>/smaps``)
MEMORY_PARTS = ("C heap (glibc: tensors, images, Python's large objects)",
                "other anonymous memory (Python's arenas, torch's own mappings, stacks)",
                "torch and CUDA libraries (file pages)",
                "other libraries and files")


def memory_breakdown(pid):
    """Resident MB of a process by :data:`MEMORY_PARTS`, with its Private/Shared split
    (``smaps_rollup``) and its peak (``VmHWM``)."""
    heap, anonymous, torch_libs, files = MEMORY_PARTS
    parts = dict.fromkeys(MEMORY_PARTS, 0.0)
    where = anonymous
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's header: address perms offset dev inode [path]
            path = fields[5] if len(fields) > 5 else ""
            where = (heap if path == "[heap]" else anonymous if not path.startswith("/")
                     else torch_libs if "/torch/" in path or "/nvidia/" in path else files)
        elif fields[0] == "Rss:":
            parts[where] += int(fields[1]) / 1024
    rollup = {line.split(":")[0]: int(line.split()[1]) / 1024
              for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]}
    parts["Rss"] = rollup["Rss"]
    parts["Private"] = rollup["Private_Clean"] + rollup["Private_Dirty"]
    parts["Shared"] = rollup["Shared_Clean"] + rollup["Shared_Dirty"]
    parts["VmHWM"] = status_mb(pid, "VmHWM")
    return parts


def rss_mb(pid):
    """Resident memory of a process, in MB (Linux /proc)."""
    return status_mb(pid, "VmRSS")


def status_mb(pid, field):
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``...), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def worker_pids():
    """The PIDs of the cluster's rendering worker processes (django-q2's own status)."""
    from django_q.status import Stat

    return {pid for stat in Stat.get_all() for pid in stat.workers}


def wait_idle(pids, timeout=60):
    """Wait until the queue is empty and the workers' memory settles: a task's last row
    is ready before the task returns, and a worker gives back memory only once it has
    been idle ``variants.idle.IDLE_SECONDS``: the memory must hold still for longer."""
    from django_q.brokers import get_broker

    from stylestore.variants.idle import IDLE_SECONDS

    broker, deadline, last, still_since = get_broker(), time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        now = {pid: rss_mb(pid) for pid in pids}
        if now != last or broker.queue_size():
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > IDLE_SECONDS + 1:
            return
        time.sleep(0.5)


def group_rss(pgid):
    """``[(pid, RSS MB, command)]`` of every process in a process group (a cluster)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # after the command: state, ppid, pgrp
                pid = int(stat.parent.name)
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                found.append((pid, rss_mb(pid), command[:60]))
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return sorted(found, key=lambda row: -row[1])


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
