"""Lighthouse-style checks of the storefront, offline, in a real browser: no console
errors, no layout shift while images arrive (CLS measured by the browser itself),
every image sized and described, landmarks and contrast, small HTML."""
import pytest

from .conftest import CONTRAST_JS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PRODUCT = "delft-basin"
MAX_HTML_BYTES = 100 * 1024

#: Installed before any page script runs: sums the page's layout shifts (CLS without
#: session windows: stricter) and remembers the largest contentful paint element.
OBSERVERS_JS = """
window.__e2e = {cls: 0, shifts: [], lcp: null};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.hadRecentInput) continue;
    window.__e2e.cls += entry.value;
    window.__e2e.shifts.push({value: entry.value, sources: (entry.sources || []).map(
      (s) => s.node && s.node.outerHTML ? s.node.outerHTML.slice(0, 160) : String(s.node && s.node.nodeName))});
  }
}).observe({type: 'layout-shift', buffered: true});
new PerformanceObserver((list) => {
  const entries = list.getEntries();
  window.__e2e.lcp = entries[entries.length - 1].element;
}).observe({type: 'largest-contentful-paint', buffered: true});
"""

#: Every visible element with its own text whose contrast is below WCAG AA.
LOW_CONTRAST_JS = f"""() => {{
  const contrast = {CONTRAST_JS};
  const offenders = [];
  for (const el of document.body.querySelectorAll('*')) {{
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.clip === 'rect(0px, 0px, 0px, 0px)') continue;
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const ratio = contrast(el);
    if (ratio < needed) offenders.push(`${{el.tagName.toLowerCase()}}.${{el.className}} "${{el.textContent.trim().slice(0, 40)}}": ${{ratio.toFixed(2)}} < ${{needed}}`);
  }}
  return offenders;
}}"""


def images_after_first_paint(page, path):
    """Open ``path`` holding back every image until the page has been laid out and
    painted without them, as on a slow connection: an image box without its size
    would then grow when its image arrives, and the browser counts that shift."""
    held, released = [], []

    def hold(route):
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/media/**", hold)
    response = page.goto(path, wait_until="domcontentloaded")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.wait_for_timeout(300)
    assert held, "the page requested no image"
    released.append(True)
    for route in held:
        route.continue_()
    page.wait_for_load_state("load")
    return response


def load_everything(page):
    """Scroll to the end step by step, so lazy images load, then back to the top."""
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, height + 400, 400):
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(150)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("Array.from(document.images).every((img) => img.complete)")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)


def test_storefront_page_quality(live_server, new_context, artifacts, render_catalogue):
    products = render_catalogue({"great-wave": [PRODUCT, "serape-blanket"], "irises": [PRODUCT]})
    for page_name, path in [("product", products[PRODUCT].get_absolute_url()), ("listing", "/")]:
        check_page(page_name, f"{live_server.url}{path}", new_context, artifacts)


def check_page(page_name, url, new_context, artifacts):
    # The page's CSP forbids eval, which Playwright's wait_for_function needs; the policy
    # itself is checked in test_security_headers.py.
    context = new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    context.add_init_script(OBSERVERS_JS)
    page = context.new_page()
    console = []
    page.on("console", lambda msg: msg.type == "error" and console.append(msg.text))
    page.on("pageerror", lambda exc: console.append(f"uncaught: {exc}"))

    response = images_after_first_paint(page, url)
    assert response.status == 200
    html = response.body()
    assert len(html) < MAX_HTML_BYTES, f"{len(html)} bytes of HTML"
    if page_name == "product":
        # The product photo is the largest paint (observed before any input, which ends it).
        page.wait_for_function("window.__e2e.lcp && window.__e2e.lcp.matches('.product-photo img')", timeout=15_000)
    load_everything(page)
    artifacts.shot(page, page_name, full_page=True)

    # No layout shift: every image box had its size before the image arrived.
    result = page.evaluate("window.__e2e.cls")
    shifts = page.evaluate("window.__e2e.shifts")
    assert result < 0.001, f"CLS {result:.4f}: {shifts}"

    images = page.evaluate("""Array.from(document.images).map((img) => ({
        html: img.outerHTML.slice(0, 160), width: img.getAttribute('width'), height: img.getAttribute('height'),
        alt: img.getAttribute('alt'), decorative: !!img.closest('button, [aria-hidden=true]'),
        loaded: img.complete && img.naturalWidth > 0, lazy: img.loading === 'lazy',
        bottom: img.getBoundingClientRect().bottom}))""")
    assert images
    for img in images:
        assert img["width"] and img["height"], f"no width/height: {img['html']}"
        assert img["alt"] is not None, f"no alt: {img['html']}"
        # Decorative thumbnails inside a labelled button may have alt=""; nothing else.
        assert img["alt"].strip() or img["decorative"], f"empty alt: {img['html']}"
        assert img["loaded"], f"broken image: {img['html']}"
        if img["bottom"] <= 800 and not img["decorative"]:
            assert not img["lazy"], f"an image wholly in the first viewport is lazy-loaded: {img['html']}"
    if page_name == "product":
        assert page.locator(".looks-gallery img").first.get_attribute("loading") == "lazy"

    # Landmarks, one h1, a language, a title; everything interactive has a name.
    for role in ("banner", "main", "contentinfo", "navigation"):
        assert page.get_by_role(role).count() >= 1, f"no {role} landmark"
    assert page.locator("h1").count() == 1
    assert page.get_attribute("html", "lang") == "en" and page.title()
    unnamed = page.evaluate("""Array.from(document.querySelectorAll('a[href], button')).filter((el) =>
        !(el.textContent.trim() || el.getAttribute('aria-label') || el.querySelector('img[alt]:not([alt=""])')))
        .map((el) => el.outerHTML.slice(0, 120))""")
    assert not unnamed, unnamed
    assert page.evaluate(LOW_CONTRAST_JS) == []

    assert console == [], console
