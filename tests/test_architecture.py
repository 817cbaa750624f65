"""The package's layering, read from the source with ``ast``: no import cycles, a core that never
imports the notebook stack, and notebook plugins that use only the core's public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jaxtext

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"jaxtext": ROOT / "jaxtext", "jaxtext.magics": ROOT / "magics",
            "jaxtext.widgets": ROOT / "widgets"}
NOTEBOOK_STACK = ("IPython", "ipywidgets", "ipykernel", "altair", "vl_convert", "traitlets")


def modules() -> dict[str, Path]:
    """Every module of the distribution by dotted name (the installed layout)."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if package == "jaxtext" and name.startswith(("jaxtext.magics", "jaxtext.widgets")):
                continue
            out[name] = path
    return out


MODULES = modules()


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import, in functions too."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            out.append((module, [alias.name for alias in node.names], node.lineno))
    return out


def edges(name: str) -> set[str]:
    """Modules of this distribution that ``name`` imports (``from pkg import sub`` counts sub)."""
    out = set()
    for module, names, _ in imports(name, MODULES[name]):
        submodules = {f"{module}.{n}" for n in names} & set(MODULES)
        # `from pkg import sub` needs sub; `from pkg import obj` needs pkg's __init__
        targets = submodules if names and len(submodules) == len(names) else \
            submodules | {module}
        out |= {t for t in targets if t in MODULES and t != name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_module_list_covers_the_three_packages():
    assert {"jaxtext.run", "jaxtext.training.trainer", "jaxtext.magics.magic",
            "jaxtext.widgets.dashboard"} <= set(MODULES)


def test_no_import_cycles_anywhere():
    """Lazy imports inside functions count: a cycle is a knot whether or not it crashes."""
    graph = {name: edges(name) for name in MODULES}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(
    ("jaxtext.magics", "jaxtext.widgets"))))
def test_core_never_imports_the_notebook_stack(name):
    for module, _, line in imports(name, MODULES[name]):
        assert module.split(".")[0] not in NOTEBOOK_STACK, f"{name}:{line} imports {module}"
        assert not module.startswith(("jaxtext.magics", "jaxtext.widgets")), \
            f"{name}:{line} imports the plugin {module}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(
    ("jaxtext.magics", "jaxtext.widgets"))))
def test_notebook_plugins_use_only_public_core_names(name):
    plugin = ".".join(name.split(".")[:2])
    public = set(jaxtext.__all__)
    for module, names, line in imports(name, MODULES[name]):
        if not module.startswith("jaxtext") or module.startswith(plugin):
            continue
        assert module == "jaxtext", f"{name}:{line} imports private core module {module}"
        private = [n for n in names if n not in public]
        assert not private, f"{name}:{line} imports non-public {private} from jaxtext"


def test_a_run_is_made_in_exactly_one_place():
    """``Run(...)`` is called only by jaxtext.api (from training, a sweep or a loaded folder)."""
    calls = [f"{name}:{node.lineno}" for name, path in MODULES.items()
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Run"]
    assert [c.split(":")[0] for c in calls] == ["jaxtext.api"] * 3, calls
