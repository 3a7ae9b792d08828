"""Spreadsheet cells that a spreadsheet program cannot run: text starting with `=`, `+`, `-`, `@` (or a tab or
carriage return before them) would be read as a formula (`=HYPERLINK(…)`, `=cmd|…`), so such text is prefixed with
an apostrophe, which Excel, LibreOffice and WPS show as plain text. Numbers, dates and empty cells pass unchanged.

Every export (CSV and XLSX) writes its cells through `safe_cell`. A file meant to be read back by the platform (the
request import's rejects file) is read through `restored_cell`, which takes exactly that apostrophe off again."""

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


def restored_cell(value: Any) -> Any:
    """The inverse of `safe_cell` for files the platform reads back: an apostrophe followed by what would start a
    formula is taken off (`'=SUM(1)` -> `=SUM(1)`); any other value, apostrophes included, is kept."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
