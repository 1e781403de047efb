"""The demo shop's Content-Security-Policy and Permissions-Policy, in a real Chromium:
every page a customer or the shop's staff opens runs under them without a single
violation (the storefront with its picker and beacon, the admin with its style
widgets and before/after slider, the API docs)."""
import pytest
from playwright.sync_api import expect

from stylestore.models import StylizedImage

from .conftest import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PRODUCT = "delft-basin"
# Collected by the page itself: Playwright's init scripts are not subject to the page's CSP.
RECORD_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__violations = window.__violations || []).push(`${e.violatedDirective} ${e.blockedURI}`);
});"""


def violations(page):
    return page.evaluate("window.__violations || []")


def test_every_page_runs_under_the_policies_without_violations(live_server, new_context, render_catalogue,
                                                               admin_user):
    products = render_catalogue({"great-wave": [PRODUCT], "preset-shards": [PRODUCT]})
    context = new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()

    response = page.goto(f"{live_server.url}/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "camera=()" in response.headers["permissions-policy"]
    assert page.evaluate("document.featurePolicy.allowsFeature('camera')") is False
    page.wait_for_load_state("load")
    assert violations(page) == []

    # A product page: its beacon reports the view, the picker swaps the look in place.
    page.goto(f"{live_server.url}{products[PRODUCT].get_absolute_url()}")
    picker = page.get_by_role("group", name="Choose a look")
    shown = page.locator("[data-stylestore-look]").inner_text()
    target = "great-wave" if shown != "The Great Wave" else "preset-shards"
    button = picker.locator(f'button[value="{target}"]')
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-stylestore-look]")).not_to_have_text(shown)
    assert violations(page) == []

    # The admin: the variants list, a variant's before/after slider, "Apply style…".
    log_in(page, live_server)
    variant = StylizedImage.objects.filter(status=StylizedImage.Status.READY).first()
    for path in ("/admin/stylestore/stylizedimage/", f"/admin/stylestore/stylizedimage/{variant.pk}/change/",
                 "/admin/shop/product/", "/admin/stylestore/style/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
        assert violations(page) == [], path
    page.goto(f"{live_server.url}/admin/shop/product/")
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", "apply_style")
    page.locator("button[name=index]").click()
    expect(page.locator(".stylestore-style-choice").first).to_be_visible()
    assert violations(page) == []

    # The API docs: Swagger UI starts from a script file and renders the operations.
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert violations(page) == []
