"""``make api``: serve the HTTP API with ``chalice local`` on 127.0.0.1:8000 against the demo database.

Run inside ``localdev.services`` (PostgreSQL up and migrated). Loads the demo book first when the
database has no partners (``DEMO_LOANS``, default 20000; ``DEMO_SEED``), creates a key for the
first partner, prints a working ``curl`` line, then runs ``chalice local`` until interrupted.
Settings: ``API_HOST`` (127.0.0.1), ``API_PORT`` (8000). The provider webhook settings are taken
from the environment as they are (``PROVIDER_SETTINGS``: Vonage signature secret, WhatsApp app
secret and verify token, the callback reference key, …); without them the callback routes refuse
every webhook.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2.extensions

from chalicelib import db
from chalicelib.business_date import default_demo_date
from chalicelib.partners.keys import create_partner_key, create_staff_key, list_keys, revoke_key
from localdev.datagen.lending import load
from localdev.servers import ports

ROOT = Path(__file__).resolve().parents[2]
API_ACTOR = "make api"
PROVIDER_SETTINGS = ("VONAGE_APPLICATION_ID", "VONAGE_PRIVATE_KEY", "VONAGE_SIGNATURE_SECRET",
                     "VONAGE_SIGNATURE_METHOD", "VONAGE_API_KEY", "VONAGE_API_SECRET", "WHATSAPP_API_TOKEN",
                     "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                     "CALLBACK_REFERENCE_KEY")


def _ensure_demo_data(conn: psycopg2.extensions.connection) -> tuple[int, str]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT partner_id, name FROM partner ORDER BY partner_id LIMIT 1")
        first = cur.fetchone()
    if first is None:
        loans = int(os.environ.get("DEMO_LOANS", "20000"))
        print(f"no partners in the database: loading the demo book ({loans:,} loans)...", flush=True)
        load(conn, loans, int(os.environ.get("DEMO_SEED", "7")), default_demo_date())
        return _ensure_demo_data(conn)
    return first


def main() -> int:
    host = os.environ.get("API_HOST", "127.0.0.1")
    port = os.environ.get("API_PORT", "8000")
    ports.ensure_free("make api", int(port), "API_PORT")
    conn = db.connect()
    try:
        partner_id, name = _ensure_demo_data(conn)
        # a partner holds at most two live keys: this run's key replaces the previous run's
        for old in list_keys(conn, partner_id=partner_id):
            if old.created_by == API_ACTOR:
                revoke_key(conn, old.key_prefix, actor=API_ACTOR)
        key = create_partner_key(conn, partner_id, actor=API_ACTOR)
        staff = create_staff_key(conn, owner=f"{getpass.getuser()} (make api)", actor=API_ACTOR)
    finally:
        conn.close()
    chalice = shutil.which("chalice", path=str(Path(sys.executable).parent)) or "chalice"
    base = f"http://{host}:{port}"
    print(f"\nPartner API on {base} (database {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}); "
          f"keys: {name} (partner {partner_id}) and a staff key. Try:\n")
    print(f"  curl -s -H 'x-api-key: {key}' {base}/v1/partner/summary\n")
    print(f"  curl -s -H 'x-api-key: {key}' -H 'Accept: text/csv' '{base}/v1/partner/report?limit=5'")
    print(f"  curl -s -H 'x-api-key: {staff}' '{base}/v1/crm/applications?partner_id=1&limit=3'\n")
    print(f"Partner portal (paste the partner key above): {base}/v1/partner/portal\n", flush=True)
    given = [name for name in PROVIDER_SETTINGS if os.environ.get(name)]
    print(f"provider settings from the environment: {', '.join(given) or 'none'}", flush=True)
    try:
        return subprocess.run([chalice, "local", "--host", host, "--port", port, "--no-autoreload"],
                              cwd=ROOT, env=dict(os.environ)).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
