"""``python -m nn docs``: build the documentation website and serve it on 127.0.0.1.

The site is built from a clone of the repository (mkdocs.yml and docs/ are not part of the
installed package) with the `docs` extra: ``pip install -e '.[docs]'``. The build is strict
(a broken link or reference fails it), exactly as CI builds it; KaTeX's files are fetched
once with npm into a cache (docs/site.md), so later builds work offline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nn docs",
        description="Build the documentation website (mkdocs build --strict) and serve it on "
                    "http://127.0.0.1:PORT until Ctrl-C. Run from a clone of the repository "
                    "with the docs extra: pip install -e '.[docs]'.")
    p.add_argument("--port", type=int, default=8000,
                   help="port on 127.0.0.1 (default 8000; 0 picks a free one)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where to build the site (default: a temporary folder)")
    p.add_argument("--build-only", action="store_true", help="build, do not serve")
    p.add_argument("--no-build", action="store_true",
                   help="serve the site already built in --out")
    return p


def build(out: Path) -> None:
    """``mkdocs build --strict`` of the repository's site into ``out``."""
    if not (ROOT / "mkdocs.yml").is_file():
        raise SystemExit(f"python -m nn docs: no mkdocs.yml in {ROOT}: the website is built "
                         "from a clone of the repository, not from the installed package")
    if importlib.util.find_spec("mkdocs") is None:
        raise SystemExit("python -m nn docs: needs mkdocs: pip install 'readable-nn[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "-d", str(out)], cwd=ROOT, env=env)
    if run.returncode != 0:
        raise SystemExit(f"python -m nn docs: the strict build failed (exit {run.returncode})")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(folder: Path, port: int) -> None:
    handler = functools.partial(_Handler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        print(f"serving the documentation on http://127.0.0.1:{httpd.server_address[1]}/"
              "index.html (Ctrl-C stops)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.no_build and (args.out is None or args.build_only):
        raise SystemExit("python -m nn docs: --no-build serves an existing --out DIR")
    with tempfile.TemporaryDirectory(prefix="nn-docs-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        if not args.no_build:
            build(out)
            print(f"built the documentation into {out}", flush=True)
        if not args.build_only:
            serve(out, args.port)
    return 0
