"""How long a render takes: from this shop's own workers when they have done it, else
from reference figures, so the Apply page can say it and refuse what cannot finish.

A worker records every batch's time (``timings["batch_ms"]`` over its
``batch_size``); the median over the latest variants of the same engine and size is
what an image costs on *these* workers, GPU or CPU. Before there is such a history the
reference figures below are used: measured on a 2-core CPU without a GPU, the smallest
machine Stylestore runs on, so they err on the slow side.
"""
import statistics

from django.conf import settings
from django.utils.translation import gettext as _

from ..conf import stylestore_settings
from ..models import StylizedImage

#: Seconds per image and megapixel of output on the reference CPU (2 cores, no GPU),
#: decode, masks, colour and encoding included; the optimize engine per optimizer step.
REFERENCE_SECONDS_PER_MEGAPIXEL = {"arbitrary": 4.0, "preset": 5.0, "optimize": 50.0}
#: How much faster a CUDA worker is than the reference CPU: conservative for these small
#: networks (a data-centre GPU is 50-100x on the VGG optimizer's convolutions).
CUDA_SPEEDUP = 20
#: Optimizer steps per image (``RenderOptions.optimize_steps``' default).
OPTIMIZE_STEPS = 100
#: A typical product photo's shape (4:3): its output's pixels for a given longer side.
ASPECT = 0.75
#: Latest variants read for the measured figure, and how many make it trustworthy.
HISTORY, MIN_HISTORY = 50, 5
#: Share of the task time limit an image may take: the rest is the batch's other
#: images, decoding and the database.
TIMEOUT_SHARE = 0.8


def seconds_per_image(engine: str, max_side: int) -> tuple[float, bool]:
    """``(seconds, measured)``: what one image costs, and whether that was measured on
    this shop's workers (else the reference figure)."""
    timings = (
        StylizedImage.objects.filter(status=StylizedImage.Status.READY, engine=engine, max_side=max_side)
        .exclude(timings={})
        .order_by("-finished_at")
        .values_list("timings", flat=True)[:HISTORY]
    )
    measured = [t["batch_ms"] / 1000 / t["batch_size"] for t in timings if t.get("batch_ms") and t.get("batch_size")]
    if len(measured) >= MIN_HISTORY:
        return statistics.median(measured), True
    megapixels = max_side * max_side * ASPECT / 1e6
    steps = OPTIMIZE_STEPS if engine == "optimize" else 1
    speedup = CUDA_SPEEDUP if workers_device() == "cuda" else 1
    return REFERENCE_SECONDS_PER_MEGAPIXEL[engine] * megapixels * steps / speedup, False


def workers_device() -> str:
    """The device the workers render on, as the latest render recorded it (a web
    process cannot ask CUDA itself: it never loads torch); else the configured one."""
    latest = (
        StylizedImage.objects.filter(status=StylizedImage.Status.READY, timings__has_key="device")
        .order_by("-finished_at").values_list("timings", flat=True).first()
    )
    if latest:
        return latest["device"]
    return "cuda" if str(stylestore_settings.DEVICE).startswith("cuda") else "cpu"


def workers() -> int:
    """How many images the workers render side by side (django-q2's ``workers``)."""
    return max(1, int(getattr(settings, "Q_CLUSTER", {}).get("workers") or 1))


def task_time_limit() -> float | None:
    """The workers' time limit per task (django-q2's ``timeout``), if any."""
    return getattr(settings, "Q_CLUSTER", {}).get("timeout")


def too_slow(engine: str, max_side: int) -> str | None:
    """Why an image of this engine and size cannot finish within a task, or None."""
    seconds, measured = seconds_per_image(engine, max_side)
    limit = task_time_limit()
    if limit is None or seconds <= limit * TIMEOUT_SHARE:
        return None
    return _("the %(engine)s engine takes about %(time)s per image at %(size)d px (%(how)s), more than the "
             "workers' limit of %(limit)s per task: choose a smaller size or a fast engine") % {
        "engine": engine, "time": duration(seconds), "size": max_side, "limit": duration(limit),
        "how": _("measured on this shop's workers") if measured else _("estimated from reference figures"),
    }


def duration(seconds: float) -> str:
    """Seconds in words a shop admin reads at a glance."""
    if seconds < 90:
        return _("%d s") % max(1, round(seconds))
    if seconds < 90 * 60:
        return _("%d min") % round(seconds / 60)
    return _("%.1f h") % (seconds / 3600)


def for_batch(renders, images: int) -> dict:
    """What the Apply page says before queuing: ``renders`` are the ``(engine,
    max_side)`` of the chosen styles, ``images`` the new images in all. The total
    counts the workers rendering side by side (django-q2's ``workers``)."""
    figures = [seconds_per_image(engine, max_side) for engine, max_side in renders]
    if not figures or not images:
        return {}
    per_image = statistics.mean(seconds for seconds, _ in figures)
    return {"per_image": duration(per_image), "total": duration(per_image * images / workers()),
            "measured": all(measured for _, measured in figures)}
