"""``manage.py stylize_file``: files and folders in, stylized files out."""
import io
import json

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from PIL import Image

from stylestore.models import Style
from tests.engine.samples import DEEP_RED, one_thread, painting, photo, studio  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")


def save(image, path):
    image.save(path)
    return path


def run(*args):
    out = io.StringIO()
    call_command("stylize_file", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_one_file_with_a_preset_blend(tmp_path):
    source = save(photo(size=(96, 72)), tmp_path / "in.jpg")
    run(source, tmp_path / "out.png", "--preset", "3:0.5,12:0.5", "--max-side", "64")
    with Image.open(tmp_path / "out.png") as result:
        assert result.format == "PNG" and result.size == (64, 48)


def test_folder_in_folder_out_with_a_bad_file(tmp_path):
    (tmp_path / "in").mkdir()
    save(photo("delft-basin", (80, 64)), tmp_path / "in" / "a.jpg")
    save(photo("peony-panel", (64, 80)), tmp_path / "in" / "b.png")
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not an image")
    style = save(painting(size=(128, 128)), tmp_path / "style.jpg")
    with pytest.raises(CommandError, match="1 of 3 images failed"):
        run(tmp_path / "in", tmp_path / "out", "--style-image", style, "--max-side", "64", "--format", "jpeg")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.jpg"]


def test_json_reports_timings_and_metrics(tmp_path):
    source = save(photo(size=(64, 64)), tmp_path / "in.jpg")
    style = save(painting(size=(96, 96)), tmp_path / "style.jpg")
    report = json.loads(run(source, tmp_path / "out.webp", "--style-image", style, "--max-side", "64",
                            "--strength", "0.7", "--json"))
    (entry,) = report
    assert entry["width"] == 64 and {"decode_ms", "infer_ms", "encode_ms", "metrics_ms"} <= set(entry["timings"])
    assert entry["metrics"]["style_visibility"] > 0.5 and entry["metrics"]["product_delta_e"] > 3


@pytest.mark.parametrize("region", ["product", "background"])
def test_regions_work_on_a_jpeg(tmp_path, region):
    """No transparency: the product-mask network finds the product in the JPEG."""
    shot, true_mask = studio("ellipse", DEEP_RED, (200, 170), seed=11)
    source = save(shot, tmp_path / "in.jpg")
    style = save(painting(size=(128, 128)), tmp_path / "style.jpg")
    report = json.loads(run(source, tmp_path / "out.png", "--style-image", style, "--max-side", "384",
                            "--region", region, "--json"))
    assert "error" not in report[0]
    with Image.open(tmp_path / "out.png") as out:
        result = np.asarray(out.convert("RGB"), dtype=float)
    photo_pixels = np.asarray(Image.open(source).convert("RGB"), dtype=float)
    inside, outside = np.asarray(true_mask) >= 250, np.asarray(true_mask) == 0
    kept, styled = (inside, outside) if region == "background" else (outside, inside)
    if region == "product":
        kept = kept.copy()
        kept[100:220, 70:314] = False  # beyond the feathered seam
    assert np.abs(result[kept] - photo_pixels[kept]).mean() < 4  # JPEG noise aside, the photo's own
    assert np.abs(result[styled] - photo_pixels[styled]).mean() > 20


@pytest.mark.django_db
def test_stored_styles_by_slug(tmp_path):
    Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"7": 1})
    wave = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE, default_strength=0.5)
    buffer = io.BytesIO()
    painting(size=(96, 96)).save(buffer, "JPEG")
    wave.image.save("wave.jpg", ContentFile(buffer.getvalue()), save=True)
    source = save(photo(size=(64, 48)), tmp_path / "in.jpg")
    for slug in ("ink", "wave"):
        run(source, tmp_path / f"{slug}.webp", "--style", slug, "--no-preserve-color")
        with Image.open(tmp_path / f"{slug}.webp") as result:
            assert result.size == (64, 48)
    with pytest.raises(CommandError, match="no stored style"):
        run(source, tmp_path / "x.webp", "--style", "missing")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "99"], "preset index"),
        (["--preset", "3", "--engine", "arbitrary"], "preset engine"),
        (["--preset", "3", "--strength", "2"], "strength"),
    ],
)
def test_bad_arguments_are_command_errors(tmp_path, args, message):
    source = save(photo(size=(64, 64)), tmp_path / "in.jpg")
    with pytest.raises(CommandError, match=message):
        run(source, tmp_path / "out.webp", *args)


def test_missing_input_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.jpg", tmp_path / "out.webp", "--preset", "1")
