"""The documentation website (mkdocs.yml, docs_site/): the tutorials' code runs, the strict
build passes, and in headless Chromium the math is typeset, search works, every API page
lists its names, exercises link their skeletons and the LSTM is three clicks from home.

Needs the `docs` extra (mkdocs) and Debian's chromium; without them the site tests skip,
except under CI=true, where they fail (.ci/run installs both). Screenshots of the home page
and a math page go to $NN_DOCS_ARTEFACTS, else to a pytest temporary folder (printed).
"""

from __future__ import annotations

import functools
import html as html_module
import http.server
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.usefixtures("allow_underflow")


def _docs_site(name: str):
    if name == "hooks" and importlib.util.find_spec("mkdocs") is None:
        _missing("mkdocs (the `docs` extra)")      # the hooks are MkDocs plugins
    spec = importlib.util.spec_from_file_location(f"docs_site_{name}",
                                                  ROOT / "docs_site" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _missing(what: str) -> None:
    if CI:
        pytest.fail(f"{what} is missing, and CI must run the site tests (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


# -- the tutorials' code -----------------------------------------------------------------

def test_every_tutorial_has_code():
    pages = [p for p in TUTORIALS if p.name != "index.md"]
    assert len(pages) >= 4
    assert all(python_blocks(p) for p in pages)


@pytest.mark.parametrize("page", [p for p in TUTORIALS if python_blocks(p)],
                         ids=lambda p: p.stem)
def test_tutorial_code_runs(page, capsys):
    """Every Python block of a tutorial runs, in order, in one namespace, and the asserts
    the tutorial makes hold."""
    pytest.importorskip("hypothesis")
    namespace: dict = {}
    for i, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page.name} block {i}", "exec"), namespace)
    assert capsys.readouterr().out.strip(), "a tutorial prints what it shows"


def test_docs_extra_and_ci():
    """The `docs` extra pins ranges; CI installs it, chromium and npm, and builds strictly."""
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {re.split(r"[<>=\[]", r)[0] for r in extras["docs"]}
    assert {"mkdocs", "mkdocs-material", "mkdocstrings"} <= names
    assert all("<" in r and ">=" in r for r in extras["docs"]), extras["docs"]
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r'pip install -e "\.\[([\w,-]+)\]"', ci)
    assert install and "docs" in install.group(1).split(",")
    assert "missing+=(chromium)" in ci and "missing+=(npm)" in ci
    assert re.search(r"mkdocs build --strict", ci)


def test_links_outside_docs_are_rewritten_for_the_site():
    """docs/ links to the repository's files keep working in the site: a source file goes
    to its copy under _repo/, a mirrored file to its page, a public package to its reference
    entry; a link to nothing is left for the strict build to report."""
    hooks = _docs_site("hooks")
    wanted: set[str] = set()
    text = ("[a](../../nn/layers/recurrent.py#L1) [b](../../benchmarks/README.md#x) "
            "[c](../linear.md) [d](https://example.org/x.md) [e](../../nn/testing) "
            "[f](../../no/such.py) [g](#symbols)")
    out = hooks.rewrite_links(text, "docs/math/recurrent.md", "math/recurrent.md", wanted)
    assert out == ("[a](../_repo/nn/layers/recurrent.py#L1) [b](../benchmarks.md#x) "
                   "[c](../linear.md) [d](https://example.org/x.md) "
                   "[e](../reference/gradcheck.md#nn.testing) [f](../../no/such.py) "
                   "[g](#symbols)")
    assert wanted == {"nn/layers/recurrent.py"}
    # a mirrored page's own links, from its place in the site
    out = hooks.rewrite_links("[t](../docs/text.md#nnembedding) [s](bench_rnn.py)",
                              "benchmarks/README.md", "benchmarks.md")
    assert out == "[t](text.md#nnembedding) [s](_repo/benchmarks/bench_rnn.py)"


def test_katex_missing_is_a_clear_error(tmp_path, monkeypatch):
    katex = _docs_site("katex")
    monkeypatch.setenv("READABLE_NN_KATEX_DIR", str(tmp_path))
    with pytest.raises(katex.KatexUnavailable, match=r"no KaTeX .* files in"):
        katex.ensure()


# -- math written as math ------------------------------------------------------------------

PROSE_PAGES = sorted([*(ROOT / "docs" / "math").glob("*.md"), ROOT / "docs" / "errata.md",
                      *TUTORIALS, *(ROOT / "docs" / "exercises").glob("*.md")])
_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.S | re.M)
_INLINE_CODE = re.compile(r"`(?:[^`]|\n(?!\s*\n))+?`")
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?=\S)(?:\\.|[^$\\]|\n(?!\s*\n))+?(?<=\S)\$")
_NOT_PROSE = re.compile(r"<!--.*?-->|\]\([^)\s]*\)", re.S)  # comments, link targets
# Math typed as plain text: a brace subscript (x_{t-1}); a one-letter symbol, or its gradient
# (dW), with a short subscript (h_t, W_hh, H_prev; code names such as d_model, running_var or
# W_hh_T are longer or go on with more of a name); a caret (W^T, e^{x}, γ^e), but not a
# footnote's [^1].
_PLAIN_MATH = re.compile(
    r"[A-Za-z0-9)]_\{"
    r"|(?<![\w.\\/-])(?:d?[A-Za-z]|[α-ωΑ-Ω∂])[′']?_[A-Za-z0-9]{1,4}(?![\w(])"
    r"|(?<![\[\s\\])\^(?=[\w{(⌊−-])")


def plain_text_math(markdown: str) -> list[str]:
    """The lines of a Markdown page whose prose writes math without `$`: what is left once
    code blocks (fenced and indented), code spans, $$ blocks and $ spans are blanked."""
    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    raw = _FENCED.sub(blank, markdown).split("\n")
    lines = list(raw)
    in_code = False
    for i, line in enumerate(raw):  # indented code: 4 spaces in, after a blank line
        indented = line.startswith(("    ", "\t")) and bool(line.strip())
        in_code = indented and (in_code or i == 0 or not raw[i - 1].strip())
        if in_code:
            lines[i] = ""
    text = "\n".join(lines)
    for pattern in (_NOT_PROSE, _INLINE_CODE, _DISPLAY_MATH, _INLINE_MATH):
        text = pattern.sub(blank, text)
    original = markdown.split("\n")
    return [f"{n + 1}: {original[n]}" for n, line in enumerate(text.split("\n"))
            if _PLAIN_MATH.search(line)]


def test_plain_text_math_is_found_and_code_is_not():
    flagged = ["and G_{nj} = ∂L/∂y_{nj}. By", "dh_{t−1} receives dz_t W_hh^T.",
               "(W_m)_{(a,q,c),o} = W_{o,c,a,q}", "rows of H_prev", "so dx_j = Σ_i g_i",
               "the factor e^{−x²/2}", "δ_out = (a − y)", "η₀ γ^e", "b_o appears"]
    for line in flagged:
        assert plain_text_math(f"Some prose.\n{line}\n"), line
    clean = ["`W_hh_T` and `layer.state_grad`, `h_prev`", "$H_{prev} = [h_0; \\ldots]$",
             "$$dW = X^\\top G,\n\\quad h_{t-1}$$", "[linear](../nn/layers/linear_x.py)",
             "```python\ndh_t = dz_t @ W_hh.T\n```", "text:\n\n    g ← g + λ p   b_t = x_1\n",
             "d_model 16, the running_var buffer, a footnote[^1], tests/test_x_y.py",
             "a span over\n$\\sum_i x_i\n+ b_j$ two lines", "`$...$` and `$$...$$` in code",
             "with $m_{nj} > 0$ and $j \\ne y_n$."]
    for text in clean:
        assert not plain_text_math(text), text


@pytest.mark.parametrize("page", PROSE_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_math_in_prose_is_typeset(page):
    """docs/math, the errata, tutorials and exercises write every subscript, superscript and
    transpose inside $...$, so it renders on the site and on GitHub: a plain h_{t−1} or W^T
    shows up as raw underscores and braces."""
    found = plain_text_math(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(ROOT)}: math outside $...$:\n" + "\n".join(found)


# -- the build -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        _missing("mkdocs (pip install 'readable-nn[docs]')")
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "nn", "docs", "--build-only", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"the strict build failed:\n{run.stdout}\n{run.stderr}"
    return out


def test_nn_docs_serves_on_localhost(site):
    """`python -m nn docs` serves the built folder on 127.0.0.1 (here on a free port)."""
    proc = subprocess.Popen([sys.executable, "-m", "nn", "docs", "--no-build", "--out",
                             str(site), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/index\.html", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=10) as reply:
            assert reply.status == 200 and b"readable-nn" in reply.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def all_public_names() -> list[str]:
    names = []
    for package in ("nn", "optim"):
        names += [f"{package}.{n}" for n in importlib.import_module(package).__all__]
    return names


def test_reference_documents_every_public_name(site):
    """Every name of nn.__all__ and optim.__all__ has its entry (an element with the id
    `nn.Name`) on a page of the API reference, and the index lists it."""
    pages = {p.name: p.read_text(encoding="utf-8") for p in (site / "reference").glob("*.html")}
    missing = [n for n in all_public_names()
               if not any(f'id="{n}"' in html for name, html in pages.items()
                          if name != "index.html")]
    assert not missing, f"public names without an API reference entry: {missing}"
    index = pages["index.html"]
    assert all(f"#{n}" in index for n in all_public_names())


def test_getting_started_has_the_readme_commands(site):
    """The two commands and the ten lines come from README.md at build time (snippets)."""
    html = (site / "getting-started.html").read_text(encoding="utf-8")
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    assert 'pip install -e ".[test]" && python -m nn' in text
    assert "python -m pytest" in text and "load_digits" in text and "--8<--" not in text


def test_no_resource_from_the_network(site):
    """Scripts, styles and fonts are all in the built folder: no CDN at page load."""
    for page in [site / "index.html", site / "math" / "recurrent.html"]:
        html = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"', html)
        assert not [u for u in remote if not u.endswith(".xml")], remote
    assert (site / "assets" / "katex" / "katex.min.js").is_file()
    assert list((site / "assets" / "katex" / "fonts").glob("KaTeX_Main-Regular.woff2"))



def test_no_page_shows_raw_math(site):
    """In every built page, outside code, math is inside the elements arithmatex marks for
    KaTeX: no `$$` block left as text (a $$ line indented off its list item is one), no
    `$...$` span with LaTeX in it."""
    raw = re.compile(r"\$\$|\$[^$\n]*?(?:_\{|\^\{|\\[A-Za-z]+)[^$\n]*?\$")
    bad = {}
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        html = re.sub(r"<(code|pre|script|style)\b.*?</\1>|"
                      r"<(span|div) class=\"arithmatex\">.*?</\2>", "", html, flags=re.S)
        text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
        if found := raw.findall(text):
            bad[page.relative_to(site).as_posix()] = found[:3]
    assert not bad, bad

# -- in the browser ----------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    browser_module = _docs_site("browser")
    executable = browser_module.find_chromium()
    if executable is None:
        _missing("chromium (Debian: apt-get install chromium)")
    with browser_module.Browser.launch(executable, tmp_path_factory.mktemp("chromium")) as b:
        yield b


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = os.environ.get("NN_DOCS_ARTEFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("site-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


MATH_PAGES = sorted(p.stem for p in (ROOT / "docs" / "math").glob("*.md") if p.stem != "README")


def test_math_is_typeset(browser, server, artefacts):
    """On every math page each $...$ / $$...$$ became KaTeX output, without errors, and
    nothing was loaded from anywhere but the local server."""
    counts = {}
    for stem in MATH_PAGES:
        browser.open(f"{server}/math/{stem}.html")
        total = browser.evaluate("document.querySelectorAll('.arithmatex').length")
        done = browser.wait_for(
            "document.querySelectorAll('.arithmatex').length === "
            "document.querySelectorAll('.arithmatex .katex').length")
        assert done, f"math/{stem}: KaTeX did not typeset every formula"
        assert browser.evaluate("document.querySelectorAll('.katex-error').length") == 0
        text = browser.evaluate("document.querySelector('article').innerText")
        assert "$$" not in text and "\\[" not in text, f"math/{stem}: raw math left"
        elsewhere = browser.evaluate(
            "performance.getEntriesByType('resource').map(e => e.name)"
            f".filter(u => !u.startsWith('{server}/'))")
        assert elsewhere == [], f"math/{stem} loaded {elsewhere}"
        counts[stem] = total
    assert sum(counts.values()) > 50 and all(counts[s] > 0 for s in counts
                                             if s != "optimizers"), counts
    browser.open(f"{server}/math/recurrent.html")
    browser.wait_for("document.querySelectorAll('.katex-display').length")
    browser.evaluate("document.querySelectorAll('.katex-display')[2].scrollIntoView(), 1")
    # the shot waits for the header to finish swapping the site name for the page title
    assert browser.settle(), "math/recurrent: the page was still animating after 5 s"
    assert browser.evaluate("document.querySelector('.md-header__title')"
                            ".classList.contains('md-header__title--active')")
    shot = browser.screenshot(artefacts / "math-recurrent.png")
    print(f"screenshot: {shot}")


def test_math_is_typeset_from_a_folder(browser, site):
    """Opened straight from disk (file://, no server, no network), the math still renders:
    KaTeX and its fonts are in the folder."""
    browser.open((site / "math" / "linear.html").as_uri())
    assert browser.wait_for(
        "document.querySelectorAll('.arithmatex').length > 0 && "
        "document.querySelectorAll('.arithmatex').length === "
        "document.querySelectorAll('.arithmatex .katex').length")
    assert browser.evaluate("document.querySelectorAll('.katex-error').length") == 0
    assert browser.wait_for("Array.from(document.fonts).some(f => "
                            "f.family.includes('KaTeX_Main') && f.status === 'loaded')")


def test_search_index_loads_and_search_finds(browser, server):
    with urllib.request.urlopen(f"{server}/search/search_index.json", timeout=10) as reply:
        index = json.load(reply)
    locations = {doc["location"] for doc in index["docs"]}
    assert "reference/recurrent.html" in locations and "math/recurrent.html" in locations
    browser.open(f"{server}/index.html?q=gradcheck")
    found = browser.wait_for(
        "Array.from(document.querySelectorAll('.md-search-result__item a'))"
        ".map(a => a.getAttribute('href'))")
    assert found and any("gradcheck" in href for href in found), found


def test_every_api_page_lists_its_names(browser, server):
    """Each reference page shows an entry for each name the layout gives it; the classes
    among them are rendered as classes."""
    layout = _docs_site("hooks").reference_layout()
    for slug, names in layout.items():
        browser.open(f"{server}/reference/{slug}.html")
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('.doc-heading[id]')).map(h => h.id)")
        assert set(names) <= set(shown), (slug, sorted(set(names) - set(shown)))
        raw = browser.evaluate("(document.querySelector('article').innerText.match("
                               "/:(func|class|meth|mod|attr|math):|\\S::\\n/g) || []).length")
        assert raw == 0, f"reference/{slug}: reStructuredText roles left as text"
        assert browser.wait_for("document.querySelectorAll('.arithmatex').length === "
                                "document.querySelectorAll('.arithmatex .katex').length")
        for full in names:
            package, _, name = full.partition(".")
            if isinstance(getattr(importlib.import_module(package), name, None), type):
                kind = browser.evaluate(
                    f"document.getElementById({json.dumps(full)})"
                    ".querySelector('.doc-symbol-class') !== null")
                assert kind, f"{full} is not shown as a class on reference/{slug}"


def test_exercise_pages_link_their_skeletons(browser, server):
    pages = sorted((ROOT / "docs" / "exercises").glob("[0-9][0-9]-*.md"))
    assert len(pages) >= 10
    for page in pages:
        browser.open(f"{server}/exercises/{page.stem}.html")
        links = browser.evaluate(
            "Array.from(document.querySelectorAll('article a[href]')).map(a => a.href)"
            ".filter(h => /\\.(py|ipynb)$/.test(h))")
        assert links, f"exercise {page.stem} links no skeleton or notebook"
        statuses = browser.evaluate(
            f"Promise.all({json.dumps(links)}.map(u => fetch(u).then(r => r.status)))")
        assert set(statuses) == {200}, (page.stem, links, statuses)


def test_lstm_three_clicks_from_home(browser, server, artefacts):
    """Home -> the LSTM's API entry, its derivation, its exercise: one link each, and
    each lands on its target."""
    browser.open(f"{server}/index.html")
    shot = browser.screenshot(artefacts / "home.png")
    print(f"screenshot: {shot}")
    hrefs = browser.evaluate(
        "Array.from(document.querySelectorAll('article a[href]')).map(a => a.href)")
    wanted = {"API entry": r"/reference/recurrent\.html#nn\.LSTM$",
              "derivation": r"/math/recurrent\.html#lstm",
              "exercise": r"/exercises/09-lstm-cell\.html$"}
    for what, pattern in wanted.items():
        target = next((h for h in hrefs if re.search(pattern, h)), None)
        assert target, f"no link from home to the LSTM's {what}"
        browser.open(target)
        anchor = target.partition("#")[2]
        if anchor:
            assert browser.evaluate(f"document.getElementById({json.dumps(anchor)}) !== null")
        assert "LSTM" in browser.evaluate("document.querySelector('article').innerText")
    # and back: the exercise's `nn.LSTM` links the API entry
    assert browser.evaluate("Array.from(document.querySelectorAll('article a[href]'))"
                            ".some(a => /reference\\/recurrent\\.html#nn\\.LSTM$/.test(a.href))")
