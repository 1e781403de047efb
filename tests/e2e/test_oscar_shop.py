"""django-oscar in a real browser: the example shop (examples/oscar_shop) served by
its own runserver, a customer on Oscar's listing and product page, and staff in
Oscar's dashboard: "Apply style…" from its product list, the progress that follows,
the styles, and the review queue's Approve."""
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "e2e-oscar-password"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def oscar_shop(tmp_path_factory):
    env = {**os.environ, "OSCAR_SHOP_VAR": str(tmp_path_factory.mktemp("oscar_e2e")), "Q_WORKERS": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    setup = subprocess.run([sys.executable, str(Path(__file__).with_name("oscar_setup.py")), PASSWORD], env=env,
                           capture_output=True, text=True, timeout=1200)
    assert setup.returncode == 0, setup.stderr[-5000:]
    port = free_port()
    log = Path(env["OSCAR_SHOP_VAR"]) / "server.log"
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                              cwd=ROOT / "examples" / "oscar_shop", env=env, stdout=subprocess.DEVNULL,
                              stderr=log.open("w"))
    try:
        for _attempt in range(600):  # until it listens (readiness, not a timing assertion)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, "the example shop's server exited"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        # Shown by pytest only when a test failed: the server's side of a 500.
        print("The example shop's server log (tail):", log.read_text()[-4000:], sep="\n")


def offline(context):
    """Oscar's layout loads jQuery from a CDN, with a local fallback: no network here,
    so such requests are aborted (as a blocked CDN would be) and the fallback runs."""
    context.route("**/*", lambda route: route.abort("aborted") if not route.request.url.startswith(
        "http://127.0.0.1") else route.continue_())
    return context


def test_customer_sees_looks_on_oscars_pages_and_staff_apply_styles(oscar_shop, new_context, artifacts):
    page = offline(new_context()).new_page()
    page.goto(f"{oscar_shop}/")
    cards = page.locator("article.product_pod")
    expect(cards).to_have_count(8)
    expect(cards.locator("picture source[type='image/webp']")).to_have_count(8)  # every card a look
    page.wait_for_load_state("load")
    artifacts.shot(page, "listing", docs="oscar-listing.png")

    cards.first.locator("h3 a").click()
    picker = page.get_by_role("group", name="Choose a look")
    expect(picker.get_by_role("button")).to_have_count(3)  # the original photo and the two looks
    shown = page.locator("#product_gallery picture source").first.get_attribute("srcset")
    page.reload()
    expect(page.locator("#product_gallery picture source").first).to_have_attribute("srcset", shown)
    original = picker.get_by_role("button", name="Original photo")
    original.click()
    expect(original).to_have_attribute("aria-pressed", "true")
    artifacts.shot(page, "product", docs="oscar-product.png")

    staff = offline(new_context()).new_page()
    staff.goto(f"{oscar_shop}/admin/login/?next=/dashboard/")
    staff.get_by_label("Username").fill("admin")
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Log in").click()
    staff.wait_for_url(f"{oscar_shop}/dashboard/")
    menu = staff.locator("a", has_text="Apply styles to products")  # in the "Styles" dropdown
    expect(menu).to_have_attribute("href", "/dashboard/catalogue/")
    staff.goto(f"{oscar_shop}{menu.get_attribute('href')}")  # Oscar's own product list
    staff.get_by_role("row").filter(has_text="Delft").get_by_role("checkbox").check()
    staff.get_by_role("button", name="Apply style…").click()
    expect(staff.get_by_role("heading", name="Apply style")).to_be_visible()
    staff.get_by_label("Soft pastel").check()
    staff.get_by_label("Size").select_option("256")
    staff.get_by_role("button", name="Recalculate").click()
    expect(staff.locator("#stylestore-counts")).to_contain_text("1 image will be generated")
    expect(staff.locator("#stylestore-counts")).to_contain_text("of rendering")  # the time estimate
    artifacts.shot(staff, "dashboard-apply", docs="oscar-dashboard-apply.png", full_page=True)
    staff.get_by_role("button", name="Queue images").click()
    staff.wait_for_url("**/dashboard/stylestore/progress/?product=*")
    expect(staff.locator("#messages")).to_contain_text("Queued 1 image")
    delft = staff.get_by_role("row").filter(has_text="Delft")
    expect(delft).to_contain_text("queued, waiting for a worker")  # no worker runs in this test
    artifacts.shot(staff, "dashboard-progress", docs="oscar-dashboard-progress.png", full_page=True)

    staff.goto(f"{oscar_shop}{staff.locator('.dropdown-menu a', has_text='Styles').first.get_attribute('href')}")
    expect(staff.get_by_role("row").filter(has_text="Great Wave")).to_be_visible()
    artifacts.shot(staff, "dashboard-styles", docs="oscar-dashboard-styles.png", full_page=True)

    staff.goto(f"{oscar_shop}{staff.locator('a', has_text='Review queue').get_attribute('href')}")
    waiting = staff.get_by_role("row").filter(has_text="Delft").filter(has_text="Great Wave")
    expect(waiting.get_by_role("img")).to_have_count(2)  # before and after
    expect(staff.get_by_role("heading", name="18 images to review")).to_be_visible()  # two looks x 9 images
    artifacts.shot(staff, "dashboard-review", docs="oscar-dashboard-review.png")
    waiting.get_by_role("button", name="Approve").click()
    expect(staff.locator("#messages")).to_contain_text("Approved 1 image.")
    expect(staff.get_by_role("heading", name="17 images to review")).to_be_visible()
    expect(waiting).to_have_count(0)


#: The look an image shows, as its alt text names it.
LOOK_IN_ALT = re.compile(r"in the style “(.+)”$")


def test_a_pick_shows_on_every_image_of_an_oscar_gallery_at_once(oscar_shop, new_context, artifacts):
    """The picker names the gallery's first image; the pick shows on its second too,
    without a reload (the storefront script takes it from the page's fresh render)."""
    page = offline(new_context()).new_page()
    page.goto(f"{oscar_shop}/")
    page.locator("article.product_pod h3 a", has_text="Peonies").click()  # oscar_setup.GALLERY
    # Until the page has loaded, the storefront script may not be running yet, and a
    # click on the picker would post its form (the no-script confirmation page).
    page.wait_for_url("**/catalogue/**", wait_until="load")
    gallery = page.locator("#product_gallery picture img")
    expect(gallery).to_have_count(2)

    def looks():
        return [LOOK_IN_ALT.search(gallery.nth(i).get_attribute("alt"))[1] for i in range(2)]

    picker = page.get_by_role("group", name="Choose a look")
    # The gallery is parsed before the picker below it: wait for the picker too.
    expect(picker.get_by_role("button")).to_have_count(3)  # the original photo and the two looks
    names = [name for name in picker.get_by_role("button").all_inner_texts() if name.strip() != "Original photo"]
    assert len(names) == 2
    target = next(name.strip() for name in names if name.strip() != looks()[1])  # not the second image's look
    second = gallery.nth(1).locator("xpath=..").locator("source")
    before = second.get_attribute("srcset")
    page.evaluate("window.samePage = true")
    picker.get_by_role("button", name=target).click()
    expect(picker.get_by_role("button", name=target)).to_have_attribute("aria-pressed", "true")
    expect(gallery.nth(1)).to_have_attribute("alt", re.compile(f"in the style “{re.escape(target)}”$"))
    assert looks() == [target, target]
    # The second image's <picture> shows another file, not only another alt text.
    assert second.get_attribute("srcset") not in (None, before)
    assert page.evaluate("window.samePage") is True, "the pick reloaded the page"
    artifacts.shot(page, "gallery-picked")
    page.locator("#product_gallery .carousel-control-next").click()  # the second view, in the picked look
    expect(page.locator("#product_gallery .carousel-item").nth(1)).to_have_class(re.compile(r"\bactive\b"))
    artifacts.shot(page, "gallery-second-image")
