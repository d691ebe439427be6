"""One PostgreSQL role per function group (migration 0600, chalicelib/database_grants.yaml):
every table is in the grant map, each role holds exactly the map's privileges, each can do what
its functions do and is refused the rest.

The local day (tests/integration, ``make demo``) runs every function connected as its own role;
these tests run each group's work in-process as that role, against a database migrated as in
production (``python -m chalicelib.db migrate``: migrations, then the grant map).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
import yaml

from chalicelib import database_roles, db, settings
from chalicelib.analytics.etl import run_etl
from chalicelib.database_roles import BY_NAME, GRANTS_PATH, load_grants, mentioned_tables
from chalicelib.disbursements.apply import apply_event
from chalicelib.disbursements.calendar_email import send_calendar_email
from chalicelib.disbursements.event import parse_event
from chalicelib.reminders.dispatch import MARK_BLASTED_SQL
from chalicelib.reminders.outcomes import SET_ROBOCALL_SUCCESS_SQL
from chalicelib.reminders.selection import iter_t3_payments
from chalicelib.stuck_disbursements.report import run_report
from chalicelib.stuck_disbursements.slack import SlackFiles
from chalicelib.zones import Zone
from localdev.aws.template_provisioning import with_user
from tests.analytics_orders import WIB, add_line
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import add_history, make_loan, make_partner

ROLES = sorted(BY_NAME)
_events = itertools.count(1)


@pytest.fixture
def as_role(pg_url: str) -> Iterator[Any]:
    opened: list[psycopg2.extensions.connection] = []

    def connect(role: str) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(with_user(pg_url, role))
        opened.append(conn)
        return conn

    yield connect
    for c in opened:
        c.close()


def _refused(conn: psycopg2.extensions.connection, statement: str, *args: Any) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
    except psycopg2.errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.rollback()
    return False


# --- the map ----------------------------------------------------------------------------------------


def test_every_table_and_view_is_in_the_grant_map(conn):
    """Fails when a migration adds a table the map does not mention: add it to
    chalicelib/database_grants.yaml under the roles whose functions use it (or under no_role)."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT LIKE 'pg\\_%'
              AND n.nspname <> 'information_schema'
        """)
        existing = {name for (name,) in cur.fetchall()}
    mentioned = mentioned_tables()
    assert sorted(existing - mentioned) == [], f"tables missing from {GRANTS_PATH.name}"
    assert sorted(mentioned - existing) == [], f"{GRANTS_PATH.name} names tables that do not exist"


def test_the_roles_are_created_by_the_migration_and_can_neither_create_nor_escalate(conn):
    with conn.cursor() as cur:
        cur.execute("""SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolinherit,
                              has_schema_privilege(rolname, 'public', 'CREATE')
                       FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1""", (ROLES,))
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ROLES
    assert all(r[1:] == (True, False, False, False, False, False, False) for r in rows), rows
    migration = (db.MIGRATIONS_DIR / "0600_function_roles.sql").read_text()
    assert all(f"'{role}'" in migration for role in ROLES)


def _privileges(conn: psycopg2.extensions.connection, role: str) -> set[tuple[str, str, str]]:
    """(schema.table, privilege, column or '') the role holds in this database, from the catalog."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT n.nspname || '.' || c.relname, a.privilege_type, ''
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
            WHERE a.grantee = %(role)s::regrole AND c.relkind <> 'S'
            UNION ALL
            SELECT n.nspname || '.' || c.relname, a.privilege_type, att.attname
            FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
                 aclexplode(att.attacl) a
            WHERE a.grantee = %(role)s::regrole
        """, {"role": role})
        return {(t, p, col) for t, p, col in cur.fetchall()}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_holds_exactly_the_maps_privileges(conn, role):
    wanted = set()
    for g in load_grants()[role]:
        table = g.table if "." in g.table else f"public.{g.table}"
        wanted |= {(table, g.privilege, c) for c in g.columns} if g.columns else {(table, g.privilege, "")}
    assert _privileges(conn, role) == wanted


def test_a_privilege_dropped_from_the_map_is_revoked_at_the_next_migrate(conn, tmp_path):
    grants = load_grants()
    grants["julo_report"] = [g for g in grants["julo_report"] if g.table != "feature_setting"]
    with db.transaction(conn):
        database_roles.apply_grants(conn, grants)
    assert not any(t == "public.feature_setting" for t, _p, _c in _privileges(conn, "julo_report"))
    with db.transaction(conn):
        database_roles.apply_grants(conn)  # the real map again
    assert ("public.feature_setting", "SELECT", "") in _privileges(conn, "julo_report")


def test_a_malformed_map_entry_is_a_clear_error(tmp_path):
    bad = tmp_path / "grants.yaml"
    bad.write_text(yaml.safe_dump({"julo_api": {"payment": ["UPSERT"]}}))
    with pytest.raises(ValueError, match=r"julo_api.payment: 'UPSERT' is not one of SELECT"):
        load_grants(bad)
    bad.write_text(yaml.safe_dump({"julo_everything": {"payment": ["SELECT"]}}))
    with pytest.raises(ValueError, match="julo_everything is not a function role"):
        load_grants(bad)


# --- each group's work, as its role --------------------------------------------------------------------


def test_julo_api_serves_every_route_and_writes_only_outcomes_and_audits(conn, pg_url, monkeypatch):
    make_partner(conn, 1, "Lendana P2P")
    loan = make_loan(conn, fullname="Budi", postcode="10110", due_dates=[date(2026, 11, 23)])
    conn.commit()
    partner, staff = partner_key(conn, 1), staff_key(conn)
    monkeypatch.setenv("DATABASE_URL", with_user(pg_url, "julo_api"))
    paths = {"/v1/partner/summary": partner, "/v1/partner/report": partner,
             "/v1/crm/applications": staff, "/v1/pn/blast-titles": staff, "/v1/pn/redirect-pages": staff,
             "/v1/analytics/rfm": staff, "/v1/analytics/cohorts": staff, "/v1/analytics/dashboard": staff}
    paths.update({"/v1/crm/contact-preferences?phone=081234567890": staff, "/v1/crm/contact-calendar?year=2026": staff,
                  f"/v1/crm/payments/{loan.payment_ids[0]}/contacts": staff})
    writes = [("PUT", "/v1/crm/contact-preferences?phone=081234567890", {"whatsapp": "opted_out", "reason": "CS-1"}),
              ("PUT", "/v1/crm/contact-calendar/2026-11-20", {"kind": "holiday", "name": "Contoh", "source": "Keppres",
                                                              "reason": "decree"}),
              ("DELETE", "/v1/crm/contact-calendar/2026-11-20?reason=mistake", None)]
    with api_client() as client:
        for path, key in paths.items():
            status, body, _headers = get(client, path, key)
            assert status == 200, (path, body)
        for method, path, payload in writes:  # the contact policy's staff routes, each change audited
            response = getattr(client.http, method.lower())(path, headers={
                "x-api-key": staff, "Content-Type": "application/json"}, body=json.dumps(payload) if payload else "")
            assert response.status_code == 200, (path, response.body)
    api = psycopg2.connect(with_user(pg_url, "julo_api"))
    try:
        payment_id = loan.payment_ids[0]
        with api.cursor() as cur:
            cur.execute(SET_ROBOCALL_SUCCESS_SQL, (payment_id,))  # a robocall outcome callback
        api.commit()
        assert _refused(api, "UPDATE payment SET due_amount = 0 WHERE payment_id = %s", payment_id)
        assert _refused(api, "SELECT due_amount FROM payment")
        assert _refused(api, "UPDATE loan SET loan_amount = 1")
        assert _refused(api, "SELECT * FROM disbursement_event")
        assert _refused(api, "DELETE FROM staff_read_audit")
        assert _refused(api, "UPDATE partner_api_key SET revoked_at = now()")
        assert _refused(api, "INSERT INTO partner_api_key (scope, key_prefix, key_hash) VALUES ('staff', 'x', 'y')")
    finally:
        api.close()
    with conn.cursor() as cur:
        cur.execute("SELECT is_success_robocall FROM payment WHERE payment_id = %s", (payment_id,))
        assert cur.fetchone() == (True,)
        cur.execute("SELECT count(*) FROM staff_read_audit")
        assert db.one(cur)[0] >= sum(key == staff for key in paths.values())  # each staff read, audited
        cur.execute("SELECT (SELECT count(*) FROM contact_preference_audit), "
                    "(SELECT count(*) FROM contact_calendar_audit)")
        assert cur.fetchone() == (1, 2)


def test_julo_reminders_selects_and_marks_and_nothing_else(conn, as_role):
    make_partner(conn, 1, "Lendana P2P")
    loan = make_loan(conn, fullname="Budi", postcode="10110", phone="081200000001", due_dates=[date(2026, 11, 23)])
    conn.commit()
    reminders = as_role("julo_reminders")
    selected = list(iter_t3_payments(reminders, Zone.WIB, date(2026, 11, 20)))
    assert [p.payment_id for p in selected] == loan.payment_ids
    with reminders.cursor() as cur:
        cur.execute(MARK_BLASTED_SQL, (loan.payment_ids,))
    reminders.commit()
    assert _refused(reminders, "UPDATE payment SET paid_amount = 1")
    assert _refused(reminders, "UPDATE payment SET is_success_robocall = TRUE")  # only a provider's callback does
    assert _refused(reminders, "SELECT * FROM partner_api_key")
    assert _refused(reminders, "SELECT * FROM disbursement")


class _Mailer:
    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def send_raw(self, message: bytes, sender: str, recipients: list[str]) -> str:
        self.sent.append(recipients)
        return f"msg-{len(self.sent)}"


def _event(disbursement_id: int, status: str, minute: int) -> Any:
    return parse_event(json.dumps({"event_id": f"evt-role-{next(_events)}", "disbursement_id": disbursement_id,
                                   "status": status,
                                   "occurred_at": datetime(2026, 11, 20, 3, minute, tzinfo=UTC).isoformat()}))


def test_julo_disbursements_applies_events_keeps_the_figures_and_sends_the_calendar(conn, as_role):
    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, due_dates=[date(2026, 12, 20)], disburse_status="INITIATED", application_status=170,
                     loan_status=210, email="budi@example.co.id")
    add_history(conn, loan.application_id, [100, 170])
    conn.commit()
    role = as_role("julo_disbursements")
    apply_event(role, _event(loan.disbursement_id, "PENDING", 1))
    apply_event(role, _event(loan.disbursement_id, "COMPLETED", 2))  # triggers keep the partner figures
    mailer = _Mailer()
    sent = send_calendar_email(role, loan.disbursement_id, mailer, "no-reply@julo.co.id",
                               datetime(2026, 11, 20, 3, 3, tzinfo=UTC))
    assert sent is not None and mailer.sent == [["budi@example.co.id"]]
    with conn.cursor() as cur:
        cur.execute("SELECT disburse_status FROM disbursement WHERE disbursement_id = %s", (loan.disbursement_id,))
        assert cur.fetchone() == ("COMPLETED",)
    assert _refused(role, "UPDATE payment SET due_amount = 0")
    assert _refused(role, "UPDATE loan SET loan_amount = 1")
    assert _refused(role, "SELECT * FROM partner_api_key")
    assert _refused(role, "DELETE FROM application_history")


def test_julo_report_reads_the_stuck_loans_and_records_its_post(conn, as_role, tmp_path, slack):
    from slack_sdk import WebClient

    make_partner(conn, 1, "Bukalapak", "marketplace")
    loan = make_loan(conn, disburse_status="INITIATED", application_status=170, loan_status=210)
    add_history(conn, loan.application_id, [100, 170])
    conn.commit()
    role = as_role("julo_report")
    result = run_report(role, date(2026, 11, 23), tmp_path,
                        SlackFiles(WebClient(token="xoxb-test", base_url=slack.api_url)))
    assert result.rows == 1 and result.slack == "posted"
    assert _refused(role, "UPDATE disbursement SET disburse_status = 'COMPLETED'")
    assert _refused(role, "SELECT * FROM payment")
    assert _refused(role, "SELECT * FROM partner_api_key")


def test_julo_analytics_runs_the_etl_and_reads_no_lending_data(conn, as_role):
    add_line(conn, order_id="O1", at=datetime(2026, 1, 10, 10, tzinfo=WIB), gmv=100_000, product="P1", barcode="b1")
    add_line(conn, order_id="O2", at=datetime(2026, 2, 10, 10, tzinfo=WIB), gmv=50_000, product="P2")
    conn.commit()
    role = as_role("julo_analytics")
    run_etl(role, datetime(2026, 3, 31, 18, 0, tzinfo=UTC), full=True)
    run_etl(role, datetime(2026, 4, 1, 18, 0, tzinfo=UTC))  # the daily incremental run
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM final_user_analysis")
        assert db.one(cur)[0] == 1
    assert _refused(role, "SELECT fullname FROM application")  # borrowers' data is not analytics'
    assert _refused(role, "UPDATE order_marketplace SET address_shipping_name = 'x'")
    assert _refused(role, "SELECT * FROM partner_api_key")


# --- each role's secret -------------------------------------------------------------------------------


def _scram_matches(verifier: str, password: str) -> bool:
    """RFC 5802 / RFC 7677: ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` is what
    PostgreSQL stores; the password matches when it derives both keys."""
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert m, "not a SCRAM-SHA-256 verifier"
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(m[2]), int(m[1]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (hashlib.sha256(client_key).digest() == base64.b64decode(m[3])
            and server_key == base64.b64decode(m[4]))


def test_provision_secrets_sets_each_password_as_a_scram_verifier_and_stores_rds_json(conn, aws):
    sm = settings.aws_clients().client("secretsmanager")
    arns = database_roles.provision_secrets(conn, sm, "julo-test/db", host="julo.xxxx.rds.amazonaws.com", port=5432,
                                           dbname="julo")
    assert set(arns) == {r.parameter for r in database_roles.ROLES}
    for role in database_roles.ROLES:
        secret = json.loads(sm.get_secret_value(SecretId=arns[role.parameter])["SecretString"])
        # the shape RDS's single-user rotation function reads and writes
        assert secret == {"engine": "postgres", "username": role.name, "password": secret["password"],
                          "host": "julo.xxxx.rds.amazonaws.com", "port": 5432, "dbname": "julo"}
        with conn.cursor() as cur:
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role.name,))
            (verifier,) = db.one(cur)
        conn.rollback()
        assert _scram_matches(verifier, secret["password"]) and secret["password"] not in verifier
        assert not _scram_matches(verifier, secret["password"] + "x")
    # again: a new password, the old one kept as the secret's AWSPREVIOUS version
    first = json.loads(sm.get_secret_value(SecretId=arns["ApiDatabaseSecretArn"])["SecretString"])["password"]
    database_roles.provision_secrets(conn, sm, "julo-test/db", host="h", port=5432, dbname="julo", roles=["julo_api"])
    previous = sm.get_secret_value(SecretId=arns["ApiDatabaseSecretArn"], VersionStage="AWSPREVIOUS")
    current = json.loads(sm.get_secret_value(SecretId=arns["ApiDatabaseSecretArn"])["SecretString"])
    assert json.loads(previous["SecretString"])["password"] == first != current["password"]
