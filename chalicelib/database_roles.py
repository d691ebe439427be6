"""One PostgreSQL role per function group, each with only the grants it needs and its own secret.

    python -m chalicelib.database_roles show                      # the grant map, as applied
    python -m chalicelib.database_roles provision-secrets --prefix julo/db [--host H] [--port P]

The roles (created by migration ``0600_function_roles.sql``):

    julo_api            the HTTP API: partner views, CRM, analytics, key lookups, callback outcomes
    julo_reminders      reminder-stage, the three dispatch functions, contact-history-purge
    julo_disbursements  disbursement-events, email-outbox and its sweeper
    julo_report         stuck-disbursement-report
    julo_analytics      analytics-etl

What each may do is ``chalicelib/database_grants.yaml`` (the grant map). ``python -m
chalicelib.db migrate`` applies it after the migrations, every time: each role's table and
sequence privileges in the database are revoked and granted again from the map (a table
dropped from a role loses its grant), plus ``USAGE`` on the sequences of the tables it may
insert into. Every table and view of the schema must be in the map, under its roles or under
``no_role`` with the reason (``tests/functional/test_database_roles.py`` fails otherwise).

``provision-secrets`` (deploy, once, then whenever a password is to be replaced by hand) gives
each role a random password -- sent as a SCRAM-SHA-256 verifier computed here, so the password
never reaches the server or its logs -- and stores RDS's JSON secret shape (``engine``,
``username``, ``password``, ``host``, ``port``, ``dbname``) in Secrets Manager under
``<prefix>/<role>``: the shape RDS's single-user rotation function rotates. It prints each ARN
as the template parameter it feeds.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2.extensions
import yaml
from psycopg2 import sql

GRANTS_PATH = Path(__file__).with_name("database_grants.yaml")
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
NO_ROLE = "no_role"
PRIVILEGE = re.compile(r"^(SELECT|INSERT|UPDATE|DELETE|TRUNCATE)(?:\s*\(([a-z0-9_,\s]+)\))?$")


@dataclass(frozen=True)
class DatabaseRole:
    """A function group's PostgreSQL role and the secret (template parameter) that holds its login."""

    name: str
    group: str  # the secret group in chalicelib/settings.py
    parameter: str
    functions: str


ROLES: tuple[DatabaseRole, ...] = (
    DatabaseRole("julo_api", "database-api", "ApiDatabaseSecretArn",
                 "the HTTP API: partner views, CRM, analytics, key lookups, callback outcomes"),
    DatabaseRole("julo_reminders", "database-reminders", "RemindersDatabaseSecretArn",
                 "reminder-stage, reminder-dispatch-robocall, -whatsapp, -sms, contact-history-purge"),
    DatabaseRole("julo_disbursements", "database-disbursements", "DisbursementsDatabaseSecretArn",
                 "disbursement-events, email-outbox, email-outbox-sweeper"),
    DatabaseRole("julo_report", "database-report", "ReportDatabaseSecretArn", "stuck-disbursement-report"),
    DatabaseRole("julo_analytics", "database-analytics", "AnalyticsDatabaseSecretArn", "analytics-etl"),
)
BY_NAME = {r.name: r for r in ROLES}


@dataclass(frozen=True)
class Grant:
    table: str  # "schema.table" or "table" (public)
    privilege: str
    columns: tuple[str, ...] = ()

    @property
    def schema_and_table(self) -> tuple[str, str]:
        schema, _, table = self.table.rpartition(".")
        return schema or "public", table


def load_grants(path: Path = GRANTS_PATH) -> dict[str, list[Grant]]:
    """Role -> its grants, from the map (``ValueError`` naming the line's table for a malformed entry)."""
    raw = yaml.safe_load(path.read_text()) or {}
    out: dict[str, list[Grant]] = {}
    for role, tables in raw.items():
        if role == NO_ROLE:
            continue
        if role not in BY_NAME:
            raise ValueError(f"{path.name}: {role} is not a function role ({', '.join(BY_NAME)})")
        grants: list[Grant] = []
        for table, privileges in (tables or {}).items():
            for text in privileges or []:
                m = PRIVILEGE.match(str(text).strip())
                if not m:
                    raise ValueError(f"{path.name}: {role}.{table}: {text!r} is not one of {', '.join(PRIVILEGES)} "
                                     "(optionally with a column list)")
                columns = tuple(c.strip() for c in (m.group(2) or "").split(",") if c.strip())
                grants.append(Grant(str(table), m.group(1), columns))
        out[role] = grants
    return out


def unowned_tables(path: Path = GRANTS_PATH) -> dict[str, str]:
    """Tables no function role uses, with the reason."""
    raw = yaml.safe_load(path.read_text()) or {}
    return {str(k): str(v) for k, v in (raw.get(NO_ROLE) or {}).items()}


def mentioned_tables(path: Path = GRANTS_PATH) -> set[str]:
    names = {g.table for grants in load_grants(path).values() for g in grants} | set(unowned_tables(path))
    return {n if "." in n else f"public.{n}" for n in names}


def _sequences_of(cur: psycopg2.extensions.cursor, schema: str, table: str) -> list[tuple[str, str]]:
    """The sequences feeding ``table``'s serial / identity columns."""
    cur.execute("""
        SELECT sn.nspname, s.relname
        FROM pg_class t
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        JOIN pg_depend d ON d.refobjid = t.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_namespace sn ON sn.oid = s.relnamespace
        WHERE tn.nspname = %s AND t.relname = %s
    """, (schema, table))
    return [(str(a), str(b)) for a, b in cur.fetchall()]


def _exists(cur: psycopg2.extensions.cursor, schema: str, table: str, columns: tuple[str, ...]) -> bool:
    cur.execute("""
        SELECT count(*) FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
          AND (cardinality(%s::text[]) = 0 OR a.attname = ANY(%s::text[]))
    """, (schema, table, list(columns), list(columns)))
    row = cur.fetchone()
    found = int(row[0]) if row else 0
    return found > 0 and (not columns or found == len(set(columns)))


def _schemas(cur: psycopg2.extensions.cursor) -> list[str]:
    cur.execute("""SELECT nspname FROM pg_namespace
                   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1""")
    return [str(n) for (n,) in cur.fetchall()]


def apply_grants(conn: psycopg2.extensions.connection, grants: Mapping[str, list[Grant]] | None = None) -> int:
    """Make each role's privileges in this database exactly the map's (not committed); returns how many
    grants were given. Roles that do not exist (a server where migration 0600 has not run) and tables or
    columns a partly migrated database lacks yet are skipped (tests/functional/test_database_roles.py
    checks that the fully migrated schema has every one)."""
    grants = load_grants() if grants is None else grants
    given = 0
    with conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(grants),))
        existing = {r for (r,) in cur.fetchall()}
        schemas = _schemas(cur)
        for role, role_grants in grants.items():
            if role not in existing:
                continue
            who = sql.Identifier(role)
            _revoke_all(cur, who, schemas)
            for schema in sorted({g.schema_and_table[0] for g in role_grants} - {"public"}):
                cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), who))
            given += sum(_grant(cur, who, g) for g in role_grants)
    return given


def _revoke_all(cur: psycopg2.extensions.cursor, who: sql.Identifier, schemas: list[str]) -> None:
    for schema in schemas:
        s = sql.Identifier(schema)
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, who))
        cur.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, who))
        if schema != "public":
            cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, who))


def _grant(cur: psycopg2.extensions.cursor, who: sql.Identifier, g: Grant) -> bool:
    """One grant of the map (with its sequences for an INSERT); False when its table or columns are missing."""
    schema, table = g.schema_and_table
    if not _exists(cur, schema, table, g.columns):
        return False  # a database migrated part of the way (tests); the full schema has it
    target = sql.Identifier(schema, table)
    if g.columns:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in g.columns)
        cur.execute(sql.SQL("GRANT {} ({}) ON {} TO {}").format(sql.SQL(g.privilege), cols, target, who))
    else:
        cur.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(g.privilege), target, who))
    if g.privilege == "INSERT":
        for seq_schema, seq in _sequences_of(cur, schema, table):
            cur.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(seq_schema, seq), who))
    return True


# --- the roles' secrets ------------------------------------------------------------------------------


def new_password() -> str:
    return secrets.token_urlsafe(32)


def set_password(conn: psycopg2.extensions.connection, role: str, password: str) -> None:
    """``ALTER ROLE … PASSWORD`` with a SCRAM-SHA-256 verifier computed by libpq: the clear password
    never reaches the server (nor ``log_statement`` logs)."""
    verifier = psycopg2.extensions.encrypt_password(password, role, conn, "scram-sha-256")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def rds_secret(role: str, password: str, host: str, port: int, dbname: str) -> str:
    """RDS's secret JSON (what its single-user rotation function reads and writes)."""
    return json.dumps({"engine": "postgres", "username": role, "password": password, "host": host, "port": port,
                       "dbname": dbname})


def put_secret(client: Any, name: str, value: str) -> str:
    """Create ``name`` or store ``value`` as its new current version; its ARN."""
    try:
        return str(client.create_secret(Name=name, SecretString=value,
                                        Description="julo-reminders PostgreSQL login of one function group")["ARN"])
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)
        return str(client.describe_secret(SecretId=name)["ARN"])


def provision_secrets(conn: psycopg2.extensions.connection, client: Any, prefix: str, *, host: str, port: int,
                      dbname: str, roles: Iterable[str] | None = None) -> dict[str, str]:
    """A new password for each role, stored in its secret; template parameter -> secret ARN."""
    out: dict[str, str] = {}
    for name in roles or BY_NAME:
        role = BY_NAME[name]
        password = new_password()
        set_password(conn, role.name, password)
        conn.commit()
        out[role.parameter] = put_secret(client, f"{prefix.rstrip('/')}/{role.name}",
                                         rds_secret(role.name, password, host, port, dbname))
    return out


def main(argv: list[str] | None = None, *, connect: Callable[[], psycopg2.extensions.connection],
         secrets: Callable[[], Any]) -> int:
    """The command line: ``connect`` opens the database (``DATABASE_URL``'s), ``secrets`` gives a
    Secrets Manager client (the configured endpoint's)."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.database_roles")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="print each role's grants from the map")
    provision = commands.add_parser("provision-secrets", help="new passwords, stored in Secrets Manager")
    provision.add_argument("--prefix", required=True, help="secret names: <prefix>/<role>")
    provision.add_argument("--host", help="the host the functions connect to (default: DATABASE_URL's)")
    provision.add_argument("--port", type=int, help="the port the functions connect to (default: DATABASE_URL's)")
    provision.add_argument("--role", action="append", choices=list(BY_NAME), help="only these roles (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "show":
        for role, grants in load_grants().items():
            print(f"{role} ({BY_NAME[role].functions}):")
            for g in grants:
                print(f"  {g.privilege}{'(' + ', '.join(g.columns) + ')' if g.columns else ''} ON {g.table}")
        return 0
    conn = connect()
    try:
        params = conn.get_dsn_parameters()
        host = args.host or params.get("host", "")
        port = args.port or int(params.get("port") or 5432)
        arns = provision_secrets(conn, secrets(), args.prefix, host=host, port=port, dbname=params["dbname"],
                                 roles=args.role)
    finally:
        conn.close()
    for parameter, arn in arns.items():
        print(json.dumps({"ParameterKey": parameter, "ParameterValue": arn}))
    return 0


if __name__ == "__main__":  # run as a program this module is __main__: these imports close no cycle
    from chalicelib import db, settings

    sys.exit(main(connect=db.connect, secrets=lambda: settings.aws_clients().client("secretsmanager")))
