import pytest

from stylestore.models import Style, StylizedImage

pytestmark = pytest.mark.django_db


def variants_url(reference):
    return f"/api/v1/sources/{reference}/variants/"


def ids(response):
    return [variant["id"] for variant in response.json()["results"]]


def test_lists_visible_variants_with_srcset_per_look(api, product, source, styles, make_variant):
    small = make_variant(source, styles["wave"], size=256)
    large = make_variant(source, styles["wave"], size=512)
    other_look = make_variant(source, styles["wave"], size=512, strength=0.5)
    jpeg = make_variant(source, styles["wave"], size=256, output_format="jpeg")
    ink = make_variant(source, styles["ink"], size=768)

    response = api.get(variants_url(f"shop.product:{product.pk}"))

    assert response.status_code == 200
    by_id = {variant["id"]: variant for variant in response.json()["results"]}
    assert set(by_id) == {small.pk, large.pk, other_look.pk, jpeg.pk, ink.pk}
    url = lambda variant: f"http://testserver{variant.file.url}"  # noqa: E731
    assert by_id[small.pk] == {
        "id": small.pk, "style": "wave", "field": "image", "url": url(small), "width": 256, "height": 170,
        "format": "webp", "strength": 1.0, "preserve_color": True, "region": "all",
        "srcset": f"{url(small)} 256w, {url(large)} 512w",
    }
    assert by_id[large.pk]["srcset"] == by_id[small.pk]["srcset"]
    # Another strength or format is another look, with a srcset of its own.
    assert by_id[other_look.pk]["srcset"] == f"{url(other_look)} 512w"
    assert by_id[jpeg.pk]["srcset"] == f"{url(jpeg)} 256w"
    assert by_id[ink.pk]["style"] == "ink" and by_id[ink.pk]["srcset"] == f"{url(ink)} 768w"


def test_only_visible_variants_are_public(api, product, source, styles, make_variant, settings):
    visible = make_variant(source, styles["wave"], size=256)
    make_variant(source, styles["wave"], size=512, status=StylizedImage.Status.PENDING)
    make_variant(source, styles["wave"], size=768, status=StylizedImage.Status.FAILED)
    make_variant(source, styles["wave"], size=1024, review=StylizedImage.Review.REJECTED)
    unreviewed = make_variant(source, styles["ink"], review=StylizedImage.Review.UNREVIEWED)
    make_variant(source, styles["retired"])
    stale = make_variant(source, styles["wave"], size=256, output_format="png")
    StylizedImage.objects.filter(pk=stale.pk).update(source_hash="0" * 64)  # the photo changed since
    url = variants_url(f"shop.product:{product.pk}")

    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": True}
    assert sorted(ids(api.get(url))) == [visible.pk, unreviewed.pk]
    settings.STYLESTORE = {**settings.STYLESTORE, "AUTO_APPROVE": False}
    assert ids(api.get(url)) == [visible.pk]

    Style.objects.filter(slug="wave").update(active=False)
    assert ids(api.get(url)) == []


def test_srcset_spans_pages(api, product, source, styles, make_variant):
    small, large = make_variant(source, styles["wave"], size=256), make_variant(source, styles["wave"], size=512)
    second_page = api.get(variants_url(f"shop.product:{product.pk}"), {"page_size": 1, "page": 2}).json()
    assert [v["id"] for v in second_page["results"]] == [large.pk]
    assert second_page["results"][0]["srcset"].count("w, ") == 1  # both sizes, though one is on page 1
    assert small.file.url in second_page["results"][0]["srcset"]


def test_filters(api, product, source, styles, make_variant):
    wave = make_variant(source, styles["wave"])
    jpeg = make_variant(source, styles["wave"], output_format="jpeg")
    ink = make_variant(source, styles["ink"])
    url = variants_url(f"shop.product:{product.pk}")
    assert sorted(ids(api.get(url, {"style": "wave"}))) == [wave.pk, jpeg.pk]
    assert ids(api.get(url, {"style": "ink"})) == [ink.pk]
    assert ids(api.get(url, {"style": "nope"})) == []
    response = api.get(url, {"style": "not a slug"})
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"style"}


def test_object_without_variants_is_an_empty_list(api, make_product):
    bare = make_product("bare")
    response = api.get(variants_url(f"shop.product:{bare.pk}"))
    assert response.status_code == 200 and response.json()["count"] == 0


def test_other_objects_variants_are_not_listed(api, product, source, styles, make_variant, make_product):
    make_variant(source, styles["wave"])
    other = make_product("other", color=(1, 2, 3))
    assert api.get(variants_url(f"shop.product:{other.pk}")).json()["count"] == 0


@pytest.mark.parametrize("reference", [
    "shop.product", "shop.product:", "product:1", "shop.product:1:2", "Shop.Product:1", "shop.product: 1",
    "shop.product:abc", "shop.product:1.5", "shop.product:99999999999999999999", "shop.product:-99999999999999999999",
    "shop.product:" + "1" * 65, "shop.product:%FF", "shop.product:%00", "%C3%A9.product:1", "x" * 5000,
])
def test_malformed_references_are_400(api, reference):
    response = api.get(variants_url(reference))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_reference"


@pytest.mark.parametrize("reference", [
    "shop.product:999", "shop.product:0", "shop.product:-1",  # no such object
    "shop.category:1", "auth.user:1", "stylestore.style:1",  # not source models
    "nope.nope:1", "shop.nope:1",  # not models at all
])
def test_unknown_references_are_404(api, product, reference):
    response = api.get(variants_url(reference))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_reference"


def test_references_that_cannot_be_routed_are_404(api):
    response = api.get("/api/v1/sources/shop.product%2F1/variants/")
    assert response.status_code == 404 and set(response.json()) == {"error"}


def test_etag_and_conditional_get(api, product, source, styles, make_variant):
    url = variants_url(f"shop.product:{product.pk}")
    first = api.get(url)
    assert api.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    variant = make_variant(source, styles["wave"])
    assert api.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    etag = api.get(url)["ETag"]
    StylizedImage.objects.filter(pk=variant.pk).update(review=StylizedImage.Review.REJECTED)
    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200  # a rejection is seen at once
