"""The built HTML book renders offline: it loads nothing from the network.

These tests read an existing build (``jupyter-book build .`` writes ``_build/html``); they skip
when there is none. Point ``SEQBOOK_BOOK_HTML`` at another ``html`` folder to check that one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("SEQBOOK_BOOK_HTML", REPO_ROOT / "_build" / "html"))
VENDOR_DIR = HTML_DIR / "_static" / "vendor"

pytestmark = pytest.mark.skipif(
    not (HTML_DIR / "index.html").is_file(),
    reason=f"no built book at {HTML_DIR} (run `jupyter-book build .` first)",
)

# <link rel=...> values that make the browser fetch the target.
FETCHING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch"}
WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
CSS_REMOTE_URL = re.compile(r"""url\(\s*['"]?\s*((?:https?:)?//[^'")\s]+)""", re.I)
CSS_REMOTE_IMPORT = re.compile(r"""@import\s+['"]\s*((?:https?:)?//[^'"]+)""", re.I)


def is_remote(url: str) -> bool:
    """True for http(s) and protocol-relative URLs, i.e. anything a browser would fetch remotely."""
    parts = urlsplit(url.strip())
    return parts.scheme in {"http", "https"} or (not parts.scheme and url.strip().startswith("//"))


@dataclass
class Page:
    path: Path
    scripts: list[dict[str, str]] = field(default_factory=list)  # attrs of every <script>
    links: list[dict[str, str]] = field(default_factory=list)  # attrs of every <link>
    inline_css: list[str] = field(default_factory=list)  # text of every <style>
    has_math: bool = False  # Sphinx wraps rendered math in elements with class "math"

    @property
    def name(self) -> str:
        return self.path.relative_to(HTML_DIR).as_posix()

    def resolve(self, url: str) -> Path:
        """The file a relative URL on this page points at (query and fragment dropped)."""
        return (self.path.parent / unquote(urlsplit(url).path)).resolve()

    def script_sources(self) -> list[str]:
        return [s["src"] for s in self.scripts if s.get("src")]

    def fetched_links(self) -> list[str]:
        return [
            link["href"]
            for link in self.links
            if link.get("href") and FETCHING_RELS & set(link.get("rel", "").lower().split())
        ]


class _PageParser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.page.scripts.append(attributes)
        elif tag == "link":
            self.page.links.append(attributes)
        elif tag == "style":
            self._in_style = True
        if "math" in attributes.get("class", "").split():
            self.page.has_math = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.page.inline_css.append(data)


@cache
def pages() -> tuple[Page, ...]:
    found = []
    for path in sorted(HTML_DIR.rglob("*.html")):
        if path.relative_to(HTML_DIR).parts[0] in {"_static", "_sources", "_images"}:
            continue
        page = Page(path)
        _PageParser(page).feed(path.read_text(encoding="utf8"))
        found.append(page)
    return tuple(found)


def chapter_pages() -> list[Page]:
    return [p for p in pages() if p.name.startswith("book/")]


def remote_urls_in_css(text: str) -> list[str]:
    text = CSS_COMMENT.sub("", text)
    return CSS_REMOTE_URL.findall(text) + CSS_REMOTE_IMPORT.findall(text)


def test_book_has_chapter_pages():
    assert chapter_pages(), f"no pages under {HTML_DIR / 'book'}; is this the book's build?"


def test_no_page_loads_a_remote_script():
    offenders = [(p.name, src) for p in pages() for src in p.script_sources() if is_remote(src)]
    assert not offenders, f"pages load scripts from the network: {offenders[:10]}"


def test_no_page_loads_a_remote_stylesheet_or_preload():
    offenders = [(p.name, href) for p in pages() for href in p.fetched_links() if is_remote(href)]
    assert not offenders, f"pages link stylesheets/preloads on the network: {offenders[:10]}"


def test_no_inline_style_imports_remote_css_or_fonts():
    offenders = [
        (p.name, url) for p in pages() for css in p.inline_css for url in remote_urls_in_css(css)
    ]
    assert not offenders, f"<style> blocks fetch from the network: {offenders[:10]}"


def test_static_css_references_no_remote_fonts_or_imports():
    css_files = sorted((HTML_DIR / "_static").rglob("*.css"))
    assert css_files, "no CSS under _static: the theme's assets were not copied"
    offenders = [
        (css.relative_to(HTML_DIR).as_posix(), url)
        for css in css_files
        for url in remote_urls_in_css(css.read_text(encoding="utf8", errors="replace"))
    ]
    assert not offenders, f"CSS under _static fetches from the network: {offenders[:10]}"


def test_every_local_script_and_stylesheet_exists():
    missing = [
        (p.name, url)
        for p in pages()
        for url in p.script_sources() + p.fetched_links()
        if not is_remote(url) and not p.resolve(url).is_file()
    ]
    assert not missing, f"pages reference files that are not in the build: {missing[:10]}"


def test_pages_with_math_load_the_vendored_mathjax():
    math_pages = [p for p in pages() if p.has_math]
    if not math_pages:
        pytest.skip("no page of this build contains math")
    mathjax_dir = (VENDOR_DIR / "mathjax").resolve()
    for page in math_pages:
        loaded = [page.resolve(s) for s in page.script_sources() if not is_remote(s)]
        vendored = [f for f in loaded if f.is_relative_to(mathjax_dir) and f.is_file()]
        assert vendored, (
            f"{page.name} shows math but loads no MathJax from {mathjax_dir}; "
            f"its scripts: {page.script_sources()}"
        )


def test_pages_with_widgets_load_vendored_requirejs_then_widget_manager():
    widget_pages = [
        p for p in pages() if any(s.get("type") == WIDGET_STATE_TYPE for s in p.scripts)
    ]
    if not widget_pages:
        pytest.skip("no page of this build stores ipywidgets state")
    require_js = (VENDOR_DIR / "requirejs" / "require.js").resolve()
    embed_js = (VENDOR_DIR / "html-manager" / "dist" / "embed-amd.js").resolve()
    assert require_js.is_file() and embed_js.is_file(), (
        f"vendored widget JS missing in {VENDOR_DIR}"
    )
    for page in widget_pages:
        loaded = [page.resolve(s) for s in page.script_sources() if not is_remote(s)]
        assert require_js in loaded, f"{page.name} has widgets but does not load {require_js}"
        assert embed_js in loaded, f"{page.name} has widgets but does not load {embed_js}"
        assert loaded.index(require_js) < loaded.index(embed_js), (
            f"{page.name} loads embed-amd.js before require.js; the AMD bundle needs RequireJS"
        )
        cdn_overrides = [
            s["data-jupyter-widgets-cdn"]
            for s in page.scripts
            if is_remote(s.get("data-jupyter-widgets-cdn", ""))
        ]
        assert not cdn_overrides, f"{page.name} points the widget loader at a CDN: {cdn_overrides}"


@pytest.mark.parametrize(
    ("folder", "package", "major"),
    [
        ("mathjax", "mathjax", 3),
        ("requirejs", "requirejs", 2),
        # ipywidgets 8 saves state that @jupyter-widgets/html-manager 1.x renders
        ("html-manager", "@jupyter-widgets/html-manager", 1),
    ],
)
def test_vendored_package_has_the_expected_major_version(folder, package, major):
    stamp_file = VENDOR_DIR / folder / "VENDORED.json"
    assert stamp_file.is_file(), f"{stamp_file} missing: run scripts/vendor_assets.py, then build"
    stamp = json.loads(stamp_file.read_text(encoding="utf8"))
    assert stamp["package"] == package
    assert int(stamp["version"].split(".")[0]) == major, f"{package} is {stamp['version']}"
    assert (VENDOR_DIR / folder / stamp["entry"]).is_file(), f"{package} entry file missing"


def test_no_page_shows_an_unrendered_role():
    # a role MyST or reST did not process is printed verbatim: "{cite:p}`key`", ":eq:`label`"
    leftovers = re.compile(r"\{(cite|eq|doc|ref|term)(:\w+)?\}`|:(eq|doc|term):`")
    offenders = [
        (p.name, m.group(0))
        for p in pages()
        for m in [leftovers.search(p.path.read_text(encoding="utf8"))]
        if m
    ]
    assert not offenders, f"roles printed as text: {offenders[:10]}"


def test_api_reference_links_docstring_equations_to_the_chapters():
    api = HTML_DIR / "book" / "api" / "attention.html"
    if not api.is_file():
        pytest.skip("this build has no API reference")
    html = api.read_text(encoding="utf8")
    assert 'href="../03_attention.html#equation-eq-attention-sdpa"' in html, (
        "the docstring's eq. (eq-attention-sdpa) is not a link to the equation"
    )
    assert "Taught in the book" in html and 'href="../03_attention.html"' in html


def test_bibliography_lists_the_cited_papers():
    references = HTML_DIR / "book" / "references.html"
    if not references.is_file():
        pytest.skip("this build has no references page")
    text = references.read_text(encoding="utf8").lower()  # the style lower-cases titles
    for title in ("attention is all you need", "long short-term memory", "minilm", "sentence-bert"):
        assert title in text, f"{title!r} missing from the bibliography"
