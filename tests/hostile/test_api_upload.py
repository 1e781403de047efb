"""The hostile corpus through the API's style upload: a 400 in the API's error shape
with a readable message for every refusal, never a server error, nothing stored."""
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from stylestore.models import Style
from tests.conftest import make_image_bytes
from tests.fixtures import hostile_images as corpus

from .conftest import assert_clean_copy, stored_files

pytestmark = pytest.mark.django_db

STYLES = "/api/v1/styles/"


def create(client, case):
    upload = SimpleUploadedFile(case.filename, case.data, content_type="application/octet-stream")
    return client.post(STYLES, {"name": "Wave", "slug": "wave", "image": upload}, format="multipart")


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_upload_refused_with_a_message(style_editor, media_root, case):
    response = create(style_editor, case)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid"
    (message,) = error["fields"]["image"]
    assert len(message) > 20 and "Traceback" not in message
    assert Style.objects.count() == 0
    assert stored_files(media_root, "stylestore") == []


@pytest.mark.parametrize("case", corpus.ACCEPTED, ids=lambda c: c.name)
def test_upload_accepted_stores_the_clean_copy(style_editor, media_root, case):
    response = create(style_editor, case)
    assert response.status_code == 201, response.content
    style = Style.objects.get()
    assert response.json()["image"].endswith(style.image.url)
    (path,) = stored_files(media_root, "stylestore/styles")
    assert style.image.name == f"stylestore/styles/{path.name}"
    assert_clean_copy(style.image.name, path.read_bytes(), case)
    # The fingerprint is of the stored (clean) bytes: the ones workers render.
    assert style.fingerprint == style.compute_fingerprint()


@pytest.mark.parametrize("case", [corpus.BY_NAME[name] for name in
                                  ("png_bomb_400mp", "truncated_jpeg", "svg_named_png", "gif_300_frames_bomb")],
                         ids=lambda c: c.name)
def test_replacing_an_image_with_a_hostile_one_changes_nothing(style_editor, media_root, case):
    style = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE)
    style.image.save("wave.jpg", ContentFile(make_image_bytes((64, 64))), save=True)
    before = (style.image.name, style.fingerprint, stored_files(media_root, "stylestore"))
    upload = SimpleUploadedFile(case.filename, case.data)
    response = style_editor.patch(f"{STYLES}wave/", {"image": upload}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["error"]["fields"]
    style.refresh_from_db()
    assert (style.image.name, style.fingerprint, stored_files(media_root, "stylestore")) == before
