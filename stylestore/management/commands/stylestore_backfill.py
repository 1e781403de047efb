"""``manage.py stylestore_backfill``: bring photos that existed before Stylestore was
installed (or before their model joined ``SOURCE_MODELS``) into it.

Stylestore learns about a photo when its object is saved. A catalogue that was there
first has no source rows: no content hashes or sizes (so every page reads its photos'
sizes from storage), and no embeddings (so "More in this style" and the choice by
browsing history have nothing to work with). This command makes them::

    manage.py stylestore_backfill                  # every source model; embeddings queued for the workers
    manage.py stylestore_backfill --model catalogue.ProductImage --sync   # embeddings computed here

Idempotent and resumable: photos already hashed are skipped (``--rehash`` reads them
all again), and only photos without an embedding or a current product mask get one
(a mask by an older rule, ``engine.saliency.MASK_VERSION``, is computed again), so an
interrupted run just continues when started again. Embeddings are computed by the same task as after an
upload (``stylestore.tasks.analyse_sources``), with whatever else is computed once
per photo. The preset swatches the admin shows (``previews.every_swatch``) that are
missing are rendered too (``stylestore.tasks.render_swatches``).
"""
from itertools import islice

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from ... import tasks
from ...models import SourceImage
from ...variants import masks, previews, queue
from ...variants.sources import parse_source_models, source_models, sync_sources
from ..progress import ProgressBar


def chunks(items, size):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class Command(BaseCommand):
    help = "Hash, measure and embed the photos of a catalogue that existed before Stylestore."

    def add_arguments(self, parser):
        parser.add_argument("--model", action="append", dest="models", default=[], metavar="APP.MODEL",
                            help="Only this source model (repeat for several); default: every one.")
        parser.add_argument("--sync", action="store_true",
                            help="Compute the embeddings in this process (loads the engine) instead of queueing "
                                 "them for the workers.")
        parser.add_argument("--rehash", action="store_true",
                            help="Read every photo again, not only those never hashed.")
        parser.add_argument("--batch-size", type=int, default=100, metavar="N",
                            help="Objects read, and photos embedded per task, at a time (default 100).")

    def handle(self, *args, models, sync, rehash, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        configs = self.selected(models)
        work = [(apps.get_model(label), field) for label, config in configs.items() for field in config.fields]
        pending = [(model, field, self.unhashed(model, field, rehash)) for model, field in work]
        total = sum(len(pks) for _model, _field, pks in pending)
        bar = ProgressBar(self.stderr, total, labels=("hashed", "unreadable"))
        hashed = unreadable = 0
        bar.update(hashed, unreadable)
        for model, field, pks in pending:
            for chunk in chunks(pks, batch_size):
                for source in sync_sources(model._default_manager.filter(pk__in=chunk).order_by("pk"), field):
                    if source.content_hash:
                        hashed += 1
                    else:
                        unreadable += 1
                bar.update(hashed, unreadable)
        bar.close()
        sources = SourceImage.objects.filter(self.sources_of(work)).exclude(content_hash="")
        unembedded = set(sources.filter(embedding__isnull=True).values_list("pk", flat=True))
        unmasked = {source.pk for source in sources.only("pk", "mask", "mask_info", "content_hash").iterator()
                    if not masks.is_current(source)}
        ids = sorted(unembedded | unmasked)
        self.stdout.write(f"Hashed {hashed} photos ({unreadable} unreadable); {len(ids)} need an embedding or a "
                          f"product mask ({len(unmasked)} without a mask by today's rule).")
        if sync:
            bar = ProgressBar(self.stderr, len(ids), labels=("embedded", "failed"))
            embedded = failed = 0
            bar.update(embedded, failed)
            for chunk in chunks(ids, batch_size):
                done = tasks.analyse_sources(chunk)
                embedded, failed = embedded + done, failed + len(chunk) - done
                bar.update(embedded, failed)
            bar.close()
            self.stdout.write(self.style.SUCCESS(f"Embedded {embedded} photos ({failed} failed)."))
        else:
            for chunk in chunks(ids, batch_size):
                queue.enqueue_analysis(chunk)
            self.stdout.write(self.style.SUCCESS(f"Queued {len(ids)} photos for the workers to analyse."))
        self.swatches(sync)

    def swatches(self, sync):
        blends = previews.every_swatch()
        if sync:
            rendered = tasks.render_swatches(blends)["rendered"]
            self.stdout.write(self.style.SUCCESS(f"Rendered {rendered} preset swatches."))
        else:
            waiting = sum(found.status == "rendering" for found in previews.swatches(blends))
            self.stdout.write(self.style.SUCCESS(f"Preset swatches: {waiting} of {len(blends)} on their way "
                                                 "(queued for the workers unless already)."))

    def selected(self, labels):
        configured = source_models()
        if not configured:
            raise CommandError("STYLESTORE['SOURCE_MODELS'] is empty: there is nothing to backfill.")
        if not labels:
            return configured
        chosen, problems = parse_source_models({label: [] for label in labels})
        if problems:
            raise CommandError(" ".join(problems))
        missing = [label for label in chosen if label not in configured]
        if missing:
            raise CommandError(f"Not in STYLESTORE['SOURCE_MODELS']: {', '.join(missing)}. It lists: "
                               f"{', '.join(configured)}.")
        return {label: configured[label] for label in chosen}

    @staticmethod
    def unhashed(model, field, rehash):
        """Primary keys of the objects with a photo in ``field`` that still need reading."""
        objects = model._default_manager.exclude(**{field: ""}).exclude(**{f"{field}__isnull": True})
        pks = list(objects.order_by("pk").values_list("pk", flat=True))
        if rehash:
            return pks
        done = set(
            SourceImage.objects.filter(content_type=ContentType.objects.get_for_model(model), field_name=field)
            .exclude(content_hash="").exclude(width=None).values_list("object_id", flat=True)
        )
        return [pk for pk in pks if str(pk) not in done]

    @staticmethod
    def sources_of(work):
        condition = Q(pk__in=[])
        for model, field in work:
            condition |= Q(content_type=ContentType.objects.get_for_model(model), field_name=field)
        return condition
