"""Demo step: API keys for every demo partner and one staff key, written to ``api_keys.json``
(``{"partners": {"<partner name>": "<key>"}, "staff": "<key>"}``), then each partner's summary
read through the real Chalice app with its own key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice.test import Client

from chalicelib.partners.keys import create_partner_key, create_staff_key

if TYPE_CHECKING:
    from localdev.demo.context import DemoContext

KEYS_FILE = "api_keys.json"
DEMO_ACTOR = "make demo"


def step_partner_api(ctx: DemoContext) -> None:
    with ctx.conn.cursor() as cur:
        cur.execute("SELECT partner_id, name FROM partner ORDER BY partner_id")
        partners = cur.fetchall()
    ctx.conn.commit()
    keys = {name: create_partner_key(ctx.conn, partner_id, actor=DEMO_ACTOR) for partner_id, name in partners}
    staff = create_staff_key(ctx.conn, owner="demo collections lead", actor=DEMO_ACTOR)
    path = ctx.out_dir / KEYS_FILE
    path.write_text(json.dumps({"partners": keys, "staff": staff}, indent=2) + "\n")
    path.chmod(0o600)

    from app import app  # late import: the app reads DATABASE_URL when a request comes in

    print(f"\nPartner API: keys for {len(keys)} partners and staff in {path}")
    print("net_profit = interest + late_fee, the lender's share (the platform fee is already out of both; "
          "docs/partner-api.md)")
    print(TABLE_HEADER)
    with Client(app) as client:
        for name, key in keys.items():
            response = client.http.get("/v1/partner/summary", headers={"x-api-key": key})
            s = json.loads(response.body)
            if response.status_code != 200:
                raise RuntimeError(f"summary for {name} failed: {response.status_code} {s}")
            print(table_row(name, s))
    print("The same in a browser: make api, then open /v1/partner/portal with a partner key from "
          f"{path.name} (docs/partner-api.md, 'The partner portal')")


COLUMNS = ("loan_count", "disbursement", "outstanding", "repayment", "interest", "late_fee", "fee", "net_profit")
WIDTHS = (7, 16, 16, 16, 14, 12, 12, 14)
TABLE_HEADER = f"{'partner':<24} " + " ".join(
    f"{'loans' if c == 'loan_count' else c:>{w}}" for c, w in zip(COLUMNS, WIDTHS, strict=True))


def table_row(name: str, summary: dict[str, Any]) -> str:
    return f"{name:<24} " + " ".join(f"{summary[c]:>{w},}" for c, w in zip(COLUMNS, WIDTHS, strict=True))
