"""Reading the source tree as an architect would: which domain owns which table, and who queries it.

`foreign_table_uses()` walks every module's syntax tree and reports each place where a module uses a model class
that another domain owns in a way that reads or writes its table: `select(X)`, `X.column` in an expression,
`session.get(X, ...)`, `X(...)` (a new row), `X.__table__`. Using the class as a type (annotations, `isinstance`,
imports under `TYPE_CHECKING`) is not a use of the table. tests/test_architecture.py asserts that there are none.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "chengzhi"

# Top-level modules of the core (shared infrastructure, owned by no domain).
CORE = {
    "config",
    "db",
    "errors",
    "generations",
    "i18n",
    "idempotency",
    "ratelimit",
    "models",
    "migrate",
    "clock",
    "security",
}
# The application's edges: they wire domains together and may import any domain's public modules.
EDGES = {"app", "backup", "cli", "clidoc", "deps", "web", "reactions", "caches", "worker"}


def domain_of(module: str) -> str:
    """`chengzhi.requests.service` -> `requests`; a core module -> `core`; an edge -> `edge`."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in CORE:
        return "core"
    if top in EDGES:
        return "edge"
    return top


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    yield from sorted((SRC / PACKAGE).rglob("*.py"))


def _is_model_class(node: ast.ClassDef) -> bool:
    names = {b.id for b in node.bases if isinstance(b, ast.Name)} | {
        b.attr for b in node.bases if isinstance(b, ast.Attribute)
    }
    return "Base" in names and any(
        isinstance(s, ast.Assign | ast.AnnAssign)
        and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in _targets(s))
        for s in node.body
    )


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return [stmt.target]
    return []


def table_owners() -> dict[tuple[str, str], str]:
    """(module, class name) -> owning domain, for every mapped class in the package."""
    owners: dict[tuple[str, str], str] = {}
    for path in source_files():
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and _is_model_class(node):
                owners[(module, node.name)] = domain_of(module)
    return owners


@dataclass(frozen=True)
class Use:
    module: str
    line: int
    model: str
    owner: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} uses {self.owner}'s table {self.model}"


class _Finder(ast.NodeVisitor):
    def __init__(self, module: str, owners: dict[tuple[str, str], str]) -> None:
        self.module = module
        self.domain = domain_of(module)
        self.owners = owners
        self.names: dict[str, tuple[str, str]] = {}  # local name -> (model, owner)
        self.modules: dict[str, str] = {}  # local alias -> module, for `from chengzhi.x import models as m`
        self.uses: list[Use] = []
        self._type_only = 0

    def _foreign(self, module: str, name: str) -> tuple[str, str] | None:
        owner = self.owners.get((module, name))
        if owner is None or owner in {self.domain, "core"}:
            return None
        return name, owner

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self._type_only += 1
            for child in node.body:
                self.visit(child)
            self._type_only -= 1
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module or not node.module.startswith(PACKAGE):
            return
        for alias in node.names:
            local = alias.asname or alias.name
            found = self._foreign(node.module, alias.name)
            if found:
                self.names[local] = found
            else:
                self.modules[local] = f"{node.module}.{alias.name}"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname and alias.name.startswith(PACKAGE):
                self.modules[alias.asname] = alias.name

    # Annotations name types, not tables.
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"isinstance", "cast", "issubclass", "TypeVar"}:
            return  # a type test or a cast names the class, not its table
        self.generic_visit(node)

    def _model_of(self, node: ast.expr) -> tuple[str, str] | None:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = self.modules.get(node.value.id)
            if module:
                return self._foreign(module, node.attr)
        return None

    def visit_Name(self, node: ast.Name) -> None:
        self._record(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._model_of(node):
            self._record(node)
            return
        self.generic_visit(node)

    def _record(self, node: ast.expr) -> None:
        if self._type_only:
            return
        found = self._model_of(node)
        if found:
            self.uses.append(Use(self.module, node.lineno, *found))


def foreign_table_uses() -> list[Use]:
    owners = table_owners()
    declaring = {module for module, _ in owners}
    uses: list[Use] = []
    for path in source_files():
        module = module_name(path)
        if domain_of(module) == "core" or module in declaring:
            # The core owns no domain's tables; modules declaring tables name others' in foreign keys and
            # relationships. (A module merely *named* models, such as admin's page of category models, is checked.)
            continue
        finder = _Finder(module, owners)
        finder.visit(ast.parse(path.read_text(encoding="utf-8")))
        uses.extend(finder.uses)
    return uses


# ---------------------------------------------------------------- the import graph, drawn


def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, include_external_packages=False, exclude_type_checking_imports=True)


def module_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module in the direct-import graph (Tarjan)."""
    graph = import_graph()
    adjacency = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in adjacency[v]:
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

    for module in adjacency:
        if module not in index:
            visit(module)
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def drawing() -> str:
    """The domains and the arrows between them, from the import graph: who uses whom, through which modules.

    One line per package: `package -> other: module, module` (the other package's modules it imports)."""
    graph = import_graph()
    arrows: dict[str, dict[str, set[str]]] = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            source, target = _package(importer), _package(imported)
            if source == target or domain_of(imported) == "core":
                continue
            short = imported.split(".", 2)[2] if imported.count(".") >= 2 else "(package)"
            arrows.setdefault(source, {}).setdefault(target, set()).add(short)
    lines = []
    for source in sorted(arrows, key=lambda p: (domain_of(p) != "edge", p)):
        for target, modules in sorted(arrows[source].items()):
            lines.append(
                f"{source.removeprefix(PACKAGE + '.'):<10} -> {target.removeprefix(PACKAGE + '.'):<10} {', '.join(sorted(modules))}"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys
    from collections import Counter

    if "--drawing" in sys.argv:
        print(drawing(), end="")
    else:
        found = foreign_table_uses()
        for use in found:
            print(use)
        print(Counter((u.module, u.owner) for u in found).most_common())
        print(len(found))
