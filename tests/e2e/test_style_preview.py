"""The style preview in a real browser: the page says it is rendering, a real worker
renders it, and the page shows it without the admin doing anything."""
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from stylestore.models import Style

from .conftest import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: The worker imports PyTorch, then renders on a shared CPU.
RENDER_TIMEOUT_MS = 240_000


def test_the_preview_appears_once_the_worker_has_rendered_it(live_server, new_context, artifacts, admin_user,
                                                             start_worker):
    call_command("seed_demo", verbosity=0)
    style = Style.objects.get(slug="great-wave")
    page = new_context().new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/stylestore/style/{style.pk}/change/")
    page.get_by_role("link", name="Preview on a sample product").click()
    expect(page).to_have_title(re.compile("^Preview of"))
    expect(page.get_by_role("status")).to_have_text("Rendering preview…")
    artifacts.shot(page, "rendering")

    start_worker(workers=1)
    preview = page.get_by_role("img", name=re.compile(f"in the style {style.name}$"))
    expect(preview).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    assert preview.evaluate("img => img.complete && img.naturalWidth") > 0
    assert max(preview.evaluate("img => [img.naturalWidth, img.naturalHeight]")) <= 256
    artifacts.shot(page, "ready")
