"""The demo step writes working keys for every demo partner and staff to api_keys.json."""

from __future__ import annotations

import json
from datetime import date

from localdev.datagen.lending import PARTNERS, load
from localdev.demo import DemoContext
from localdev.demo_partner_api import KEYS_FILE, step_partner_api
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
    assert "Bukalapak" in capsys.readouterr().out
