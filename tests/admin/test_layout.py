"""The admin's wording around the style preview, and Stylestore's layout rules being served."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ADD_NOTE = "Once you save the style, its page offers “Preview on a sample product”"


@pytest.fixture
def editor_client(client, make_staff):
    client.force_login(make_staff("view_style", "change_style", "add_style"))
    return client


def test_a_new_style_is_told_the_preview_comes_after_saving(editor_client, styles):
    page = editor_client.get(reverse("admin:stylestore_style_add")).content.decode()
    assert ADD_NOTE in page
    assert 'class="stylestore-previewlink"' not in page  # no button to point at yet
    page = editor_client.get(reverse("admin:stylestore_style_change", args=[styles["ink"].pk])).content.decode()
    assert ADD_NOTE not in page
    assert reverse("admin:stylestore_style_preview", args=[styles["ink"].pk]) in page


def test_the_event_list_gets_the_stylesheet_that_fits_it_to_the_page(client, make_staff):
    client.force_login(make_staff("view_styleevent"))
    page = client.get(reverse("admin:stylestore_styleevent_changelist")).content.decode()
    assert "stylestore/admin/stylestore.css" in page
