"""MkDocs hooks of the documentation website (mkdocs.yml, ``hooks:``).

At build time they add to the site what does not live in docs/ as a page:

- the API reference, one page per area (``REFERENCE_PAGES``), generated from ``nn.__all__``
  and ``optim.__all__``: every public name lands on exactly one page, a name whose module is
  not in the table goes to "More", and ``reference/index.md`` lists them all;
- the pages kept elsewhere in the repository (``MIRRORED_PAGES``: the benchmarks' README with
  its tables, the changelog), read at build time, never copied by hand;
- the source and test files that the pages link to (``../../nn/layers/recurrent.py``), copied
  under ``_repo/`` so that the links work in the built folder too;
- KaTeX's files (``docs_site/katex.py``), so that the math is typeset without a network.
"""

from __future__ import annotations

import functools
import importlib
import logging
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import katex  # noqa: E402  (docs_site/katex.py, beside this file)

# page slug -> (title, introduction, the modules whose public names it documents)
REFERENCE_PAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "core": ("Core: Parameter, Layer, containers",
             "The building blocks every layer and model is made of, and the global settings.",
             ("nn.parameter", "nn.layer", "nn.layers.container", "nn.summary", "nn._config",
              "nn._guard", "nn.init", "nn.functional")),
    "layers": ("Dense layers and activations",
               "Math: [linear](../math/linear.md), [activations](../math/activations.md).",
               ("nn.layers.linear", "nn.layers.activation", "nn.layers.dropout")),
    "conv": ("Convolution, pooling, normalization",
             "Math: [convolution and pooling](../math/conv.md), "
             "[normalization](../math/normalization.md).",
             ("nn.layers.conv", "nn.layers.pooling", "nn.layers.normalization")),
    "recurrent": ("Embedding and recurrent layers",
                  "Math: [recurrent layers](../math/recurrent.md). Exercises: "
                  "[one LSTM step](../exercises/09-lstm-cell.md), "
                  "[an LSTM through time](../exercises/10-lstm-sequence.md).",
                  ("nn.layers.embedding", "nn.layers.recurrent")),
    "attention": ("Attention and Transformer",
                  "Math: [attention and the Transformer](../math/attention.md).",
                  ("nn.layers.attention", "nn.layers.transformer")),
    "losses": ("Losses", "Math: [losses](../math/losses.md).", ("nn.losses",)),
    "gradcheck": ("Gradient checking", "Guide: [gradient checking](../gradcheck.md), "
                  "[the testing kit](../testing.md) (`nn.testing`, documented below).",
                  ("nn.gradcheck", "nn.testing")),
    "training": ("Training loop and callbacks", "",
                 ("nn.training", "nn.callbacks")),
    "interop": ("Interop: PyTorch and ONNX", "Guide: [interop](../interop.md).",
                ("nn.interop",)),
    "data": ("Data, datasets, metrics, text", "Guides: [datasets](../datasets.md), "
             "[text](../text.md).", ("nn.data", "nn.datasets", "nn.metrics", "nn.text")),
    "persistence": ("Saving, loading, checkpoints",
                    "Guide: [reliability](../reliability.md).",
                    ("nn.serialization", "nn.checkpoint")),
    "models": ("The example models", "Tutorial: [training the five example systems]"
               "(../tutorials/five-systems.md).", ("nn.models",)),
    "optim": ("optim: optimizers, schedules, clipping",
              "Math: [optimizers](../math/optimizers.md).",
              ("optim.optimizer", "optim.sgd", "optim.adam", "optim.adamw", "optim.rmsprop",
               "optim.adagrad", "optim.lr_scheduler", "optim.clip")),
}
MORE_PAGE = "more"
EXTRA_NAMES = ("nn.testing",)  # public, but not in nn.__all__ (it needs hypothesis)

# a file kept elsewhere in the repository -> the page of the site that shows it
MIRRORED_PAGES = {"benchmarks/README.md": "benchmarks.md", "CHANGELOG.md": "changelog.md"}
SOURCE_PREFIX = "_repo"
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
log = logging.getLogger("mkdocs.hooks.readable_nn")  # a warning fails a --strict build


def _home_module(package: str, name: str) -> str:
    """The module that defines ``package.name`` (a submodule is its own home)."""
    obj = getattr(importlib.import_module(package), name)
    if type(obj).__name__ == "module":
        return obj.__name__
    return getattr(obj, "__module__", package)


def public_names() -> list[str]:
    """Every documented public name: ``nn.__all__``, ``optim.__all__``, ``EXTRA_NAMES``."""
    names = []
    for package in ("nn", "optim"):
        names += [f"{package}.{n}" for n in importlib.import_module(package).__all__]
    return names + list(EXTRA_NAMES)


@functools.cache
def reference_layout() -> dict[str, list[str]]:
    """Page slug -> the public names it documents, in ``__all__`` order."""
    owner = {mod: slug for slug, (_, _, mods) in REFERENCE_PAGES.items() for mod in mods}
    layout: dict[str, list[str]] = {slug: [] for slug in REFERENCE_PAGES}
    for full in public_names():
        package, _, name = full.partition(".")
        home = full if full in EXTRA_NAMES else _home_module(package, name)
        slug = next((owner[m] for m in _parents(home) if m in owner), MORE_PAGE)
        layout.setdefault(slug, []).append(full)
    return {slug: names for slug, names in layout.items() if names}


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def reference_pages() -> dict[str, str]:
    """``reference/<slug>.md`` -> its Markdown, and ``reference/index.md``."""
    pages, rows = {}, []
    for slug, names in reference_layout().items():
        title, intro, _ = REFERENCE_PAGES.get(slug, ("More", "", ()))
        body = [f"# {title}", "", intro, ""] if intro else [f"# {title}", ""]
        for full in names:
            body += [f"::: {full}", ""]
            rows.append(f"| [`{full}`]({slug}.md#{full}) | [{title}]({slug}.md) |")
        pages[f"reference/{slug}.md"] = "\n".join(body)
    pages["reference/index.md"] = "\n".join([
        "# API reference", "",
        "Generated from the docstrings of every public name of `nn` and `optim` (their "
        "`__all__`) and of `nn.testing`. The [API contract](../api.md) states what these "
        "names promise; this reference shows their signatures and docstrings.", "",
        "| name | page |", "|---|---|", *rows, ""])
    return pages


def rewrite_links(markdown: str, real_path: str, virtual_path: str,
                  wanted: set[str] | None = None) -> str:
    """Rewrite the relative links of a page that lives at ``real_path`` in the repository and
    is shown at ``virtual_path`` in the site: a link into docs/ points at that page, a link to
    a mirrored file at its page, a link to any other file of the repository at its copy under
    ``_repo/`` (whose path is added to ``wanted``). Links that resolve to nothing are left as
    they are, for the strict build to report."""
    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(real_path), path))
        if repo_path in MIRRORED_PAGES:
            site_path = MIRRORED_PAGES[repo_path]
        elif repo_path.startswith("docs/"):
            site_path = repo_path[len("docs/"):]
            if (ROOT / repo_path).is_dir():
                site_path = posixpath.join(site_path, _index_of(ROOT / repo_path))
        elif repo_path.startswith(".."):
            return match.group(0)
        elif (ROOT / repo_path).is_file():
            site_path = f"{SOURCE_PREFIX}/{repo_path}"
            if wanted is not None:
                wanted.add(repo_path)
        elif (ROOT / repo_path / "__init__.py").is_file():  # a package: its reference entry
            name = repo_path.replace("/", ".")
            page = next((slug for slug, names in reference_layout().items() if name in names),
                        None)
            if page is None:  # not public (nn/jobs): its source
                return fix_to_source(match, f"{repo_path}/__init__.py", virtual_path, wanted)
            site_path, hash_, anchor = f"reference/{page}.md", "#", name
        else:
            return match.group(0)
        new = posixpath.relpath(site_path, posixpath.dirname(virtual_path) or ".")
        return f"{match.group(1)}{new}{hash_}{anchor}{match.group(3)}"

    return LINK.sub(fix, markdown)


def fix_to_source(match: re.Match[str], repo_path: str, virtual_path: str,
                  wanted: set[str] | None) -> str:
    if wanted is not None:
        wanted.add(repo_path)
    new = posixpath.relpath(f"{SOURCE_PREFIX}/{repo_path}", posixpath.dirname(virtual_path) or ".")
    return f"{match.group(1)}{new}{match.group(3)}"


def _index_of(folder: Path) -> str:
    return "index.md" if (folder / "index.md").exists() else "README.md"


# -- the hooks --------------------------------------------------------------------------

_wanted: set[str] = set()


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    katex.ensure()  # fetch once (npm), then offline
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for uri, text in reference_pages().items():
        files.append(File.generated(config, uri, content=text))
    for real, virtual in MIRRORED_PAGES.items():
        text = rewrite_links((ROOT / real).read_text(encoding="utf-8"), real, virtual,
                             _wanted)
        files.append(File.generated(config, virtual, content=text))
    for rel, path in katex.site_files():
        files.append(File.generated(config, f"assets/katex/{rel}", abs_src_path=str(path)))
    # the files the pages link to outside docs/: scan every page once, add each target
    for file in list(files.documentation_pages()):
        if file.abs_src_path and not file.generated_by:
            real = Path(file.abs_src_path).resolve().relative_to(ROOT).as_posix()
            rewrite_links(Path(file.abs_src_path).read_text(encoding="utf-8"), real,
                          file.src_uri, _wanted)
    for rel in sorted(_wanted):
        uri = f"{SOURCE_PREFIX}/{rel}"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(ROOT / rel)))
    return files


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    layout = reference_layout()
    if MORE_PAGE in layout:
        log.warning("public names from modules that have no API reference page (add the "
                    "module to REFERENCE_PAGES in docs_site/hooks.py): "
                    + ", ".join(layout[MORE_PAGE]))
    in_nav = {page.file.src_uri for page in nav.pages}
    for uri in sorted(set(reference_pages()) - in_nav):
        log.warning(f"the generated page {uri} is not in the nav of mkdocs.yml")
    return nav


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    file = page.file
    if file.generated_by or not file.abs_src_path:
        return markdown
    real = Path(file.abs_src_path).resolve().relative_to(ROOT).as_posix()
    return rewrite_links(markdown, real, file.src_uri)


ROLE = re.compile(r":(func|class|meth|mod|attr|data|obj|exc|math):"
                  r"(?:<code>([^<]*)</code>|`([^`<]*)`)")  # rendered, or raw in a table
ANCHOR = re.compile(r'<h\d[^>]*\bid="([\w.]+)"')
CODE_NAME = re.compile(r"<code>((?:nn|optim)(?:\.\w+)+)</code>")
NOT_INSIDE = re.compile(r"(<a\b.*?</a>|<pre\b.*?</pre>|<h\d\b.*?</h\d>)", re.S)


def _link(name: str, shown: str, page_url: str, anchors: dict[str, str]) -> str:
    target = posixpath.relpath(anchors[name], posixpath.dirname(page_url) or ".")
    return f'<a href="{target}#{name}"><code>{shown}</code></a>'


def resolve_roles(html: str, page_url: str, anchors: dict[str, str]) -> str:
    """The reStructuredText roles of the docstrings, as the Markdown renderer leaves them
    (``:func:<code>nn.save</code>``), made readable: ``:math:`` becomes math for KaTeX, and a
    name that the reference documents becomes a link to its entry (a short name such as
    ``update`` is looked for on the same page first, then under ``nn.`` and ``optim.``);
    other names stay code. A ``Forward::`` before a code block loses one colon."""
    here = [name for name, url in anchors.items() if url == page_url]

    def link(match: re.Match[str]) -> str:
        role, name = match.group(1), match.group(2) or match.group(3)
        if role == "math":
            return f'<span class="arithmatex">\\({name}\\)</span>'
        name = name.lstrip("~.")
        found = [name] if name in anchors else []
        found = found or [n for n in here if n.endswith("." + name)]
        found = found or [n for n in (f"nn.{name}", f"optim.{name}") if n in anchors]
        if len(found) != 1:
            return f"<code>{name}</code>"
        return _link(found[0], name, page_url, anchors)

    return re.sub(r"::</p>", ":</p>", ROLE.sub(link, html))


def link_names(html: str, page_url: str, anchors: dict[str, str]) -> str:
    """Inline code that is exactly a documented name (`` `nn.LSTM` ``) links to its entry in
    the API reference; not inside links, code blocks or headings."""
    def link(match: re.Match[str]) -> str:
        name = match.group(1)
        return _link(name, name, page_url, anchors) if name in anchors else match.group(0)

    parts = NOT_INSIDE.split(html)
    return "".join(part if i % 2 else CODE_NAME.sub(link, part) for i, part in enumerate(parts))


@event_priority(100)  # before mkdocs-autorefs' on_env, which may rewrite the content
def on_env(env, config: MkDocsConfig, files: Files):  # noqa: ANN001 (a jinja2 Environment)
    pages = [f.page for f in files.documentation_pages() if f.page is not None
             and f.page.content]
    reference = [page for page in pages if page.file.src_uri.startswith("reference/")]
    anchors = {name: page.file.url for page in reference
               for name in ANCHOR.findall(page.content or "")}
    for page in reference:
        page.content = resolve_roles(page.content or "", page.file.url, anchors)
    for page in pages:
        page.content = link_names(page.content or "", page.file.url, anchors)
    return env


def on_post_build(config: MkDocsConfig) -> None:
    # a `.nojekyll` lets the folder be published as it is; nothing else to do
    (Path(config.site_dir) / ".nojekyll").touch()

