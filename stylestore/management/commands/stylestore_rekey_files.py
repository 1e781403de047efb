"""``manage.py stylestore_rekey_files``: move variant files to their keyed names.

Variant files are written under keyed names (``stylestore.variants.files``): unguessable
without ``SECRET_KEY``. Files written before that, or before ``SECRET_KEY`` changed,
keep their old names, and names built from public data let anyone find unapproved
variants. Run this once after upgrading, and after changing ``SECRET_KEY`` when old
names may have leaked. Safe to interrupt and to repeat: it moves only what is not
keyed yet.
"""
from django.core.management.base import BaseCommand

from ...models import StylizedImage
from ...variants import files


class Command(BaseCommand):
    help = "Move variant files written under older names to their keyed, unguessable names."

    def handle(self, *args, **options):
        moved = missing = 0
        for row in StylizedImage.objects.exclude(file="").iterator(chunk_size=500):
            try:
                moved += files.rekey(row)
            except FileNotFoundError:
                missing += 1
                self.stderr.write(f"variant {row.pk}: its file {row.file.name} is missing; left as it is")
        self.stdout.write(f"Moved {moved} variant files to keyed names." + (f" {missing} missing." if missing else ""))
