"""``manage.py stylize``: request styled variants from the command line.

Examples::

    manage.py stylize --style great-wave --all
    manage.py stylize --style ink --style irises --model shop.product --filter category__slug=ceramics --size 512
    manage.py stylize --style ink --all --sync      # render here and now, with a progress bar
    manage.py stylize --style ink --all --wait      # let the workers render; wait for them
    manage.py stylize --outdated --wait             # after an upgrade: what an older engine rendered

Requests go through the same path as the admin's "Apply style…": rows are created
under their unique key (existing ones are reused) and tasks are sent on commit.
``--sync`` then renders the rows in this process; a worker that picks up the same
task later finds nothing left to claim.
"""
import argparse
import time
from itertools import islice

from django.apps import apps
from django.core.exceptions import FieldError, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count

from ... import tasks
from ...conf import stylestore_settings
from ...engine import formats
from ...models import Batch, Style, StylizedImage, group_by_render
from ...variants import batches, requests, upgrades
from ...variants.sources import source_models
from ..progress import ProgressBar

Status = StylizedImage.Status
POLL_SECONDS = 2.0


def lookup(text):
    """``LOOKUP=VALUE`` of ``--filter``, as a ``(lookup, value)`` pair."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected LOOKUP=VALUE, e.g. category__slug=ceramics, not {text!r}")
    return name.strip(), value


class Command(BaseCommand):
    help = "Request styled variants of source images (and optionally render them right away)."

    def add_arguments(self, parser):
        parser.add_argument("--style", action="append", dest="styles", default=[], metavar="SLUG",
                            help="Style to apply; repeat for several styles.")
        selection = parser.add_mutually_exclusive_group()
        selection.add_argument("--all", action="store_true",
                               help="Every object of every model in STYLESTORE['SOURCE_MODELS'].")
        selection.add_argument("--model", metavar="APP.MODEL", help="Every object of one source model.")
        selection.add_argument("--outdated", action="store_true",
                               help="Every ready image an older Stylestore engine rendered (after an upgrade), "
                                    "rejected ones aside, again with its own parameters; --style narrows it. Each "
                                    "old image stays on the storefront until its new one shows, then goes.")
        parser.add_argument("--filter", action="append", dest="filters", default=[], type=lookup,
                            metavar="LOOKUP=VALUE",
                            help="Only objects matching a Django lookup, e.g. category__slug=ceramics; "
                                 "repeat to combine. With --all, models the lookup does not apply to are skipped."),
        parser.add_argument("--strength", type=float, help="0 to 1; default: each style's own.")
        parser.add_argument("--size", type=int, help="Longer side in pixels, snapped to STYLESTORE['SIZES'].")
        parser.add_argument("--format", dest="output_format", choices=formats.FORMATS)
        parser.add_argument("--engine", choices=[Style.Engine.ARBITRARY.value, Style.Engine.OPTIMIZE.value],
                            help="Engine for image styles; preset styles always use the preset engine.")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be queued.")
        run = parser.add_mutually_exclusive_group()
        run.add_argument("--sync", action="store_true", help="Render in this process instead of waiting for workers.")
        run.add_argument("--wait", action="store_true", help="Wait until the workers have rendered everything.")
        parser.add_argument("--timeout", type=float, metavar="SECONDS", help="With --wait: give up after this long.")

    def handle(self, *args, **options):
        if options["outdated"]:
            result, batch = self.request_outdated(options)
        else:
            result, batch = self.request_selection(options)
        if result is None:
            return
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS(
                f"Queued {len(result.created)} images ({len(result.reused)} already existed). Batch {batch.pk}."
            ))
        if not result.ids or not (options["sync"] or options["wait"]):
            return
        if options["sync"]:
            self.render_here(result.ids)
        else:
            self.wait_for_workers(result.ids, options["timeout"])
        self.report(result.ids)

    def request_selection(self, options):
        """``(result, batch)`` of the styles and objects the options name; ``(None, None)``
        after a dry run."""
        styles = self.get_styles(options["styles"])
        targets = self.get_targets(options)
        request = requests.RenderRequest(strength=options["strength"], max_side=options["size"],
                                     output_format=options["output_format"], engine=options["engine"])
        for style in styles:
            try:
                request.resolve(style)
            except ValueError as exc:
                raise CommandError(f"{style.slug}: {exc}")
        if options["size"] and options["size"] not in stylestore_settings.SIZES and options["verbosity"]:
            self.stdout.write(f"--size {options['size']} is not one of {stylestore_settings.SIZES}; "
                              f"using {requests.snap_size(options['size'])}.")

        if options["dry_run"]:
            counts = [requests.count_for_objects(queryset, field, styles, request) for queryset, field in targets]
            new, existing = sum(c.new for c in counts), sum(c.existing for c in counts)
            self.stdout.write(f"Would queue {new} images ({existing} already exist).")
            return None, None

        result = requests.RequestResult()
        with transaction.atomic():
            for queryset, field in targets:
                part = requests.request_for_objects(queryset, field, styles, request, enqueue=not options["sync"])
                result.created += part.created
                result.reused += part.reused
            # One queryset per model, repeated for each of its image fields.
            objects = {queryset.model: queryset.count() for queryset, _field in targets}
            batch = batches.record(result, styles, objects, origin=Batch.Origin.COMMAND)
        return result, batch

    def request_outdated(self, options):
        """``request_selection`` for ``--outdated``: each image with its own parameters."""
        given = [f"--{name.replace('_', '-')}" for name in ("model", "filters", "strength", "size", "engine")
                 if options[name]] + (["--format"] if options["output_format"] else [])
        if given:
            raise CommandError(f"--outdated renders each image again with its own parameters and photo; "
                               f"it takes no {', '.join(given)}.")
        queryset = StylizedImage.objects.all()
        if options["styles"]:
            queryset = queryset.filter(style__in=self.get_styles(options["styles"]))
        rows = upgrades.outdated(queryset)
        if options["dry_run"] or not rows:
            self.stdout.write(f"Would queue {len(rows)} images an older engine rendered." if rows else
                              "No ready image was rendered by an older engine: nothing to queue.")
            return None, None
        return upgrades.render_again(rows, origin=Batch.Origin.COMMAND, enqueue=not options["sync"])
        return result, batch

    def get_styles(self, slugs):
        available = ", ".join(Style.objects.filter(active=True).values_list("slug", flat=True)) or "none"
        if not slugs:
            raise CommandError(f"Give at least one --style SLUG (active styles: {available}).")
        styles = {style.slug: style for style in Style.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in styles]
        if unknown:
            raise CommandError(f"Unknown style: {', '.join(unknown)} (active styles: {available}).")
        inactive = [slug for slug, style in styles.items() if not style.active]
        if inactive:
            raise CommandError(f"Inactive style: {', '.join(inactive)}. Activate it in the admin first.")
        return list(styles.values())

    def get_targets(self, options):
        """``[(queryset, image field name)]`` for the selection the options describe."""
        configured = source_models()
        if options["model"]:
            try:
                model = apps.get_model(options["model"])
            except (LookupError, ValueError):
                raise CommandError(f"Unknown model {options['model']!r}; use app_label.ModelName.")
            label = model._meta.label_lower
            if label not in configured:
                raise CommandError(f"{label} is not a source model. STYLESTORE['SOURCE_MODELS'] lists: "
                                   f"{', '.join(configured) or 'nothing'}.")
            labels = [label]
        elif options["all"]:
            labels = list(configured)
            if not labels:
                raise CommandError("STYLESTORE['SOURCE_MODELS'] is empty: there is nothing to stylize.")
        else:
            raise CommandError("Choose what to stylize: --all, or --model app_label.ModelName.")

        targets = []
        for label in labels:  # parsed: unknown models are left out (and reported by the checks)
            queryset = apps.get_model(label)._default_manager.all()
            if options["filters"]:
                try:
                    queryset = queryset.filter(**dict(options["filters"]))
                    queryset.exists()  # a lookup the model lacks fails here, not mid-request
                except (FieldError, ValidationError, ValueError) as exc:
                    if options["model"]:
                        raise CommandError(f"--filter does not apply to {label}: {exc}")
                    continue  # --all: only the models the filter applies to
            targets += [(queryset, field) for field in configured[label].fields]
        if not targets:
            raise CommandError("--filter: it applies to none of the source models.")
        if options["filters"] and not any(queryset.exists() for queryset, _ in targets):
            shown = ", ".join(f"{name}={value}" for name, value in options["filters"])
            raise CommandError(f"No objects match --filter {shown}.")
        return targets

    def render_here(self, ids):
        """Render the pending rows among ``ids`` in this process, one style batch at a time."""
        rows = StylizedImage.objects.filter(pk__in=ids, status=Status.PENDING).order_by("style_id", "params_hash", "pk")
        bar = ProgressBar(self.stderr, len(ids))
        bar.update(*self.ready_failed(ids))
        for group in group_by_render(rows.only("pk", "style_id", "params_hash")).values():
            batches = iter(row.pk for row in group)
            while batch := list(islice(batches, stylestore_settings.BATCH_SIZE)):
                tasks.render_variants(batch)
                bar.update(*self.ready_failed(ids))
        bar.close()

    def wait_for_workers(self, ids, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(self.stderr, len(ids))
        while True:
            counts = self.status_counts(ids)
            bar.update(counts[Status.READY], counts[Status.FAILED] + counts[Status.DEAD])
            if not counts[Status.PENDING] + counts[Status.RUNNING]:
                break
            if deadline is not None and time.monotonic() >= deadline:
                bar.close()
                raise CommandError(f"Timed out with {counts[Status.PENDING] + counts[Status.RUNNING]} images "
                                   "still queued or rendering. Is a worker (manage.py qcluster) running?")
            time.sleep(POLL_SECONDS)
        bar.close()

    def report(self, ids):
        counts = self.status_counts(ids)
        failed = counts[Status.FAILED] + counts[Status.DEAD]
        left = counts[Status.PENDING] + counts[Status.RUNNING]
        summary = f"{counts[Status.READY]} ready, {failed} failed"
        if left:
            summary += f", {left} left to the workers (retrying or rendering elsewhere)"
        self.stdout.write(summary + ".")
        if failed:
            raise CommandError(f"{failed} images failed; see Stylized images in the admin for the errors.")

    @staticmethod
    def status_counts(ids):
        counts = dict.fromkeys(Status.values, 0)
        rows = StylizedImage.objects.filter(pk__in=ids).values("status").annotate(n=Count("pk"))
        counts.update({row["status"]: row["n"] for row in rows})
        return counts

    def ready_failed(self, ids):
        counts = self.status_counts(ids)
        return counts[Status.READY], counts[Status.FAILED] + counts[Status.DEAD]
