"""Make the book's preview image from the browser test's chapter screenshots.

``tests/test_browser.py`` saves the first screen of every chapter under
``_build/html/_screenshots/``; this script tiles four of them, at half size, into
``book/_static/preview.png`` (shown on the landing page and in the README).

Usage (after ``make book`` and ``make browser``)::

    python scripts/preview_image.py
    python scripts/preview_image.py --chapters 01_text_as_tensors 03_attention 05_bilstm 06_albert
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHOTS = REPO_ROOT / "_build" / "html" / "_screenshots"
OUTPUT = REPO_ROOT / "book" / "_static" / "preview.png"
DEFAULT = ("03_attention", "04_lstm", "05_bilstm", "06_albert")
GAP = 8  # pixels between tiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs=4, default=DEFAULT, help="four screenshot names")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    paths = [SHOTS / f"{name}.png" for name in args.chapters]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"preview_image: missing {missing[0]}; run `make book` and `make browser` first")
    tiles = [Image.open(p).convert("RGB") for p in paths]
    width, height = tiles[0].width // 2, tiles[0].height // 2
    sheet = Image.new("RGB", (2 * width + GAP, 2 * height + GAP), "#d0d4da")
    for i, tile in enumerate(tiles):
        tile = tile.resize((width, height), Image.LANCZOS)
        sheet.paste(tile, ((i % 2) * (width + GAP), (i // 2) * (height + GAP)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT)  # a third of the size
    sheet.save(args.output, optimize=True)
    print(f"preview: {args.output} ({sheet.width}x{sheet.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
