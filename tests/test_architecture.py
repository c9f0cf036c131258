"""The package's layers point one way: no import cycle inside ``assistant/``, and the library below
the eval harness never imports it. Read from the source with ``ast`` (module-level imports, the ones
that run when a module loads; ``if TYPE_CHECKING:`` blocks do not run), so nothing is imported."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

# The application layer may run the harness: the CLI's `assistant eval` and the web app's Evaluate tab.
HARNESS_USERS = {"assistant.cli", "assistant.ui.evaluation"}


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package by its ``__init__``)."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _runs_at_import(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements a module executes when it loads (not those inside functions)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            found.append(stmt)
        elif isinstance(stmt, ast.If):
            test = stmt.test
            if ast.unparse(test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
                continue
            found += _runs_at_import(stmt.body) + _runs_at_import(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            found += _runs_at_import(stmt.body) + _runs_at_import(stmt.orelse) + _runs_at_import(stmt.finalbody)
            for handler in stmt.handlers:
                found += _runs_at_import(handler.body)
        elif isinstance(stmt, ast.With):
            found += _runs_at_import(stmt.body)
    return found


def _targets(name: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The project modules one import statement loads (a submodule when ``from pkg import sub``)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{mod}.{alias.name}"
        if sub in modules:
            out.add(sub)
        elif mod in modules:
            out.add(mod)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports when it loads."""
    modules = module_names(root)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _runs_at_import(tree.body):
            targets |= _targets(name, path.name == "__init__.py", node, modules)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def harness_imports(graph: dict[str, set[str]]) -> list[str]:
    """``module -> harness module`` for each library module that imports the eval harness."""
    return sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if not m.startswith("assistant.evaluate") and m not in HARNESS_USERS
        for t in targets
        if t.startswith("assistant.evaluate")
    )


def test_no_import_cycle_inside_the_package() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (module-level imports): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_library_never_imports_the_eval_harness() -> None:
    offenders = harness_imports(import_graph())
    assert not offenders, f"library modules import the eval harness: {offenders}"


def test_the_product_never_imports_the_fakes() -> None:
    """``assistant.testing`` holds the fakes for tests; no module of the product loads it."""
    offenders = sorted(m for m, targets in import_graph().items() if "assistant.testing" in targets)
    assert not offenders, f"product modules import the test fakes: {offenders}"


def test_no_module_is_over_600_lines() -> None:
    """The model seam and the stages stay in modules small enough to read."""
    long = sorted(
        f"{p.relative_to(PACKAGE.parent)} ({n})"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    )
    assert not long, f"modules over 600 lines: {long}"


def test_the_harness_package_is_light() -> None:
    """``import assistant.evaluate.metrics`` must not load the runner, the tasks or the reports."""
    assert import_graph()["assistant.evaluate"] == set()


def test_a_planted_cycle_and_upward_import_are_found(tmp_path: Path) -> None:
    """The checks above can fail: on a copy of the package, one planted line each is reported."""
    copy = tmp_path / "assistant"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    with (copy / "verify" / "text.py").open("a", encoding="utf-8") as f:
        f.write("\nfrom assistant.check import render_text  # planted: check imports verify\n")
    with (copy / "qa.py").open("a", encoding="utf-8") as f:
        f.write("\nfrom assistant.evaluate.metrics import mean  # planted\n")
    graph = import_graph(copy)
    assert any({"assistant.check", "assistant.verify.text"} <= set(c) for c in cycles(graph))
    assert harness_imports(graph) == ["assistant.qa -> assistant.evaluate.metrics"]


def test_the_graph_reads_only_imports_that_run_at_load(tmp_path: Path) -> None:
    """Type-checking and function-level imports are not edges; a package's re-export and a relative import are."""
    root = tmp_path / "assistant"
    (root / "verify").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "verify" / "__init__.py").write_text("from assistant.verify.text import clean\n")
    (root / "verify" / "text.py").write_text("from .. import store\n")
    (root / "store.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from assistant import verify\n"
        "def later():\n    from assistant.verify import clean\n"
    )
    graph = import_graph(root)
    assert graph == {"assistant": set(), "assistant.verify": {"assistant.verify.text"},
                     "assistant.verify.text": {"assistant.store"}, "assistant.store": set()}
    assert cycles(graph) == []
