"""Write the report rows to .xlsx as they stream in (xlsxwriter ``constant_memory``).

Bold header, frozen header row, autofilter over all rows, rupiah number format, column
widths fitted to the longest value seen (tracked while writing: ``autofit()`` does not work
in constant_memory mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from chalicelib.indonesian import format_rupiah
from chalicelib.stuck_disbursements.columns import Column, Kind

RUPIAH_FORMAT = '"Rp "#,##0'
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
SHEET_NAME = "Stuck disbursements"
MAX_WIDTH = 60


def _display_width(kind: Kind, value: Any) -> int:
    if value is None:
        return 0
    if kind is Kind.MONEY:
        return len(format_rupiah(int(value)))
    if kind is Kind.DATETIME:
        return len(DATETIME_FORMAT)
    return len(str(value))


def write_report(path: Path, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` to ``path``; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": False})
    try:
        sheet = workbook.add_worksheet(SHEET_NAME)
        header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        formats = {
            Kind.MONEY: workbook.add_format({"num_format": RUPIAH_FORMAT}),
            Kind.DATETIME: workbook.add_format({"num_format": DATETIME_FORMAT}),
            Kind.INTEGER: workbook.add_format({"num_format": "0"}),
            Kind.TEXT: None,
        }
        widths = [len(c.header) + 2 for c in columns]  # +2: room for the autofilter button
        for col, c in enumerate(columns):
            sheet.write_string(0, col, c.header, header)
        n = 0
        for n, row in enumerate(rows, start=1):
            for col, c in enumerate(columns):
                value = row.get(c.key)
                fmt = formats[c.kind]
                if value is None:
                    sheet.write_blank(n, col, None, fmt)
                elif c.kind is Kind.DATETIME:
                    if not isinstance(value, datetime) or value.tzinfo is not None:
                        raise ValueError(f"{c.key}: expected a naive WIB wall-clock datetime, got {value!r}")
                    sheet.write_datetime(n, col, value, fmt)
                elif c.kind in (Kind.MONEY, Kind.INTEGER):
                    sheet.write_number(n, col, int(value), fmt)
                else:
                    sheet.write_string(n, col, str(value))
                widths[col] = max(widths[col], _display_width(c.kind, value) + 1)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(n, 1), len(columns) - 1)
        for col, width in enumerate(widths):
            sheet.set_column(col, col, min(width, MAX_WIDTH))
    finally:
        workbook.close()
    return n
