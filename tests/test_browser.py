"""Every page of the built book works in a real browser with the network cut off.

Headless Chromium (Debian's ``chromium``, driven by Playwright through ``executable_path``; no
browser is downloaded) opens each HTML page of ``_build/html`` from a local HTTP server. Any
request to another host is aborted and reported. On every page: no failed request or HTTP error,
no console error, no uncaught exception; MathJax typeset every piece of math without a TeX
error; every saved widget view rendered from its saved state; every image loaded. A screenshot of
the first screen of each chapter goes to ``_build/html/_screenshots/`` (the README's preview is
made from them).

Without a build the tests skip, except under CI (``CI`` set), where a missing build or a missing
Chromium fails. ``SEQBOOK_BOOK_HTML`` points at another ``html`` folder, ``SEQBOOK_CHROMIUM`` at
another Chromium binary.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("SEQBOOK_BOOK_HTML", REPO_ROOT / "_build" / "html"))
SCREENSHOT_DIR = HTML_DIR / "_screenshots"
IN_CI = bool(os.environ.get("CI"))
CHROMIUM = os.environ.get("SEQBOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
CHAPTER = re.compile(r"book/\d\d_[\w-]+\.html$")  # book/03_attention.html, not the API pages
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
RENDER_TIMEOUT_MS = 30_000


def _missing_reason() -> str | None:
    if not (HTML_DIR / "index.html").is_file():
        return f"no built book at {HTML_DIR} (run `make book` first)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SEQBOOK_CHROMIUM)"
    return None


MISSING = _missing_reason()
if MISSING and IN_CI:
    pytestmark = pytest.mark.usefixtures("fail_in_ci")
else:
    pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="session")
def fail_in_ci():
    pytest.fail(f"CI must run the browser test, but: {MISSING}")


def page_paths() -> list[str]:
    """Every HTML page of the build, relative to it (static assets and sources excluded)."""
    if not HTML_DIR.is_dir():
        return []
    skip = {"_static", "_sources", "_images", "_screenshots"}
    return sorted(
        p.relative_to(HTML_DIR).as_posix()
        for p in HTML_DIR.rglob("*.html")
        if p.relative_to(HTML_DIR).parts[0] not in skip
    )


PAGES = page_paths()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """What happened while one page loaded and rendered."""

    external: list[str] = field(default_factory=list)  # requests to other hosts (aborted)
    failed: list[str] = field(default_factory=list)  # failed requests and HTTP errors
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


def open_page(browser, server: str, path: str):
    """Load ``path`` with every request to another host aborted; return (page, context, visit)."""
    context = browser.new_context(viewport=VIEWPORT)
    visit = Visit()
    local = server + "/"

    def route(route):
        if route.request.url.startswith(local) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            visit.external.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.exceptions.append(str(e)))
    page.on(
        "requestfailed",
        lambda r: (
            urlsplit(r.url).netloc == urlsplit(server).netloc
            and visit.failed.append(f"{r.url} ({r.failure})")
        ),
    )
    page.on("response", lambda r: r.status >= 400 and visit.failed.append(f"{r.url} ({r.status})"))
    page.goto(f"{server}/{path}", wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, context, visit


WAIT_FOR_MATH = """async () => {
  if (!window.MathJax || !MathJax.startup) return null;
  await MathJax.startup.promise;
  return {
    math: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length,
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent).slice(0, 5),
  };
}"""

WIDGET_VIEWS = """() => [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')].map(s => {
  const area = s.previousElementSibling;
  const rendered = area && area.classList.contains('widget-subarea')
      && area.querySelector('.jupyter-widgets') !== null;
  const error = area && area.querySelector('.jupyter-widgets-error-widget, .widget-error');
  return {rendered: Boolean(rendered), error: Boolean(error)};
})"""

LOAD_ALL_IMAGES = """async () => {
  const images = [...document.images];
  images.forEach(i => { i.loading = 'eager'; });
  const settled = i => new Promise(done => {
    i.addEventListener('load', done);
    i.addEventListener('error', done);
  });
  await Promise.all(images.map(i => (i.complete ? null : settled(i))));
  return images.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 120));
}"""


def test_the_build_has_chapters_to_check():
    assert any(CHAPTER.search(p) for p in PAGES), f"no chapter pages among {PAGES[:5]}"


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_offline_without_errors(browser, server, path):
    source = (HTML_DIR / path).read_text(encoding="utf8")
    page, context, visit = open_page(browser, server, path)
    try:
        if 'http-equiv="refresh"' in source:  # index.html forwards to the landing page
            page.wait_for_url(re.compile(r"book/intro\.html$"), timeout=RENDER_TIMEOUT_MS)
            page.wait_for_load_state("networkidle")

        math = page.evaluate(WAIT_FOR_MATH)
        if 'class="math' in source:
            assert math is not None, f"{path} has math but MathJax did not start"
            assert math["typeset"] >= math["math"] > 0, f"{path}: not all math typeset: {math}"
            assert not math["errors"], f"{path}: TeX errors: {math['errors']}"

        if WIDGET_STATE in source:
            page.wait_for_function(
                f"() => ({WIDGET_VIEWS})().every(v => v.rendered)", timeout=RENDER_TIMEOUT_MS
            )
            views = page.evaluate(WIDGET_VIEWS)
            assert views, f"{path} saves widget state but shows no widget view"
            assert not any(v["error"] for v in views), f"{path}: a widget rendered as an error"

        broken = page.evaluate(LOAD_ALL_IMAGES)
        assert not broken, f"{path}: images that did not load: {broken}"

        page.wait_for_load_state("networkidle")  # fonts and images the checks above pulled in
        if CHAPTER.search(path):
            SCREENSHOT_DIR.mkdir(exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=SCREENSHOT_DIR / f"{Path(path).stem}.png")
    finally:
        context.close()

    assert not visit.external, f"{path} requested other hosts: {visit.external[:5]}"
    assert not visit.failed, f"{path}: failed requests: {visit.failed[:5]}"
    assert not visit.exceptions, f"{path}: uncaught JavaScript errors: {visit.exceptions[:5]}"
    assert not visit.console_errors, f"{path}: console errors: {visit.console_errors[:5]}"


@pytest.mark.parametrize("path", [p for p in PAGES if CHAPTER.search(p)])
def test_chapter_offers_its_notebook_for_download(browser, server, path):
    page, context, _ = open_page(browser, server, path)
    try:
        hrefs = page.eval_on_selector_all(
            'a[href$=".ipynb"]', "links => links.map(a => a.getAttribute('href'))"
        )
        local = [h for h in hrefs if not urlsplit(h).scheme]
        assert local, f"{path} has no download link to its notebook (links: {hrefs})"
        response = page.request.get(f"{server}/{Path(path).parent.as_posix()}/{local[0]}")
        assert response.ok, f"{path}: download link {local[0]} answers {response.status}"
        assert '"cells"' in response.text()[:2000], f"{local[0]} is not a notebook"
    finally:
        context.close()
