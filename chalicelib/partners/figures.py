"""The partner summary: Follow-the-Money totals for one partner, computed in SQL.

Formulas (docs/partner-api.md): over the loans of the partner's applications,
disbursement = Σ disburse_amount of COMPLETED disbursements; principal / interest / late_fee =
Σ lender_received_*; repayment = principal + interest + late_fee; fee = Σ julo_fee_received
(the platform's share, for information: already out of interest and late_fee);
outstanding = Σ over disbursed loans of max(loan_amount − principal, 0);
net_profit = interest + late_fee. All integer rupiah, all computed in SQL (the rollup of
migrations 0200/0203, with repayment and net_profit as its generated columns, migration 0210).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib.db import column_names, one

SQL_DIR = Path(__file__).with_name("sql")
SUMMARY_SQL = (SQL_DIR / "summary.sql").read_text()


@dataclass(frozen=True)
class Figures:
    """The eight figures, as the SQL computed them (nothing is derived here)."""

    disbursement: int
    outstanding: int
    repayment: int
    principal: int
    interest: int
    late_fee: int
    fee: int
    net_profit: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Figures:
        return cls(**{name: int(record[name]) for name in FIGURE_NAMES})

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


FIGURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True)
class Summary:
    partner_id: int
    loan_count: int
    figures: Figures
    as_of: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner_id": self.partner_id,
            "loan_count": self.loan_count,
            **self.figures.as_dict(),
            "as_of": self.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


def partner_summary(conn: psycopg2.extensions.connection, partner_id: int) -> Summary:
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        (as_of,) = one(cur)
        cur.execute(SUMMARY_SQL, {"partner_id": partner_id})
        record = dict(zip(column_names(cur), one(cur), strict=True))
    return Summary(partner_id, int(record["loan_count"]), Figures.from_record(record), as_of)
