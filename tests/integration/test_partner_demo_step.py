"""The demo step writes working keys for every demo partner and staff to api_keys.json."""

from __future__ import annotations

import json
from datetime import date

from localdev.datagen.lending import load
from localdev.datagen.lending_book import PARTNERS
from localdev.demo.context import DemoContext
from localdev.demo.partner_api import COLUMNS, KEYS_FILE, TABLE_HEADER, step_partner_api
from tests.api_support import api_client, get


def test_demo_step_writes_working_keys(conn, tmp_path, capsys):
    load(conn, 200, 3, date(2026, 11, 20))
    step_partner_api(DemoContext(conn=conn, business_date=date(2026, 11, 20), loans=200, seed=3, out_dir=tmp_path))
    keys = json.loads((tmp_path / KEYS_FILE).read_text())
    assert set(keys) == {"partners", "staff"}
    assert set(keys["partners"]) == {p.name for p in PARTNERS}
    with api_client() as client:
        for partner in PARTNERS:
            status, body, _ = get(client, "/v1/partner/summary", keys["partners"][partner.name])
            assert (status, body["partner_id"]) == (200, partner.partner_id)
        assert get(client, "/v1/crm/applications?limit=1", keys["staff"])[0] == 200
    out = capsys.readouterr().out
    assert "Bukalapak" in out


def test_demo_partner_table_shows_net_profit_as_interest_plus_late_fee(conn, tmp_path, capsys):
    """The table the demo prints: each partner's figures as the API gives them, net profit the
    lender's interest and late fee (the platform fee is not taken off a second time)."""
    load(conn, 200, 3, date(2026, 11, 20))
    step_partner_api(DemoContext(conn=conn, business_date=date(2026, 11, 20), loans=200, seed=3, out_dir=tmp_path))
    keys = json.loads((tmp_path / KEYS_FILE).read_text())["partners"]
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(TABLE_HEADER) + 1:]
    printed = {}
    for partner in PARTNERS:
        row = next(line for line in table if line.startswith(partner.name))
        numbers = [int(v.replace(",", "")) for v in row[len(partner.name):].split()]
        printed[partner.name] = dict(zip(COLUMNS, numbers, strict=True))
    with api_client() as client:
        for name, figures in printed.items():
            _, summary, _ = get(client, "/v1/partner/summary", keys[name])
            assert figures == {c: summary[c] for c in COLUMNS}
            assert figures["net_profit"] == figures["interest"] + figures["late_fee"]
    assert any(f["fee"] > 0 for f in printed.values())  # the old formula would have shown less
