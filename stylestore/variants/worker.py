"""What a worker does with claimed variants: the Django side of the engine.

Everything here runs in a worker. Rows are grouped by style and parameters so one
forward pass serves many products; each row succeeds or fails on its own, so one bad
product image never fails its batch mates. While a batch renders, a heartbeat thread
renews its rows' lease, so the lease can be short and a dead worker's jobs are back in
work within seconds on its own machine, about a lease elsewhere
(``sweeper.LeaseWatcher``, ``take_over_revived``). The engine's networks (and torch)
are imported inside the functions that render, on first use in the forked worker:
commands that import this module without rendering never load torch for it, and web
processes never import it (previews are rendered here too).
"""
import logging
import math
import threading
import time

from django.db import connection
from django.utils import timezone
from django_q.conf import Conf as DjangoQConf

from ..conf import image_limits, stylestore_settings
from ..engine import errors
from ..engine.gate import open_image
from ..models import SourceImage, Style, StylizedImage, group_by_render
from ..storage import variant_storage
from . import batches, files, masks, previews, quality, state, sweeper, upgrades
from .signals import variant_ready

logger = logging.getLogger(__name__)
_stylizer = None


def get_stylizer():
    """One engine per worker process: models load once and stay cached."""
    global _stylizer
    if _stylizer is None:
        from ..engine import Stylizer

        _stylizer = Stylizer(
            device=stylestore_settings.DEVICE,
            precision=stylestore_settings.ENGINE_PRECISION,
            compile=stylestore_settings.ENGINE_COMPILE,
            threads=stylestore_settings.ENGINE_THREADS,
        )
    return _stylizer


def open_source(field_file):
    """Decode a source image through the one image gate."""
    field_file.open("rb")
    try:
        return open_image(field_file, **image_limits())
    finally:
        field_file.close()


def engine_style(style: Style):
    """The engine's description of a Style.

    Image styles pass the image itself (not only its cached vector) so the metrics can
    measure the distance to the style; predicting the vector again costs one small
    forward pass per batch. The vector is stored once for personalization.
    """
    from ..engine import StyleSpec

    if style.kind == Style.Kind.PRESET:
        return StyleSpec.preset({int(k): float(v) for k, v in style.preset_weights.items()})
    image = open_source(style.image)
    if style.style_vector is None:
        vector = [round(float(x), 5) for x in get_stylizer().style_vector(image)]
        Style.objects.filter(pk=style.pk, fingerprint=style.fingerprint).update(style_vector=vector)
        style.style_vector = vector
    return StyleSpec.image(image)


def render_options(row):
    """Engine options from a variant's render parameters (any object with those fields)."""
    from ..engine import RenderOptions

    return RenderOptions(
        engine=row.engine,
        strength=row.strength,
        max_side=row.max_side,
        preserve_color=row.preserve_color,
        format=row.output_format,
        quality=stylestore_settings.QUALITY,
        region=row.region,
    )


class Heartbeat:
    """Renews the lease of the rows claimed under ``token`` every LEASE_SECONDS / 3
    while the ``with`` block runs.

    A daemon thread, stopped on the way out of the block whatever ends it: the batch
    finishing, an error, or django-q2's timeout (a ``SystemExit`` raised in the task,
    after which the process is replaced). A process that dies takes the thread with
    it, so its lease runs out within LEASE_SECONDS of the last beat. Two beats can be
    missed (a slow database) before a live batch's lease expires.
    """

    def __init__(self, token):
        self.token = token
        self.interval = stylestore_settings.LEASE_SECONDS / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stylestore-heartbeat-{token}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.interval)

    def _run(self):
        try:
            while not self._stop.wait(self.interval):
                try:
                    state.renew(self.token)
                except Exception:  # noqa: BLE001 - a database hiccup must not end the beats
                    logger.warning("lease heartbeat failed; retrying at the next beat", exc_info=True)
        finally:
            connection.close()  # this thread's own connection


def product_masks(sources: list[SourceImage], images) -> list:
    """Each photo's product mask: the stored one, else computed now (in one pass for
    all that lack one) and stored for the next render."""
    found = [masks.stored_mask(source) for source in sources]
    missing = [i for i, mask in enumerate(found) if mask is None]
    if missing:
        for i, computed in zip(missing, get_stylizer().product_masks([images[i] for i in missing])):
            masks.store_mask(sources[i], computed.mask, method=computed.method, coverage=computed.coverage,
                             confidence=computed.confidence)
            found[i] = computed.mask
    return found


def render_task(ids) -> dict:
    """One render task: claim the given rows, render the jobs revived from dead workers
    that nobody has taken yet (``take_over_revived``: they have waited longest), then
    the given rows. They are claimed first, under a heartbeat: if a revived job kills
    this worker (or its task's time limit does), they are orphaned and revived at once,
    not left pending with their task spent. ``{"claimed": 0}`` when there was nothing
    to do (a second delivery)."""
    started = time.monotonic()
    outcome = {"ready": 0, "failed": 0, "retrying": 0, "cancelled": 0}
    rows = state.claim(ids)
    if not rows:
        take_over_revived(outcome, started)
    else:
        with Heartbeat(rows[0].worker):
            take_over_revived(outcome, started)
        render_rows(rows, outcome)
    return outcome if any(outcome.values()) else {"claimed": 0}


def render_rows(rows: list[StylizedImage], outcome=None) -> dict:
    """Render claimed rows, grouped by style and parameters; every row ends ready or
    failed. Returns the counts (added to ``outcome`` when given)."""
    outcome = {"ready": 0, "failed": 0, "retrying": 0, "cancelled": 0} if outcome is None else outcome
    with Heartbeat(rows[0].worker):
        for group in group_by_render(rows).values():
            _render_group(group, outcome)
    batches.settle([row.pk for row in rows])
    return outcome


def take_over_revived(outcome, started):
    """Revive dead workers' jobs, then render those revived that nobody has claimed yet,
    each alone (one of them may be what killed its worker), at most BATCH_SIZE of them,
    and only in the first third of the task's time limit (django-q2's ``timeout``, which
    counts this work too: a job taken late would be killed with the task, and lose an
    attempt for nothing).

    Their re-sent tasks wait at the back of the queue: taken over at the start of
    whatever task a worker starts next, a dead worker's jobs are back in work within
    seconds instead of waiting for every task before them. Their own tasks later find
    nothing to claim.
    """
    sweeper.revive_expired()
    budget = (DjangoQConf.TIMEOUT or math.inf) / 3
    for pk in state.revived_waiting(stylestore_settings.BATCH_SIZE):
        if time.monotonic() - started > budget:
            return
        taken = state.claim([pk])
        if taken:
            with Heartbeat(taken[0].worker):
                _render_group(taken, outcome)
            batches.settle([pk])


def _render_group(rows, outcome):
    started = time.perf_counter()
    images, live = [], []
    decode_ms = {}
    for row in rows:
        t0 = time.perf_counter()
        try:
            field_file = row.source.get_field_file()
            if not field_file:
                raise errors.ImageError("The source object or its image no longer exists.")
            images.append(open_source(field_file))
            live.append(row)
            decode_ms[row.pk] = (time.perf_counter() - t0) * 1000
        except errors.ImageError as exc:
            _fail(row, f"Source image refused: {exc}", retry=False, outcome=outcome)
        except OSError as exc:  # storage hiccup: worth another try
            _fail(row, f"Could not read the source image: {exc}", retry=True, outcome=outcome)
    if not live:
        return
    try:
        spec = engine_style(live[0].style)
        masks = product_masks([row.source for row in live], images)
        results = get_stylizer().render(images, spec, render_options(live[0]), masks=masks)
    except errors.WeightsError as exc:
        for row in live:
            _fail(row, f"Engine unavailable (not the job's fault): {exc}", retry=True, burn_attempt=False, outcome=outcome)
        return
    except errors.ImageError as exc:  # the style image itself was refused
        for row in live:
            _fail(row, f"Style image refused: {exc}", retry=False, outcome=outcome)
        return
    except Exception as exc:  # noqa: BLE001 - any other failure is retried with backoff
        logger.exception("stylization batch failed")
        for row in live:
            _fail(row, f"{type(exc).__name__}: {exc}", retry=True, outcome=outcome)
        return
    batch_ms = (time.perf_counter() - started) * 1000
    finished = []  # ready now: what they replace goes after the batch (upgrades)
    for row, result in zip(live, results):
        if result.error is not None:
            retry = not isinstance(result.error, (errors.ImageError, errors.StyleSpecError))
            _fail(row, f"{result.error}", retry=retry, outcome=outcome)
            continue
        t0 = time.perf_counter()
        name = files.save_atomically(files.variant_name(row), result.data)
        timings = {**result.timings, "decode_ms": round(decode_ms[row.pk], 1),
                   "write_ms": round((time.perf_counter() - t0) * 1000, 1), "batch_ms": round(batch_ms, 1),
                   "batch_size": len(live), "device": get_stylizer().device.torch_device.type}
        gate = quality.verdict(result.metrics, preserve_color=row.preserve_color, region=row.region)
        if state.finish(row, name=name, width=result.width, height=result.height, size=len(result.data),
                        metrics={**result.metrics, "gate": gate}, timings=timings,
                        held=not gate["passed"]):
            outcome["ready"] += 1
            finished.append(row.pk)
            row.refresh_from_db()
            variant_ready.send(sender=StylizedImage, variant=row)
        elif not StylizedImage.objects.filter(pk=row.pk).exists():
            # Its batch was cancelled while it rendered: nothing is published, and the
            # file goes unless another row (an identical photo's) uses it.
            files.delete_if_unused(name)
            outcome["cancelled"] += 1
        else:
            logger.warning("lost the claim on variant %s; its new owner writes the same file", row.pk)
    try:
        upgrades.retire_predecessors(finished)
    except Exception:  # noqa: BLE001 - the renders are done; an old file left over costs only space
        logger.warning("could not retire what variants %s replace", finished, exc_info=True)


def _fail(row, message, *, retry, outcome, burn_attempt=True):
    state.fail(row, message, retry=retry, burn_attempt=burn_attempt)
    try:
        row.refresh_from_db(fields=["status"])
    except StylizedImage.DoesNotExist:  # its batch was cancelled meanwhile
        outcome["cancelled"] += 1
        return
    outcome["retrying" if row.status == StylizedImage.Status.PENDING else "failed"] += 1


def render_preview(style_id, source_id, settings=None):
    """Render the admin's preview of a style on a sample photo to its file, with the
    style's defaults or the Apply page's ``settings`` (``previews.render_options``).

    A preview is a convenience: any failure is recorded for the waiting page to show
    (``previews.record_failure``), never raised into the task.
    """
    from ..engine import RenderOptions

    style = Style.objects.filter(pk=style_id).first()
    source = SourceImage.objects.filter(pk=source_id).first()
    if style is None or source is None:
        return {"rendered": None}  # deleted since: nobody is waiting for this preview
    name = previews.preview_name(style, source, settings)
    if variant_storage().exists(name):
        return {"rendered": name}  # a repeated request: rendered once is enough
    try:
        field_file = source.get_field_file()
        if not field_file:
            raise errors.ImageError("The sample product or its image no longer exists.")
        options = RenderOptions(**previews.render_options(style, settings))
        image = open_source(field_file)
        # The product's mask, as the variants get it: regions and true colour follow it.
        mask = product_masks([source], [image])
        result = get_stylizer().render([image], engine_style(style), options, masks=mask, with_metrics=False)[0]
        if result.error is not None:
            raise result.error
        files.save_atomically(name, result.data)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.exception("style preview failed for style %s on source %s", style.pk, source.pk)
        previews.record_failure(name, str(exc))
        return {"rendered": None, "error": str(exc)}
    return {"rendered": name}


def render_swatches(blends):
    """Render preset swatches (``previews.swatches``): each blend of presets on the
    reference photo. Like a preview, a failure is recorded for the page, not raised."""
    from ..engine import RenderOptions, StyleSpec

    options = RenderOptions(**previews.swatch_options())
    try:
        photo = open_image(previews.SWATCH_PHOTO.read_bytes())
    except (OSError, errors.ImageError) as exc:  # a broken installation: say so on every page that waits
        logger.exception("the swatches' reference photo cannot be read")
        for weights in blends:
            previews.record_failure(previews.swatch_name(weights), f"The reference photo cannot be read: {exc}")
        return {"rendered": 0}
    rendered = []
    for weights in blends:
        name = previews.swatch_name(weights)
        if variant_storage().exists(name):
            continue
        try:
            spec = StyleSpec.preset({int(index): float(weight) for index, weight in weights.items()})
            result = get_stylizer().render([photo], spec, options, with_metrics=False)[0]
            if result.error is not None:
                raise result.error
            files.save_atomically(name, result.data)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            logger.exception("preset swatch failed for %s", weights)
            previews.record_failure(name, str(exc))
            continue
        rendered.append(name)
    return {"rendered": len(rendered)}


def analyse_sources(source_ids) -> int:
    """What is computed once per photo: its style vector (its embedding for
    personalization) and its product mask. Returns how many photos got something."""
    done = 0
    pending = SourceImage.objects.filter(pk__in=source_ids).exclude(content_hash="")
    for source in pending:
        needs_mask = masks.stored_mask(source) is None
        if source.embedding is not None and not needs_mask:
            continue
        field_file = source.get_field_file()
        if not field_file:
            continue
        try:
            image = open_source(field_file)
            if source.embedding is None:
                vector = get_stylizer().style_vector(image)
                # ``updated_at`` too: the web processes' photo indexes take changed rows by it.
                SourceImage.objects.filter(pk=source.pk, content_hash=source.content_hash).update(
                    embedding=[round(float(x), 5) for x in vector], updated_at=timezone.now()
                )
            if needs_mask:
                product_masks([source], [image])
        except errors.ImageError as exc:
            logger.warning("cannot analyse %s: %s", source, exc)
            continue
        done += 1
    return done
