"""``manage.py stylize_file``: stylize image files directly, without the job system.

Examples::

    manage.py stylize_file photo.jpg out.webp --style-image painting.jpg --strength 0.8
    manage.py stylize_file photos/ out/ --preset 3:0.5,12:0.5 --format jpeg --json
    manage.py stylize_file photo.png out.png --style great-wave --preserve-color

INPUT and OUTPUT may be folders: every image in INPUT is written to OUTPUT under the
same stem with the format's extension. Models load once for the whole run; images are
rendered a few at a time (same-size images share forward passes). An image that fails
is reported and the others go on; the command then exits with an error.
"""
import argparse
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stylestore.conf import image_limits, stylestore_settings
from stylestore.engine.formats import FORMATS, OUTPUT_FORMATS

#: Output file suffix -> format (".jpeg" is a common spelling of JPEG's too).
SUFFIX_FORMATS = {f".{f.extension}": f.name for f in OUTPUT_FORMATS.values()} | {".jpeg": "jpeg"}
INPUT_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif"}


class Command(BaseCommand):
    help = "Stylize an image file, or every image in a folder, with a style image, a preset or a stored style."

    def add_arguments(self, parser):
        parser.add_argument("input", type=Path, help="Image file or folder of images.")
        parser.add_argument("output", type=Path, help="Output file, or folder (created if missing).")
        style = parser.add_mutually_exclusive_group(required=True)
        style.add_argument("--style-image", type=Path, metavar="PATH", help="Any picture as the style.")
        style.add_argument("--preset", metavar="SPEC", help='Preset index or blend: "7" or "3:0.5,12:0.5".')
        style.add_argument("--style", metavar="SLUG", help="A stored stylestore Style (its defaults apply).")
        parser.add_argument("--strength", type=float, help="0 to 1 (default 1, or the stored style's).")
        parser.add_argument("--max-side", type=int, default=1024, help="Longer side in pixels (default 1024).")
        parser.add_argument("--engine", choices=["arbitrary", "preset", "optimize"],
                            help="Default: preset for presets, arbitrary for style images.")
        parser.add_argument("--preserve-color", action=argparse.BooleanOptionalAction,
                            help="Keep the photo's colours (default off, or the stored style's).")
        parser.add_argument("--region", choices=["all", "product", "background"],
                            help="Style the whole picture, only the product, or only around it; the product is "
                                 "found in any photo (its transparency, else the product-mask network). "
                                 "Default: all, or the stored style's.")
        parser.add_argument("--format", choices=FORMATS,
                            help="Output format (default: from OUTPUT's extension, else webp).")
        parser.add_argument("--quality", type=int, default=90, help="1-100 (default 90).")
        parser.add_argument("--json", action="store_true", help="Print per-image timings and metrics as JSON.")

    def handle(self, *args, **opts):
        from stylestore.engine import EngineError, RenderOptions, Stylizer
        from stylestore.engine.gate import open_image as gate_open

        def open_image(source):
            """The gate, held to the configured limits like every other way in."""
            return gate_open(source, **image_limits())

        inputs, outputs, fmt = self._paths(opts["input"], opts["output"], opts["format"])
        style, defaults = self._style(opts, open_image)
        try:
            options = RenderOptions(
                engine=opts["engine"] or defaults["engine"],
                strength=opts["strength"] if opts["strength"] is not None else defaults["strength"],
                max_side=opts["max_side"],
                preserve_color=opts["preserve_color"] if opts["preserve_color"] is not None else defaults["preserve_color"],
                region=opts["region"] or defaults["region"],
                format=fmt,
                quality=opts["quality"],
            )
            style.check_engine(options.engine)
            stylizer = Stylizer(device=stylestore_settings.DEVICE)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc

        report, failed = [], 0
        batch = stylestore_settings.BATCH_SIZE
        for start in range(0, len(inputs), batch):
            chunk = list(zip(inputs[start : start + batch], outputs[start : start + batch]))
            failed += self._render_chunk(chunk, stylizer, style, options, open_image, report, opts["json"])
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        if failed:
            raise CommandError(f"{failed} of {len(inputs)} images failed")

    def _paths(self, source: Path, target: Path, fmt):
        """Input files, their output paths and the output format."""
        if source.is_dir():
            inputs = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            if not inputs:
                raise CommandError(f"no images ({', '.join(sorted(INPUT_SUFFIXES))}) in {source}")
            if target.exists() and not target.is_dir():
                raise CommandError(f"{target} is a file; with a folder INPUT, OUTPUT must be a folder")
        elif source.is_file():
            inputs = [source]
        else:
            raise CommandError(f"no such file or folder: {source}")
        into_folder = source.is_dir() or target.is_dir()
        fmt = fmt or (None if into_folder else SUFFIX_FORMATS.get(target.suffix.lower())) or FORMATS[0]
        if into_folder:
            target.mkdir(parents=True, exist_ok=True)
            outputs = [target / f"{p.stem}.{OUTPUT_FORMATS[fmt].extension}" for p in inputs]
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            outputs = [target]
        return inputs, outputs, fmt

    def _style(self, opts, open_image):
        """The StyleSpec and the option defaults that come with it."""
        from stylestore.engine import EngineError, StyleSpec

        defaults = {"engine": "arbitrary", "strength": 1.0, "preserve_color": False, "region": "all"}
        try:
            if opts["preset"] is not None:
                return StyleSpec.preset(opts["preset"]), {**defaults, "engine": "preset"}
            if opts["style_image"] is not None:
                return StyleSpec.image(open_image(opts["style_image"])), defaults
            return self._stored_style(opts["style"], open_image)
        except (EngineError, OSError) as exc:
            raise CommandError(f"cannot use that style: {exc}") from exc

    def _stored_style(self, slug, open_image):
        from django.db import DatabaseError

        from stylestore.engine import StyleSpec
        from stylestore.models import Style

        try:
            style = Style.objects.get(slug=slug)
        except Style.DoesNotExist:
            raise CommandError(f"no stored style with slug {slug!r}") from None
        except DatabaseError as exc:
            raise CommandError(f"cannot read stored styles ({exc}); has `manage.py migrate` run?") from exc
        defaults = {"engine": style.effective_engine, "strength": style.default_strength,
                    "preserve_color": style.preserve_color, "region": style.region}
        if style.kind == Style.Kind.PRESET:
            return StyleSpec.preset({int(k): float(v) for k, v in style.preset_weights.items()}), defaults
        if not style.image:
            raise CommandError(f"style {slug!r} has no style image")
        with style.image.open("rb") as fh:
            return StyleSpec.image(open_image(fh)), defaults

    def _render_chunk(self, chunk, stylizer, style, options, open_image, report, as_json) -> int:
        """Decode, render and write one chunk of images; returns how many failed."""
        from stylestore.engine import ImageError

        images, live, failed = [], [], 0
        for source, target in chunk:
            started = time.perf_counter()
            try:
                images.append(open_image(source))
                live.append((source, target, round((time.perf_counter() - started) * 1000, 1)))
            except (ImageError, OSError) as exc:
                failed += self._report(report, as_json, source, target, error=exc)
        if not images:
            return failed
        # Regions and colour preservation work with the product's mask; "all" without
        # preservation styles everything and needs none (the network costs ~0.2 s a photo).
        masks = None
        if options.region != "all" or options.preserve_color:
            masks = [found.mask for found in stylizer.product_masks(images)]
        rendered = stylizer.render(images, style, options, with_metrics=as_json, masks=masks)
        for (source, target, decode_ms), result in zip(live, rendered):
            if result.error is not None:
                failed += self._report(report, as_json, source, target, error=result.error)
                continue
            target.write_bytes(result.data)
            self._report(report, as_json, source, target, result=result, decode_ms=decode_ms)
        return failed

    def _report(self, report, as_json, source, target, *, result=None, error=None, decode_ms=None) -> int:
        """Record one image's outcome (JSON entry or a line on stdout/stderr); 1 if it failed."""
        if error is not None:
            if as_json:
                report.append({"input": str(source), "error": f"{type(error).__name__}: {error}"})
            else:
                self.stderr.write(f"{source}: {error}")
            return 1
        if as_json:
            report.append({"input": str(source), "output": str(target), "width": result.width,
                           "height": result.height, "bytes": len(result.data),
                           "timings": {"decode_ms": decode_ms, **result.timings}, "metrics": result.metrics})
        else:
            self.stdout.write(f"{source} -> {target} ({result.width}x{result.height}, {len(result.data)} bytes)")
        return 0
