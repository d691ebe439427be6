"""Rupiah amounts the Indonesian way: ``Rp 1.250.000`` (dot groups thousands, no decimals)."""

from __future__ import annotations


def format_rupiah(amount: int) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"rupiah amounts are integers, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")
