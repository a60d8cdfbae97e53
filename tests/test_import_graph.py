"""The modules of nn/ and optim/ import each other without a cycle.

Every ``import`` statement counts, at any level (module, function, class, ``if``
block): a function-level import that closes a cycle is still a cycle, only a later one.
Relative imports are resolved. ``from package import name`` points at the submodule
``package.name`` when there is one, else at the package's ``__init__``. A parent
package that Python initialises on the way (``nn/__init__.py`` before ``nn.layer``) is
not an edge: a package's ``__init__`` re-exporting its submodules is fine as long as no
chain of modules leads back to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "optim")


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file under the packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``name`` (in ``path``) imports anywhere."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of ``graph``, or ``None`` (iterative depth-first
    search with the usual three colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 unseen, 1 on the current path, 2 done
    for root in sorted(graph):
        if colour[root]:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        colour[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = 2
                stack.pop()
            elif colour[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            elif colour[nxt] == 0:
                colour[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_nn_and_optim_import_no_cycle():
    graph = import_graph()
    assert "nn.training" in graph and "optim.optimizer" in graph  # the walk found the code
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "d"}, "b": set(), "d": {"e"}, "e": {"d"}}, ["d", "e", "d"]),
])
def test_find_cycle_finds_what_is_there(graph, expected):
    assert find_cycle(graph) == expected


def test_function_level_and_relative_imports_are_edges(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    files = {
        "pkg": tmp_path / "pkg" / "__init__.py",
        "pkg.a": tmp_path / "pkg" / "a.py",
        "pkg.sub": tmp_path / "pkg" / "sub" / "__init__.py",
        "pkg.sub.b": tmp_path / "pkg" / "sub" / "b.py",
    }
    files["pkg"].write_text("from .a import f\n")
    files["pkg.a"].write_text("def f():\n    from .sub import b\n    return b\n")
    files["pkg.sub"].write_text("")
    files["pkg.sub.b"].write_text("def g():\n    if True:\n        from ..a import f\n")
    assert imports_of("pkg", files["pkg"], files) == {"pkg.a"}
    assert imports_of("pkg.a", files["pkg.a"], files) == {"pkg.sub.b"}
    assert imports_of("pkg.sub.b", files["pkg.sub.b"], files) == {"pkg.a"}
    graph = {name: imports_of(name, path, files) for name, path in files.items()}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
