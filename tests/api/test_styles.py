from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from stylestore.models import Style, StylizedImage

from .conftest import token_client

pytestmark = pytest.mark.django_db

STYLES = "/api/v1/styles/"


def upload(data, name="look.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type)


def slugs(response):
    return [style["slug"] for style in response.json()["results"]]


# ---------------------------------------------------------------------------- reading


def test_public_list_shows_active_styles_with_image_and_preview_urls(api, styles, source, make_variant):
    make_variant(source, styles["wave"], size=512)
    smallest = make_variant(source, styles["wave"], size=256)
    make_variant(source, styles["ink"], status=StylizedImage.Status.PENDING)

    response = api.get(STYLES)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and slugs(response) == ["ink", "wave"]
    ink, wave = body["results"]
    assert wave["name"] == "Wave" and wave["kind"] == "image"
    assert wave["description"] == "Hokusai" and wave["attribution"] == "Public domain"
    assert wave["image"] == f"http://testserver{styles['wave'].image.url}"
    assert wave["preview"] == f"http://testserver{smallest.file.url}"
    assert ink["image"] is None and ink["preview"] is None  # a preset, with nothing ready yet


def test_each_preview_is_read_from_its_index_not_sorted_from_every_variant(api, styles):
    """The list's previews come from the first visible row of each style in the
    ``stylestore_style_preview`` index: no sort of a style's variants (3.4 s at 10,000
    products when there was one)."""
    from django.db import connection
    from django.db.models import OuterRef, Subquery

    from stylestore.api.serializers import preview_candidates

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plan")
    preview = preview_candidates().filter(style=OuterRef("pk")).values("file")[:1]
    sql, params = Style.objects.annotate(preview_file=Subquery(preview)).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = cursor.fetchall()  # (id, parent, _, step)
    node = next(row[0] for row in plan if row[3].startswith("CORRELATED SCALAR SUBQUERY"))
    subquery = [row[3] for row in plan if row[1] == node]
    assert any("USING INDEX stylestore_style_preview" in step for step in subquery), plan
    assert not any("TEMP B-TREE" in step for step in subquery), plan


def test_list_filters_by_kind_and_active(api, styles):
    assert slugs(api.get(STYLES, {"kind": "preset"})) == ["ink"]
    assert slugs(api.get(STYLES, {"kind": "image", "active": "true"})) == ["wave"]
    assert slugs(api.get(STYLES, {"active": "false"})) == []  # inactive styles are not public
    assert slugs(api.get(STYLES, {"kind": ""})) == ["ink", "wave"]  # empty means any


@pytest.mark.parametrize("params", [{"kind": "oil"}, {"active": "maybe"}, {"kind": "x" * 10_000}])
def test_invalid_filters_are_400(api, styles, params):
    response = api.get(STYLES, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert set(response.json()["error"]["fields"]) == set(params)


def test_staff_who_may_view_styles_also_see_inactive_ones(styles, users, make_user):
    editor = token_client(users["editor"])
    assert slugs(editor.get(STYLES, {"active": "false"})) == ["retired"]
    assert editor.get(f"{STYLES}retired/").status_code == 200
    # Staff without the permission, and customers holding it, see what the public sees.
    for user in (users["staff"], users["customer"]):
        assert slugs(token_client(user).get(STYLES)) == ["ink", "wave"]


def test_pagination(api, styles):
    first = api.get(STYLES, {"page_size": 1})
    assert first.json()["count"] == 2 and slugs(first) == ["ink"]
    assert first.json()["next"].endswith("/api/v1/styles/?page=2&page_size=1")
    assert slugs(api.get(STYLES, {"page_size": 1, "page": 2})) == ["wave"]
    past_the_end = api.get(STYLES, {"page": 3})
    assert past_the_end.status_code == 404 and past_the_end.json()["error"]["code"] == "not_found"


def test_detail_by_slug(api, styles):
    response = api.get(f"{STYLES}wave/")
    assert response.status_code == 200 and response.json()["slug"] == "wave"
    for slug in ("retired", "missing", "x" * 200):  # inactive, unknown, longer than any slug
        response = api.get(f"{STYLES}{slug}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("use_tz", [True, False], ids=["aware", "naive datetimes"])
def test_moments_carry_their_utc_offset(api, db, settings, use_tz):
    """RFC 3339, as the schema's date-time says, also where the project keeps naive
    datetimes (in its TIME_ZONE): DRF alone wrote those without an offset."""
    settings.USE_TZ, settings.TIME_ZONE = use_tz, "America/New_York"
    Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    style = api.get(f"{STYLES}ink/").json()
    for name in ("created_at", "updated_at"):
        moment = datetime.fromisoformat(style[name].replace("Z", "+00:00"))
        assert moment.tzinfo is not None, style[name]
        assert abs(moment - datetime.now(dt_timezone.utc)) < timedelta(minutes=5)  # the right moment


def test_etag_and_conditional_get(api, styles):
    first = api.get(STYLES)
    etag = first["ETag"]
    assert etag and first["Cache-Control"] == "no-cache"

    not_modified = api.get(STYLES, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified["ETag"] == etag
    assert api.get(STYLES, HTTP_IF_NONE_MATCH='"other"').status_code == 200

    Style.objects.filter(slug="wave").update(description="Changed")
    changed = api.get(STYLES, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag

    failed = api.get(f"{STYLES}wave/", HTTP_IF_MATCH='"other"')
    assert failed.status_code == 412 and failed.json()["error"]["code"] == "precondition_failed"


def test_responses_to_staff_are_private(editor, styles):
    assert editor.get(STYLES)["Cache-Control"] == "no-cache, private"


# ------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("who, status", [
    ("anonymous", 401), ("customer", 403), ("staff", 403), ("editor", 201), ("superuser", 201),
])
def test_create_permissions(client_as, who, status):
    response = client_as(who).post(STYLES, {"name": "Ink 2", "slug": "ink-2", "kind": "preset",
                                    "preset_weights": {"3": 1}}, format="json")
    assert response.status_code == status
    if status >= 400:
        assert set(response.json()) == {"error"}
        assert not Style.objects.filter(slug="ink-2").exists()


@pytest.mark.parametrize("who, status", [
    ("anonymous", 401), ("customer", 403), ("staff", 403), ("editor", 200), ("superuser", 200),
])
def test_update_permissions(client_as, styles, who, status):
    response = client_as(who).patch(f"{STYLES}ink/", {"description": "Brush and ink"}, format="json")
    assert response.status_code == status
    assert (Style.objects.get(slug="ink").description == "Brush and ink") == (status == 200)


def test_add_permission_alone_cannot_change(make_user, styles):
    client = token_client(make_user("adder", "add_style"))
    assert client.post(STYLES, {"name": "P", "slug": "p", "kind": "preset", "preset_weights": {"1": 1}},
                       format="json").status_code == 201
    assert client.patch(f"{STYLES}ink/", {"name": "X"}, format="json").status_code == 403


def test_session_authentication_enforces_csrf(users, styles):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["editor"])
    assert client.get(STYLES).status_code == 200
    refused = client.patch(f"{STYLES}ink/", {"description": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]

    client.get("/admin/")  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.patch(f"{STYLES}ink/", {"description": "x"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200


@pytest.mark.parametrize("method", ["put", "delete"])
def test_unsupported_methods_are_405_for_everyone(api, editor, styles, method):
    for client in (api, editor):
        response = getattr(client, method)(f"{STYLES}ink/")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"


# ---------------------------------------------------------------------------- writing


def test_create_image_style_with_multipart_upload(editor, image_bytes):
    response = editor.post(STYLES, {"name": "Starry", "slug": "starry", "description": "Swirls",
                                    "image": upload(image_bytes((80, 60)), "starry night.jpg")}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    style = Style.objects.get(slug="starry")
    assert body["image"] == f"http://testserver{style.image.url}"
    # Booleans left out of a form keep their model defaults.
    assert style.active and style.preserve_color and not style.auto_apply
    # What is stored is the image gate's re-encoding, and the fingerprint is of those bytes.
    assert style.image.name.endswith(".jpg") and style.image.read().startswith(b"\xff\xd8\xff")
    assert style.fingerprint == style.compute_fingerprint()


def test_create_preset_style_with_json_normalises_weights(editor):
    response = editor.post(STYLES, {"name": "Blend", "slug": "blend", "kind": "preset",
                                    "preset_weights": {"12": 1, "3": 3}, "default_strength": 0.5}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["preset_weights"] == {"3": 0.75, "12": 0.25}
    assert Style.objects.get(slug="blend").preset_weights == {"3": 0.75, "12": 0.25}


def test_update_replaces_the_image_and_the_fingerprint(editor, styles, image_bytes):
    before = styles["wave"].fingerprint
    response = editor.patch(f"{STYLES}wave/", {"image": upload(image_bytes((70, 70), fmt="PNG"), "new.png",
                                                                 "image/png")}, format="multipart")
    assert response.status_code == 200, response.content
    styles["wave"].refresh_from_db()
    assert styles["wave"].fingerprint != before
    assert styles["wave"].active  # a partial update leaves unsent booleans alone


def test_failed_update_changes_nothing(editor, styles):
    response = editor.patch(f"{STYLES}ink/", {"name": "Renamed", "kind": "image"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"image": ["An image style needs a style image."]}
    assert Style.objects.get(slug="ink").name == "Ink"


@pytest.mark.parametrize("data, fields", [
    ({"name": "X", "slug": "x"}, {"image"}),  # an image style needs an image
    ({"name": "X", "slug": "ink", "kind": "preset", "preset_weights": {"1": 1}}, {"slug"}),  # taken
    ({"name": "X", "slug": "not a slug", "kind": "preset", "preset_weights": {"1": 1}}, {"slug"}),
    ({"name": "X" * 101, "slug": "x", "kind": "preset", "preset_weights": {"1": 1}}, {"name"}),
    ({"name": "X\x00", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}}, {"name"}),
    ({"name": "X", "slug": "x", "kind": "preset"}, {"preset_weights"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"26": 1}}, {"preset_weights"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": [1, 2]}, {"preset_weights"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": "inf"}}, {"preset_weights"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}, "engine": "arbitrary"}, {"engine"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}, "default_strength": 2},
     {"default_strength"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}, "default_strength": "NaN"},
     {"default_strength"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}, "default_strength": "1e999"},
     {"default_strength"}),
    ({"name": "X", "slug": "x", "kind": "preset", "preset_weights": {"1": 1}, "image": "not a file"}, {"image"}),
    ({"name": "X", "slug": "x", "kind": "oil"}, {"kind"}),
])
def test_create_validation_errors(editor, styles, data, fields):
    response = editor.post(STYLES, data, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == fields


@pytest.mark.parametrize("make_file, message", [
    (lambda image_bytes: upload(b"<html>not an image</html>", "page.jpg"), "not a JPEG, PNG, WebP or GIF"),
    (lambda image_bytes: upload(image_bytes((64, 64)), "look.png", "image/png"), "does not match"),
    (lambda image_bytes: upload(image_bytes((64, 64), fmt="BMP"), "look.bmp", "image/bmp"), "not a JPEG"),
    (lambda image_bytes: upload(image_bytes((20, 20)), "tiny.jpg"), "smaller than"),
    (lambda image_bytes: upload(image_bytes((64, 64))[:40], "cut.jpg"), "truncated"),
    (lambda image_bytes: upload(b"", "empty.jpg"), "empty"),
])
def test_uploaded_images_are_judged_by_content(editor, image_bytes, make_file, message):
    response = editor.post(STYLES, {"name": "X", "slug": "x", "image": make_file(image_bytes)}, format="multipart")
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["image"][0]
    assert not Style.objects.exists()


def test_image_limits_come_from_the_settings(editor, image_bytes, settings):
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_PIXELS": 64 * 64 - 1}
    response = editor.post(STYLES, {"name": "X", "slug": "x", "image": upload(image_bytes((64, 64)))},
                           format="multipart")
    assert response.status_code == 400 and "over the limit" in response.json()["error"]["fields"]["image"][0]
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_PIXELS": 10**8, "MAX_UPLOAD_BYTES": 100}
    response = editor.post(STYLES, {"name": "X", "slug": "x", "image": upload(image_bytes((64, 64)))},
                           format="multipart")
    assert response.status_code == 400 and "larger than 100 bytes" in response.json()["error"]["fields"]["image"][0]


def test_deeply_nested_preset_weights_in_a_form_are_400(editor):
    response = editor.post(STYLES, {"name": "X", "slug": "x", "kind": "preset",
                                    "preset_weights": "[" * 100_000}, format="multipart")
    assert response.status_code == 400 and "preset_weights" in response.json()["error"]["fields"]


def test_write_responses_show_the_preview_too(editor, styles, source, make_variant):
    variant = make_variant(source, styles["wave"], size=256)
    response = editor.patch(f"{STYLES}wave/", {"description": "Waves"}, format="json")
    assert response.json()["preview"] == f"http://testserver{variant.file.url}"
