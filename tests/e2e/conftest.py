"""End-to-end fixtures: a real Chromium driven by Playwright (sync API) against
pytest-django's live server, and real django-q2 workers (``tests.jobs.conftest.Worker``).

- The browser is Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``
  when missing); ``E2E_CHROMIUM`` points at another binary. Playwright's own browser
  downloads are never used. A missing browser fails every e2e test with a message
  saying so: nothing is skipped.
- Every step's screenshot goes to ``test-artifacts/e2e/<test>/`` (gitignored). The few
  chosen for the README are also written to ``docs/screenshots/`` (committed), but
  only with ``--update-screenshots`` or ``UPDATE_SCREENSHOTS=1``, so CI never dirties
  the work tree.
- Any JavaScript error or failed resource load on a page fails the test that opened it.
"""
import io
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from PIL import Image

from shop.models import Product
from stylestore import tasks
from stylestore.conf import stylestore_settings
from stylestore.models import Style, StylizedImage, Visitor
from stylestore.personalization import caches
from stylestore.personalization.identity import unsign_token
from stylestore.variants import requests
from tests.conftest import ACTION_TIMEOUT_MS
from tests.jobs.conftest import Worker, wait_until  # noqa: F401 - wait_until is for the tests here

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
#: A committed screenshot stays under this size (bytes): under 300 KB either way you count.
DOCS_MAX_BYTES = 290_000
DESKTOP = {"width": 1280, "height": 800}

# Playwright's sync API runs its own event loop in the test thread, which makes Django
# believe the ORM is called from async code. It is not: every call here is synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "e2e-admin-password"


class PageProblems:
    """JavaScript errors, console errors, failed requests and error responses seen on a
    context's pages. The browser's own favicon probe (``/favicon.ico``, which the Django
    admin does not link) is not the page's doing and is left out."""

    def __init__(self):
        self.items = []

    def watch(self, page):
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.items.append(f"uncaught exception on {page.url}: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        return page

    def _console(self, page, msg):
        # A failed load is also a response below, reported there with its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.items.append(f"console error on {page.url}: {msg.text}")

    def _failed(self, request):
        failure = request.failure or ""
        # A navigation or reload aborts requests still in flight (e.g. a beacon): not a fault.
        if "ERR_ABORTED" not in failure:
            self.items.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.items.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    def clear(self):
        self.items.clear()


@pytest.fixture
def new_context(browser, request):
    """``new_context(**options)``: a fresh browser context (own cookies) at desktop size
    unless told otherwise. Its pages are watched for errors; any fails the test."""
    contexts = []
    problems = PageProblems()

    def make(**options):
        options.setdefault("viewport", DESKTOP)
        options.setdefault("device_scale_factor", 1)
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.on("page", problems.watch)
        contexts.append(context)
        return context

    make.problems = problems
    yield make
    for context in contexts:
        context.close()
    if problems.items and not getattr(request.node, "_e2e_failed", False):
        pytest.fail("The browser reported problems:\n" + "\n".join(problems.items), pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item._e2e_failed = True  # don't bury the real failure under follow-up page errors
    return report


class Artifacts:
    """Screenshots of a test's steps, numbered in the order taken."""

    def __init__(self, directory: Path, update_docs: bool):
        self.directory = directory
        self.update_docs = update_docs
        self.count = 0
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    def path(self, name):
        return self.directory / name

    def shot(self, page, name, *, docs=None, full_page=False, locator=None):
        """Save a screenshot as ``NN-name.png``; with ``docs="file.png"`` also as the
        documentation screenshot of that name when updating them."""
        self.count += 1
        target = self.directory / f"{self.count:02d}-{name}.png"
        (locator or page).screenshot(path=str(target), **({} if locator else {"full_page": full_page}))
        if docs and self.update_docs:
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            data = compact_png(target.read_bytes())
            assert len(data) <= DOCS_MAX_BYTES, f"{docs}: {len(data)} bytes even after compaction"
            (DOCS_SCREENSHOTS / docs).write_bytes(data)
        return target


def compact_png(data: bytes, limit: int = DOCS_MAX_BYTES) -> bytes:
    """A PNG under ``limit`` bytes: losslessly optimized if that is enough, else reduced
    to a 256-colour palette, else also scaled down step by step."""
    image = Image.open(io.BytesIO(data)).convert("RGB")

    def encode(img, palette):
        buf = io.BytesIO()
        if palette:
            img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        img.save(buf, "PNG", optimize=True)
        return buf.getvalue()

    out = encode(image, palette=False)
    scale = 1.0
    while len(out) > limit:
        out = encode(image, palette=True)
        if len(out) <= limit or scale < 0.4:
            break
        scale *= 0.85
        image = image.resize((round(image.width * 0.85), round(image.height * 0.85)), Image.Resampling.LANCZOS)
    return out


@pytest.fixture
def artifacts(request):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    update = request.config.getoption("--update-screenshots") or os.environ.get("UPDATE_SCREENSHOTS") == "1"
    return Artifacts(ARTIFACTS / name, update)


@pytest.fixture(autouse=True)
def e2e_settings(settings):
    # Tests log in through the real login form; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Per-process caches (throttle counters, the policy's fitted model) outlive a test.
    cache.clear()
    caches.clear_caches()
    yield
    cache.clear()
    caches.clear_caches()


@pytest.fixture
def admin_user(transactional_db):
    return User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)


@pytest.fixture
def start_worker(media_root, artifacts):
    """``start_worker(**kwargs)``: a real ``manage.py qcluster`` on the test database and
    media; its log is kept with the test's artifacts. Killed at the end of the test."""
    started = []

    def start(**kwargs):
        worker = Worker(media_root, artifacts.path("worker.log"), **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.kill()


def log_in(page, live_server, username=ADMIN_USERNAME, password=ADMIN_PASSWORD):
    """Log in through the admin's login form."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")


#: ``(el) => ratio``: WCAG contrast ratio of an element's text colour against the first
#: opaque background behind it (walking up the ancestors; white if none).
CONTRAST_JS = """(el) => {
    const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
    const lum = ({r, g, b}) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                                 return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    let node = el, bg = null;
    while (node && node.nodeType === 1) {
        const c = parse(getComputedStyle(node).backgroundColor);
        if (c.a >= 0.99) { bg = c; break; }
        node = node.parentElement;
    }
    bg = bg || {r: 255, g: 255, b: 255};
    const fg = parse(getComputedStyle(el).color);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    return (hi + 0.05) / (lo + 0.05);
}"""

#: ``([el, name]) => bool``: whether a CSS colour property of ``el`` equals the admin
#: theme variable it should come from (resolved on a probe element).
USES_THEME_COLOUR_JS = """([el, property, variable]) => {
    const probe = document.createElement('div');
    probe.style.setProperty(property, `var(${variable})`);
    el.parentElement.appendChild(probe);
    const expected = getComputedStyle(probe).getPropertyValue(property);
    probe.remove();
    return {actual: getComputedStyle(el).getPropertyValue(property), expected};
}"""


def theme_colour(locator, property, variable):
    """``(actual, expected)`` colours: ``property`` of the element and admin ``variable``."""
    result = locator.evaluate(f"(el) => ({USES_THEME_COLOUR_JS})([el, {property!r}, {variable!r}])")
    return result["actual"], result["expected"]


def contrast(locator):
    return locator.evaluate(f"(el) => ({CONTRAST_JS})(el)")


#: The size bucket the e2e tests render: small, so a CPU renders it in seconds.
RENDER_SIZE = 256


@pytest.fixture
def render_catalogue(transactional_db, media_root):
    """``render({style slug: [product slugs] or "*"})``: the demo catalogue (``seed_demo``)
    with those variants rendered in this process by the real engine (the worker's own
    entry point, ``stylestore.tasks.render_variants``), approved, plus the photos' style
    embeddings ("more in this style" needs them). Returns ``{slug: Product}``."""
    from stylestore.variants.sources import sync_sources
    from stylestore.variants.worker import analyse_sources

    def render(looks):
        call_command("seed_demo", verbosity=0)
        products = {p.slug: p for p in Product.objects.select_related("category")}
        sources = {s.object_id: s for s in sync_sources(list(products.values()), "image")}
        ids = []
        for style_slug, slugs in looks.items():
            chosen = products.values() if slugs == "*" else [products[slug] for slug in slugs]
            ids += requests.request_variants(
                [sources[str(p.pk)] for p in chosen], [Style.objects.get(slug=style_slug)],
                requests.RenderRequest(max_side=RENDER_SIZE), enqueue=False,
            ).ids
        outcome = tasks.render_variants(ids)
        assert outcome["ready"] == len(ids), outcome
        # Shown at once whatever STYLESTORE["AUTO_APPROVE"] says.
        StylizedImage.objects.filter(pk__in=ids).update(review=StylizedImage.Review.APPROVED)
        analyse_sources([s.pk for s in sources.values()])
        caches.clear_caches()
        return products

    return render


def variant_of(url):
    """The ``StylizedImage`` whose file a media URL serves, or None (e.g. an original photo)."""
    path = unquote(urlsplit(url).path)
    if not path.startswith(settings.MEDIA_URL):
        return None
    return StylizedImage.objects.filter(file=path.removeprefix(settings.MEDIA_URL)).select_related("style").first()


def visitor_of(context):
    """The ``Visitor`` row behind a browser context's visitor cookie."""
    name = stylestore_settings.VISITOR_COOKIE
    token = next(c["value"] for c in context.cookies() if c["name"] == name)
    key, _issued = unsign_token(token.strip('"'))
    return Visitor.objects.get(key=key)
