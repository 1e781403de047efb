"""``manage.py stylestore_styles``: create styles without the admin or the demo.

Examples::

    manage.py stylestore_styles --presets                   # three starter looks from the built-in presets
    manage.py stylestore_styles --preset 7:0.5,19:0.5 --preset 3
    manage.py stylestore_styles --folder paintings/         # one image style per painting
    manage.py stylestore_styles --json styles.json

A JSON file holds a list of styles (or ``{"styles": [...]}``), each with a ``slug``, a
``name`` and either an ``image`` (a path, relative to the file) or ``preset_weights``
(``{"preset index": weight}``), and optionally any other field of the style
(``description``, ``attribution``, ``default_strength``, ``preserve_color``,
``auto_apply``, ``active``, ``engine``...)::

    [{"slug": "great-wave", "name": "The Great Wave", "image": "paintings/great-wave.jpg",
      "attribution": "Katsushika Hokusai, c. 1831"},
     {"slug": "dusk", "name": "Dusk blend", "preset_weights": {"7": 0.5, "19": 0.5}}]

Every style is checked first (images through the upload gate, weights, fields); if
any is wrong, the command names each problem and creates nothing. Styles whose slug
exists already are left as they are, so running it again adds nothing twice.
"""
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from ...engine.preset_names import PRESET_NAMES
from ...models import Style
from ...validators import sanitize_upload

#: The looks ``--presets`` starts a shop with (the demo's presets).
STARTER_PRESETS = [
    {"slug": "preset-shards", "name": "Bold shards", "preset_weights": {"3": 1.0}},
    {"slug": "preset-pastel", "name": "Soft pastel", "preset_weights": {"12": 1.0}},
    {"slug": "preset-dusk-blend", "name": "Dusk blend", "preset_weights": {"7": 0.5, "19": 0.5}},
]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}
#: Style fields a JSON entry may set besides slug, name, image and preset_weights.
SETTABLE = {field.name for field in Style._meta.concrete_fields if field.editable} - {
    "id", "slug", "name", "kind", "image", "preset_weights"}


def preset_spec(text):
    """``7:0.5,19:0.5`` (or ``3``) as a style entry named after its presets."""
    weights = {}
    for part in text.split(","):
        index, _sep, weight = part.partition(":")
        weights[index.strip()] = weight.strip() or "1"
    indices = "-".join(weights)
    names = " + ".join(PRESET_NAMES[int(i)] if i.isdigit() and int(i) < len(PRESET_NAMES) else i for i in weights)
    return {"slug": f"preset-{indices}", "name": names, "preset_weights": weights}


class Command(BaseCommand):
    help = "Create styles from the built-in presets, a folder of paintings, or a JSON file."

    def add_arguments(self, parser):
        parser.add_argument("--presets", action="store_true", help="The three starter preset styles.")
        parser.add_argument("--preset", action="append", default=[], metavar="N[:W,M:W]",
                            help="A style from one preset or a blend of presets; repeat for several.")
        parser.add_argument("--folder", type=Path, help="One image style per image file in this folder.")
        parser.add_argument("--json", type=Path, dest="json_file", metavar="FILE", help="Styles described in a file.")
        parser.add_argument("--inactive", action="store_true", help="Create them inactive (not shown yet).")

    def handle(self, *args, presets, preset, folder, json_file, inactive, **options):
        entries = [*(STARTER_PRESETS if presets else []), *map(preset_spec, preset)]
        if folder is not None:
            entries += self.folder_entries(folder)
        if json_file is not None:
            entries += self.json_entries(json_file)
        if not entries:
            raise CommandError("Nothing to create: give --presets, --preset, --folder or --json.")
        existing = set(Style.objects.filter(slug__in=[e.get("slug") for e in entries]).values_list("slug", flat=True))
        styles, problems, seen = [], [], set()
        for entry in entries:
            slug = entry.get("slug")
            if slug in existing or slug in seen:
                continue
            seen.add(slug)
            try:
                styles.append(self.build(entry, inactive))
            except ValidationError as exc:
                detail = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
                problems.append(f"{entry.get('source', slug)}: {detail}")
        if problems:
            raise CommandError("Nothing was created:\n  " + "\n  ".join(problems))
        with transaction.atomic():
            for style in styles:
                style.save()
        for style in styles:
            self.stdout.write(f"  {style.slug}: {style.name}")
        self.stdout.write(self.style.SUCCESS(f"Created {len(styles)} styles ({len(existing)} already existed)."))

    @staticmethod
    def folder_entries(folder):
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise CommandError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        return [{"slug": slugify(p.stem), "name": p.stem.replace("-", " ").replace("_", " ").strip().title(),
                 "image": p, "source": str(p)} for p in paths]

    @staticmethod
    def json_entries(path):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}")
        items = data.get("styles") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise CommandError(f"{path} must hold a list of styles, or {{\"styles\": [...]}}.")
        entries = []
        for number, item in enumerate(items, 1):
            entry = {**item, "source": f"{path} #{number}"}
            if "image" in item:
                entry["image"] = path.parent / str(item["image"])
            entries.append(entry)
        return entries

    @staticmethod
    def build(entry, inactive):
        """An unsaved, fully validated Style (its image sanitized by the upload gate)."""
        unknown = set(entry) - SETTABLE - {"slug", "name", "image", "preset_weights", "source"}
        if unknown:
            raise ValidationError({"fields": [f"unknown {', '.join(sorted(unknown))}; a style may set slug, name, "
                                              f"image or preset_weights, and {', '.join(sorted(SETTABLE))}"]})
        if ("image" in entry) == ("preset_weights" in entry):
            raise ValidationError({"style": ["give either an image or preset_weights"]})
        fields = {key: entry[key] for key in SETTABLE & set(entry)}
        style = Style(slug=entry.get("slug", ""), name=entry.get("name", ""), **fields)
        if inactive:
            style.active = False
        if "image" in entry:
            style.kind = Style.Kind.IMAGE
            try:
                with open(entry["image"], "rb") as fh:
                    style.image = sanitize_upload(File(fh), Path(entry["image"]).name)
            except OSError as exc:
                raise ValidationError({"image": [str(exc)]})
            except ValidationError as exc:  # the gate's own errors name no field
                raise ValidationError({"image": exc.messages})
        else:
            style.kind = Style.Kind.PRESET
            style.preset_weights = entry["preset_weights"]
        style.full_clean()
        return style
