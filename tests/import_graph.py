"""The package's import graph, read from its source: every import, at module level or inside a
function (``TYPE_CHECKING`` blocks included), as an arrow from module to module.

    python -m tests.import_graph [PACKAGE_DIR]

prints the import cycles (strongly connected groups of modules) and every private name one
module takes from another; ``tests/test_architecture.py`` asserts there are none.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_modelgate"


@dataclass
class Graph:
    modules: dict[str, Path]
    edges: dict[str, set[str]] = field(default_factory=dict)
    private: list[str] = field(default_factory=list)  # "a.b:12 takes c._name"

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of more than one module (Tarjan), each sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for target in sorted(self.edges.get(node, ())):
                if target not in index:
                    visit(target)
                    low[node] = min(low[node], low[target])
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        sys.setrecursionlimit(10_000)
        for module in sorted(self.modules):
            if module not in index:
                visit(module)
        return sorted(groups)


def module_names(package: Path) -> dict[str, Path]:
    root = package.parent
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def read_graph(package: Path = PACKAGE) -> Graph:
    graph = Graph(module_names(package))
    for module, path in graph.modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        bound: dict[str, str] = {}  # local name -> package module it is bound to
        targets: set[str] = set()
        for node, target, names in _imports(tree, module, is_package, graph.modules):
            targets.add(target)
            for name, asname in names:
                child = f"{target}.{name}"
                if child in graph.modules:
                    targets.add(child)
                    bound[asname or name] = child
                elif _is_private(name):
                    graph.private.append(f"{module}:{node.lineno} takes {target}.{name}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
        graph.private += _private_attributes(tree, module, bound)
        graph.edges[module] = {t for t in targets if t != module}
    return graph


def _imports(
    tree: ast.AST, module: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[tuple[ast.stmt, str, list[tuple[str, str | None]]]]:
    """(statement, imported package module, names taken from it) for imports of the package."""
    top = module.split(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == top and alias.name in modules:
                    yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            if target.split(".")[0] == top and target in modules:
                yield node, target, [(a.name, a.asname) for a in node.names]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private_attributes(tree: ast.AST, module: str, bound: dict[str, str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and bound[node.value.id] != module
            and _is_private(node.attr)
        ):
            found.append(f"{module}:{node.lineno} takes {bound[node.value.id]}.{node.attr}")
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def main(argv: list[str]) -> int:
    package = Path(argv[0]).resolve() if argv else PACKAGE
    graph = read_graph(package)
    cycles = graph.cycles()
    arrows = sum(len(targets) for targets in graph.edges.values())
    print(f"{len(graph.modules)} modules, {arrows} import arrows (lazy imports included)")
    print(f"{len(cycles)} import cycles, {sum(map(len, cycles))} modules in them")
    for group in cycles:
        print("  cycle: " + " <-> ".join(group))
    print(f"{len(graph.private)} private names imported across modules")
    for line in graph.private:
        print(f"  {line}")
    return 1 if cycles or graph.private else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
