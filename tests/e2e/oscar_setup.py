"""The django-oscar example shop made ready for tests/e2e/test_oscar_shop.py, in its
own process (Oscar's settings are not the demo's): tables, the example's catalogue and
styles (``seed_oscar_shop``), two looks rendered by the worker's task with the real
engine (unreviewed: the example shows them with ``AUTO_APPROVE``), the preset styles'
swatches, and a superuser. Needs OSCAR_SHOP_VAR (a fresh folder)."""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "examples" / "oscar_shop"), str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscar_shop.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from stylestore import tasks  # noqa: E402
from stylestore.models import Style, StylizedImage  # noqa: E402

#: The looks rendered for every product (the other styles' jobs stay queued).
LOOKS = ["preset-pastel", "great-wave"]

call_command("migrate", verbosity=0)
call_command("seed_oscar_shop", verbosity=0)
Style.objects.exclude(slug__in=LOOKS).update(active=False)
tasks.render_variants(list(StylizedImage.objects.filter(style__slug__in=LOOKS).values_list("pk", flat=True)))
tasks.render_swatches([style.preset_weights for style in Style.objects.filter(kind=Style.Kind.PRESET)])
User.objects.create_superuser("admin", "admin@example.com", sys.argv[1])
