"""python -m chalicelib.partners create-key / revoke-key: the key is printed once, only its hash is stored."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from tests.api_support import api_client, get
from tests.factories import make_partner


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chalicelib.partners", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


def test_create_key_prints_a_working_key_and_stores_only_its_hash(conn):
    make_partner(conn, 3, "Mitra Dana Sejahtera")
    conn.commit()
    partner = _cli("create-key", "--partner", "3")
    staff = _cli("create-key", "--staff", "--owner", "Ayu Lestari <ayu@julo.co.id>")
    assert partner.returncode == 0 and staff.returncode == 0, partner.stderr + staff.stderr
    partner_key, staff_key = partner.stdout.strip(), staff.stdout.strip()
    assert partner_key != staff_key and len(partner_key) >= 40
    with conn.cursor() as cur:
        cur.execute("SELECT scope, partner_id, key_hash, key_prefix FROM partner_api_key ORDER BY api_key_id")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM partner_api_key WHERE key_hash = %s OR key_prefix = %s OR "
                    "key_hash LIKE %s", (partner_key, partner_key, f"%{partner_key[11:]}%"))
        assert cur.fetchone()[0] == 0  # the plain key is nowhere in the table
    conn.commit()
    assert rows[0][:3] == ("partner", 3, hashlib.sha256(partner_key.encode()).hexdigest())
    assert rows[1][:2] == ("staff", None)
    with api_client() as client:
        assert get(client, "/v1/partner/summary", partner_key)[1]["partner_id"] == 3
        assert get(client, "/v1/pn/blast-titles", staff_key)[0] == 200
    revoked = _cli("revoke-key", partner_key[:11])
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    with api_client() as client:
        assert get(client, "/v1/partner/summary", partner_key)[0] == 401


def test_unknown_partner_is_a_clear_error(conn):
    result = _cli("create-key", "--partner", "999")
    assert result.returncode == 2
    assert "no partner with id 999" in result.stderr
    assert result.stdout == ""


def test_partner_and_staff_are_exclusive(conn):
    result = _cli("create-key", "--partner", "1", "--staff")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
