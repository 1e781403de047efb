"""Refusing a hostile upload is cheap at the Django layer too: under 100 ms and under
50 MB of allocations for every refused case, bombs included, through the form field
(admin, ModelForms), the model validator and the API's upload path."""
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from stylestore.fields import GatedImageFormField
from stylestore.validators import sanitize_upload, validate_image
from tests.fixtures import hostile_images as corpus

ENTRY_POINTS = {
    "form_field": lambda upload: GatedImageFormField().clean(upload),
    "model_validator": validate_image,
    "api_upload": sanitize_upload,
}


@pytest.fixture(scope="module", autouse=True)
def engine_loaded():
    """Import the image gate once, outside the measurements: the first upload of a
    process pays for importing its modules, which is not the price of a refusal."""
    with pytest.raises(ValidationError):
        sanitize_upload(SimpleUploadedFile("warm.png", corpus.png_bomb_100mp()))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_refusal_is_fast_and_small(case, entry):
    check = ENTRY_POINTS[entry]
    data = case.data
    elapsed = []
    tracemalloc.start()
    try:
        for _ in range(3):  # best of three: the CPU is shared
            upload = SimpleUploadedFile(case.filename, data)
            started = time.perf_counter()
            with pytest.raises(ValidationError):
                check(upload)
            elapsed.append(time.perf_counter() - started)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert min(elapsed) < 0.1, f"{case.name} via {entry}: {min(elapsed) * 1000:.0f} ms"
    assert peak < 50 * 1024 * 1024, f"{case.name} via {entry}: {peak / 2**20:.1f} MiB"


def test_validating_an_upload_does_not_import_torch():
    """A web process gates uploads without loading PyTorch (hundreds of MB per process):
    only the worker's rendering needs it."""
    code = textwrap.dedent("""
        import io, sys, django
        django.setup()
        from PIL import Image
        from stylestore.validators import sanitize_upload
        data = io.BytesIO()
        Image.new("RGB", (64, 64), "red").save(data, "PNG")
        assert sanitize_upload(data.getvalue(), "red.png").extension == "png"
        assert "torch" not in sys.modules, "validating an upload imported torch"
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
