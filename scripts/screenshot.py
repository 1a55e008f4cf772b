"""Render a built page in headless Chromium with the network cut, as an offline smoke test.

Takes a screenshot and counts what the browser actually rendered: MathJax containers
(``mjx-container``) and ipywidgets views (elements with class ``jupyter-widgets``). Exits 1 when
the page has math or widget markup that did not render.

Usage::

    python scripts/screenshot.py _build/html/book/03_attention.html --png /tmp/attention.png

Needs a Chromium binary (Debian: ``apt-get install chromium``); pass ``--browser`` otherwise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # every host name fails to resolve: no network
    "--allow-file-access-from-files",
)


def chromium(browser: str, page: Path, extra: list[str], budget_ms: int) -> str:
    with tempfile.TemporaryDirectory(prefix="seqbook-chromium-") as profile:
        cmd = [
            browser,
            *OFFLINE_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",  # let MathJax and the widget manager finish
            *extra,
            page.resolve().as_uri(),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit(f"screenshot: {browser} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="an HTML file of the built book")
    parser.add_argument("--png", type=Path, default=Path("screenshot.png"), help="output image")
    parser.add_argument("--size", default="1280,900", help="window size WIDTH,HEIGHT")
    parser.add_argument("--budget-ms", type=int, default=15000, help="virtual time to render")
    parser.add_argument("--browser", default=None, help="Chromium executable")
    args = parser.parse_args(argv)

    browser = args.browser or next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        sys.exit("screenshot: no Chromium found; install it or pass --browser")
    if not args.page.is_file():
        sys.exit(f"screenshot: {args.page} does not exist; build the book first")

    chromium(
        browser,
        args.page,
        [f"--screenshot={args.png.resolve()}", f"--window-size={args.size}"],
        args.budget_ms,
    )
    dom = chromium(browser, args.page, ["--dump-dom"], args.budget_ms)
    source = args.page.read_text(encoding="utf8")

    has_math = re.search(r'class="math[ "]', source) is not None
    has_widgets = "application/vnd.jupyter.widget-view+json" in source
    math_rendered = dom.count("<mjx-container")
    widgets_rendered = len(re.findall(r'class="[^"]*\bjupyter-widgets\b', dom))
    print(f"screenshot: {args.png}")
    print(f"math markup: {has_math}, MathJax containers rendered: {math_rendered}")
    print(f"widget views: {has_widgets}, widget elements rendered: {widgets_rendered}")
    failed = (has_math and not math_rendered) or (has_widgets and not widgets_rendered)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
