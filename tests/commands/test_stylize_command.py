"""``manage.py stylize``: selection, parameters, --sync with a progress bar, --wait, errors."""
import io

import pytest
from django.core.management import CommandError, call_command

from stylestore import tasks
from stylestore.management.commands import stylize
from stylestore.models import Batch, StylizedImage
from stylestore.variants import requests, state
from tests.admin.conftest import categories, products, styles  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db

Status = StylizedImage.Status


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("stylize", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fake_render(ids):
    """Stands in for the worker: claims like the real task, then marks rows ready."""
    rows = state.claim(ids)
    for row in rows:
        state.finish(row, name=f"stylestore/{row.pk}.webp", width=64, height=48, size=100, metrics={}, timings={})
    return {"ready": len(rows)}


def test_all_requests_every_source_then_reuses(products, styles):
    out, _ = run("--style", "ink", "--style", "wave", "--all", "--size", "256")
    assert "Queued 6 images (0 already existed)." in out
    assert StylizedImage.objects.filter(status=Status.PENDING, max_side=256).count() == 6
    assert Batch.objects.get().description == "Ink, Wave on 3 products"  # one count per product, not per field
    out, _ = run("--style", "ink", "--style", "wave", "--all", "--size", "256")
    assert "Queued 0 images (6 already existed)." in out
    assert StylizedImage.objects.count() == 6


def test_model_and_filter_select_objects(products, styles):
    run("--style", "ink", "--model", "shop.product", "--filter", "category__slug=ceramics", "--strength", "0.5",
        "--format", "png", "--size", "300")
    rows = StylizedImage.objects.all()
    assert {r.source.source.name for r in rows} == {"Vase", "Bowl"}
    assert {(r.strength, r.output_format, r.max_side) for r in rows} == {(0.5, "png", 512)}  # size snapped up


def test_dry_run_counts_without_writing(products, styles):
    requests.request_for_objects(products[:1], "image", [styles["ink"]])
    out, _ = run("--style", "ink", "--all", "--dry-run")
    assert "Would queue 2 images (1 already exist)." in out
    assert StylizedImage.objects.count() == 1


def test_sync_renders_in_process_with_a_progress_bar(products, styles, monkeypatch):
    monkeypatch.setattr(tasks, "render_variants", fake_render)
    out, err = run("--style", "ink", "--all", "--sync")
    assert set(StylizedImage.objects.values_list("status", flat=True)) == {Status.READY}
    assert "3 ready, 0 failed." in out
    assert "[" + "#" * stylize.ProgressBar.WIDTH + "] 3/3 done (3 ready, 0 failed)" in err


def test_sync_reports_failures_with_an_error(products, styles, monkeypatch):
    def failing_render(ids):
        for row in state.claim(ids):
            state.fail(row, "Source image refused", retry=False)

    monkeypatch.setattr(tasks, "render_variants", failing_render)
    with pytest.raises(CommandError, match="3 images failed"):
        run("--style", "ink", "--all", "--sync")


def test_wait_polls_until_the_workers_are_done(products, styles, monkeypatch):
    def worker_runs_meanwhile(seconds):
        fake_render(list(StylizedImage.objects.values_list("pk", flat=True)))

    monkeypatch.setattr(stylize.time, "sleep", worker_runs_meanwhile)
    out, err = run("--style", "ink", "--all", "--wait")
    assert "3 ready, 0 failed." in out
    assert "0/3 done" in err and "3/3 done" in err


def test_wait_times_out_without_workers(products, styles):
    with pytest.raises(CommandError, match="Timed out with 3 images still queued"):
        run("--style", "ink", "--all", "--wait", "--timeout", "0")


@pytest.mark.parametrize("args, message", [
    (["--all"], "Give at least one --style"),
    (["--style", "nope", "--all"], "Unknown style: nope"),
    (["--style", "retired", "--all"], "Inactive style: retired"),
    (["--style", "ink"], "Choose what to stylize"),
    (["--style", "ink", "--model", "shop.nothing"], "Unknown model"),
    (["--style", "ink", "--model", "auth.user"], "auth.user is not a source model"),
    (["--style", "ink", "--all", "--filter", "category__slug=nope"], "No objects match --filter category__slug=nope"),
    (["--style", "ink", "--all", "--filter", "nonsense"], "expected LOOKUP=VALUE"),
    (["--style", "ink", "--model", "shop.product", "--filter", "colour=red"], "--filter does not apply to shop.product"),
    (["--style", "ink", "--all", "--strength", "1.5"], "ink: strength must be between 0 and 1"),
])
def test_clear_errors(products, styles, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert StylizedImage.objects.count() == 0


def test_filter_skips_models_it_does_not_apply_to_with_all(products, styles, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "SOURCE_MODELS": {"shop.product": ["image"],
                                                                    "stylestore.style": ["image"]}}
    with pytest.raises(CommandError, match="--filter does not apply to stylestore.style"):
        run("--style", "ink", "--model", "stylestore.style", "--filter", "category__slug=ceramics")
    run("--style", "ink", "--all", "--filter", "category__slug=ceramics")  # skips styles: no category
    assert StylizedImage.objects.count() == 2


def test_sync_with_the_real_engine(products, styles):
    out, err = run("--style", "ink", "--model", "shop.product", "--size", "256", "--sync")
    assert "3 ready, 0 failed." in out and "3/3 done" in err
    assert all(row.file and row.width == 96 for row in StylizedImage.objects.all())
