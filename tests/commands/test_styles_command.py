"""``manage.py stylestore_styles``: styles from presets, a folder of paintings and a
JSON file; idempotent; bad input named and nothing created."""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from stylestore.models import Style
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("stylestore_styles", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def paintings(tmp_path):
    folder = tmp_path / "paintings"
    folder.mkdir()
    (folder / "great-wave.jpg").write_bytes(make_image_bytes((128, 96), color=(20, 60, 160)))
    (folder / "starry_night.png").write_bytes(make_image_bytes((96, 96), color=(30, 30, 120), fmt="PNG"))
    (folder / "notes.txt").write_text("not a painting")
    return folder


def test_presets_and_blends(db):
    out = run("--presets", "--preset", "7:0.5,19:0.5", "--preset", "3")
    styles = {s.slug: s for s in Style.objects.all()}
    assert set(styles) == {"preset-shards", "preset-pastel", "preset-dusk-blend", "preset-7-19", "preset-3"}
    assert styles["preset-7-19"].preset_weights == {"7": 0.5, "19": 0.5}
    assert styles["preset-7-19"].name == "Preset 7 + Preset 19" and styles["preset-3"].kind == Style.Kind.PRESET
    assert "Created 5 styles (0 already existed)." in out
    assert "Created 0 styles (5 already existed)." in run("--presets", "--preset", "7:0.5,19:0.5", "--preset", "3")


def test_folder_of_paintings(paintings):
    run("--folder", str(paintings), "--inactive")
    styles = {s.slug: s for s in Style.objects.all()}
    assert set(styles) == {"great-wave", "starry_night"}
    wave = styles["great-wave"]
    assert wave.name == "Great Wave" and wave.kind == Style.Kind.IMAGE and not wave.active
    with wave.image.open("rb"), Image.open(wave.image) as stored:
        assert stored.size == (128, 96)  # stored as the gate re-encoded it
    assert len(wave.fingerprint) == 64


def test_json_file(paintings, tmp_path):
    spec = tmp_path / "styles.json"
    spec.write_text(json.dumps({"styles": [
        {"slug": "wave", "name": "The Great Wave", "image": "paintings/great-wave.jpg",
         "attribution": "Hokusai", "default_strength": 0.8, "description": "Blue and foam"},
        {"slug": "dusk", "name": "Dusk", "preset_weights": {"7": 1, "19": 3}, "auto_apply": True},
    ]}))
    run("--json", str(spec))
    wave, dusk = Style.objects.get(slug="wave"), Style.objects.get(slug="dusk")
    assert (wave.attribution, wave.default_strength, wave.description) == ("Hokusai", 0.8, "Blue and foam")
    assert dusk.preset_weights == {"7": 0.25, "19": 0.75} and dusk.auto_apply


def test_bad_entries_are_all_named_and_nothing_is_created(paintings, tmp_path):
    (paintings / "broken.jpg").write_bytes(make_image_bytes((64, 64))[:200])  # truncated
    spec = tmp_path / "styles.json"
    spec.write_text(json.dumps([
        {"slug": "ok", "name": "Fine", "preset_weights": {"3": 1}},
        {"slug": "bad-preset", "name": "Bad", "preset_weights": {"99": 1}},
        {"slug": "both", "name": "Both", "preset_weights": {"3": 1}, "image": "x.jpg"},
        {"slug": "odd", "name": "Odd", "preset_weights": {"3": 1}, "colour": "red"},
    ]))
    with pytest.raises(CommandError) as raised:
        run("--folder", str(paintings), "--json", str(spec))
    message = str(raised.value)
    assert "broken.jpg" in message and "#2" in message and "#3" in message and "unknown colour" in message
    assert "great-wave" not in message and not Style.objects.exists()


@pytest.mark.parametrize("args, message", [
    ([], "Nothing to create"),
    (["--folder", "/no/such/folder"], "is not a folder"),
    (["--json", "/no/such/file.json"], "Cannot read"),
])
def test_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
