"""KaTeX's files for the site, from npm's ``katex`` package at a pinned version.

The first build runs ``npm pack katex@VERSION`` (npm checks the download against the
registry's checksum; we check it again against ``INTEGRITY``, pinned here) and unpacks what
the site needs into a cache folder; every later build reads the cache and needs no network.

Where the files come from, in order:

1. ``READABLE_NN_KATEX_DIR``: a folder holding an unpacked ``katex`` package (its ``dist/``),
   e.g. ``node_modules/katex`` from your own ``npm install katex@VERSION``;
2. the cache, ``$XDG_CACHE_HOME/readable-nn/katex-VERSION`` (default ``~/.cache/...``);
3. npm, once, into the cache.

Run ``python docs_site/katex.py`` to fetch ahead of time (e.g. before going offline).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

VERSION = "0.19.1"
INTEGRITY = ("sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgR"
             "hKvr5614uRrEfA==")
# what the site loads (mkdocs.yml, extra_javascript / extra_css) and the fonts the CSS names
NEEDED = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")


class KatexUnavailable(RuntimeError):
    """KaTeX's files are not cached and cannot be fetched."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "readable-nn" / f"katex-{VERSION}"


def dist_dir() -> Path:
    """The ``dist/`` folder the site's files are read from (after ``ensure``)."""
    given = os.environ.get("READABLE_NN_KATEX_DIR")
    if given:
        return Path(given) / "dist"
    return cache_dir() / "dist"


def _complete(dist: Path) -> bool:
    return all((dist / rel).is_file() for rel in NEEDED) and (dist / "fonts").is_dir()


def ensure() -> Path:
    """Return the ``dist/`` folder, fetching it with npm the first time."""
    dist = dist_dir()
    if _complete(dist):
        return dist
    if os.environ.get("READABLE_NN_KATEX_DIR"):
        raise KatexUnavailable(f"READABLE_NN_KATEX_DIR: no KaTeX {VERSION} files in {dist} "
                               f"(expected {', '.join(NEEDED)} and fonts/)")
    npm = shutil.which("npm")
    if npm is None:
        raise KatexUnavailable(
            f"the site needs KaTeX {VERSION}'s files: they are not in {cache_dir()} and npm "
            f"is not installed to fetch them. Install npm (Debian: apt-get install npm) and "
            f"build again, or point READABLE_NN_KATEX_DIR at an unpacked katex@{VERSION}.")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([npm, "pack", f"katex@{VERSION}", "--silent"], cwd=tmp,
                             capture_output=True, text=True, timeout=300)
        tarballs = list(Path(tmp).glob("katex-*.tgz"))
        if run.returncode != 0 or len(tarballs) != 1:
            raise KatexUnavailable(f"npm pack katex@{VERSION} failed: "
                                   f"{run.stderr.strip() or run.stdout.strip()}")
        data = tarballs[0].read_bytes()
        got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if got != INTEGRITY:
            raise KatexUnavailable(f"katex-{VERSION}.tgz: checksum {got}, expected "
                                   f"{INTEGRITY}")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith("package/dist/") and m.isfile()]
            tar.extractall(staging, members=members, filter="data")
        target = cache_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging / "package"), str(target))
    if not _complete(dist):
        raise KatexUnavailable(f"katex@{VERSION} unpacked into {target} lacks {NEEDED}")
    return dist


def site_files() -> Iterator[tuple[str, Path]]:
    """(path under ``assets/katex/``, file) for every file the site ships."""
    dist = ensure()
    for rel in NEEDED:
        yield rel, dist / rel
    for font in sorted((dist / "fonts").iterdir()):
        if font.suffix == ".woff2":  # every browser the site targets reads woff2
            yield f"fonts/{font.name}", font


if __name__ == "__main__":
    try:
        print(ensure())
    except KatexUnavailable as exc:
        sys.exit(f"docs_site/katex.py: {exc}")
