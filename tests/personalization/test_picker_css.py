"""The style picker brings its own stylesheet, shipped as the app's static file."""
import pytest
from django.contrib.staticfiles import finders


pytestmark = pytest.mark.django_db


def test_the_picker_links_its_stylesheet(client, world):
    products, _ = world(1, 2)
    html = client.get(products[0].get_absolute_url()).content.decode()
    link = '<link rel="stylesheet" href="/static/stylestore/picker.css">'
    assert link in html and html.index(link) < html.index('<form class="stylestore-picker"')
    css = open(finders.find("stylestore/picker.css")).read()
    assert ".stylestore-picker button[aria-pressed=\"true\"]" in css
