"""The partner summary: Follow-the-Money totals for one partner, computed in SQL.

Formulas (docs/partner-api.md): over the loans of the partner's applications,
disbursement = Σ disburse_amount of COMPLETED disbursements; principal / interest / late_fee =
Σ lender_received_*; repayment = principal + interest + late_fee; fee = Σ julo_fee_received;
outstanding = Σ over disbursed loans of max(loan_amount − principal, 0);
net_profit = interest + late_fee − fee. All integer rupiah.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib.db import one

SQL_DIR = Path(__file__).with_name("sql")
SUMMARY_SQL = (SQL_DIR / "summary.sql").read_text()


@dataclass(frozen=True)
class Figures:
    disbursement: int
    outstanding: int
    principal: int
    interest: int
    late_fee: int
    fee: int

    @property
    def repayment(self) -> int:
        return self.principal + self.interest + self.late_fee

    @property
    def net_profit(self) -> int:
        return self.interest + self.late_fee - self.fee

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "repayment": self.repayment, "net_profit": self.net_profit}


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
        loan_count, disbursement, principal, interest, late_fee, fee, outstanding = one(cur)
    figures = Figures(
        disbursement=int(disbursement), outstanding=int(outstanding), principal=int(principal),
        interest=int(interest), late_fee=int(late_fee), fee=int(fee),
    )
    return Summary(partner_id, int(loan_count), figures, as_of)
