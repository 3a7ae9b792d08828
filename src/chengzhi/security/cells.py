"""Spreadsheet cells that a spreadsheet program cannot run: text starting with `=`, `+`, `-`, `@` (or a tab or
carriage return before them) would be read as a formula (`=HYPERLINK(…)`, `=cmd|…`), so such text is prefixed with
an apostrophe, which Excel, LibreOffice and WPS show as plain text. Numbers, dates and empty cells pass unchanged.

Every export (CSV and XLSX) writes its cells through `safe_cell`."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)  # and full-width forms


def safe_cell(value: Any) -> Any:
    """`value`, with text that would start a formula neutralised."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [safe_cell(v) for v in values]
