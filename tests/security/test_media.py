"""Media (uploads and variants, served by ``shop.views.media`` from local storage) is
served only as images: with an image content type and ``nosniff``, so no stored file
can ever be run as HTML or script by a browser."""
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db

HOSTILE_HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize("name, content_type", [
    ("products/vase.jpg", "image/jpeg"),
    ("products/VASE.JPG", "image/jpeg"),
    ("products/vase.png", "image/png"),
    ("stylestore/variants/ab/ab0123456789abcdef0123456789abcd.webp", "image/webp"),
    ("products/anim.gif", "image/gif"),
])
def test_images_are_served_as_images(client, name, content_type):
    stored = default_storage.save(name, ContentFile(make_image_bytes((64, 64))))
    response = client.get(f"/media/{stored}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == make_image_bytes((64, 64))


@pytest.mark.parametrize("name", [
    "products/page.html", "products/page.htm", "products/image.svg", "products/script.js", "products/data.json",
    "products/photo.jpg.html", "products/noextension", "products/archive.zip", "products/photo.tiff",
])
def test_other_files_are_not_served(client, name):
    """Even if something other than an image got into storage, it is never served."""
    stored = default_storage.save(name, ContentFile(HOSTILE_HTML))
    response = client.get(f"/media/{stored}")
    assert response.status_code == 404
    assert b"<script>" not in response.content


@pytest.mark.parametrize("path", [
    "../shop/settings.py", "..%2Fshop%2Fsettings.py", "%2e%2e/%2e%2e/etc/passwd.jpg", "products/../../manage.py",
    "/etc/passwd", "products/missing.jpg", "products/",
])
def test_traversal_and_missing_files_are_refused(client, path):
    """404, or 400 where Django's ``serve`` flags the path as suspicious."""
    response = client.get(f"/media/{path}")
    assert response.status_code in (400, 404)


def test_an_html_payload_named_jpg_is_still_an_image_to_the_browser(client):
    """Files are typed by name; ``nosniff`` stops a browser from second-guessing that,
    so HTML smuggled under an image name (past the gate, e.g. placed in storage by
    hand) is never rendered as a page."""
    stored = default_storage.save("products/smuggled.jpg", ContentFile(HOSTILE_HTML))
    response = client.get(f"/media/{stored}")
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
