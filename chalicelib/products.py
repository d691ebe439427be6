"""Product lines. PEDE ("Ponsel Duit") loans get their own reminder templates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProductFamily(StrEnum):
    JULO = "JULO"
    PEDE = "PEDE"


@dataclass(frozen=True)
class ProductLine:
    code: int
    type: str
    family: ProductFamily
    name: str
    min_duration: int
    max_duration: int
    monthly_interest_bp: int  # basis points of the loan amount per month


PRODUCT_LINES: tuple[ProductLine, ...] = (
    ProductLine(10, "MTL1", ProductFamily.JULO, "JULO Multi-Term Loan", 3, 12, 400),
    ProductLine(20, "STL1", ProductFamily.JULO, "JULO Single-Term Loan", 1, 1, 1000),
    ProductLine(100, "PEDEMTL1", ProductFamily.PEDE, "Ponsel Duit Multi-Term Loan", 3, 6, 450),
    ProductLine(200, "PEDESTL1", ProductFamily.PEDE, "Ponsel Duit Single-Term Loan", 1, 1, 1000),
)

PRODUCT_LINES_BY_CODE: dict[int, ProductLine] = {p.code: p for p in PRODUCT_LINES}


def product_family(product_line_code: int) -> ProductFamily:
    line = PRODUCT_LINES_BY_CODE.get(product_line_code)
    return line.family if line else ProductFamily.JULO
