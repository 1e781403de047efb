import io
import os
import shutil

import pytest
from PIL import Image


def pytest_addoption(parser):
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        default=False,
        help="e2e tests: also write the README's screenshots to docs/screenshots/ (or set UPDATE_SCREENSHOTS=1)",
    )


@pytest.fixture(autouse=True)
def clear_cache():
    """The cache is shared across processes and runs (throttle counters): start clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def refits_once_a_minute(monkeypatch):
    """The population model refits at most every POPULATION_REFIT_SECONDS, as before
    ``refits.RefitClock``: a new shop's refits every second would land on whichever
    request a test counts the queries of. The clock's own tests
    (``tests/personalization/test_population.py``) put the real minimum back."""
    from stylestore.personalization import refits

    monkeypatch.setattr(refits, "MIN_REFIT_SECONDS", 3600)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes media under its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_image_bytes(size=(96, 64), color=(200, 80, 40), fmt="JPEG", mode="RGB"):
    """A small generated image with a gradient, so it has texture to stylize."""
    img = Image.new(mode, size, color)
    px = img.load()
    for x in range(size[0]):
        for y in range(0, size[1], 4):
            base = px[x, y]
            if mode == "RGB":
                px[x, y] = ((base[0] + x) % 256, (base[1] + y) % 256, base[2])
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def image_bytes():
    return make_image_bytes


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
#: Generous: the machines are small and shared, and a worker renders on the CPU.
ACTION_TIMEOUT_MS = 30_000


def find_chromium():
    """The Chromium binary to drive, or None."""
    configured = os.environ.get("E2E_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session, shared by every browser test: Playwright's sync
    API keeps an event loop running in the thread, so a second one cannot start."""
    executable = find_chromium()
    if executable is None:
        pytest.fail(
            "The e2e tests need Chromium and none was found (looked for $E2E_CHROMIUM, `chromium` and "
            "`chromium-browser` on PATH, /usr/bin/chromium). Install it with "
            "`apt-get install -y chromium chromium-driver` (`make test` does this when it can), "
            "or point E2E_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


