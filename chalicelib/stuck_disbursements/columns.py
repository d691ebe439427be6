"""The report's possible columns and the feature setting that picks them.

The setting is the ``feature_setting`` row ``stuck_disbursement_report``:
``{"channel": "<Slack channel ID>", "columns": ["application_id", ...], "post_all_clear": false,
"show_full_names": false}``. A missing row or key falls back to the defaults; an unknown column
name is an error that names it.

- ``post_all_clear``: on a day with no stuck application, post one "all clear" line (default:
  post nothing, as the source report stops when there is no history).
- ``show_full_names``: borrower names, emails and phone numbers in full, for a restricted ops
  channel (default: masked as in the partner report, ``Budi Wahyuni`` -> ``B**** Wa****``,
  ``081234567890`` -> ``0812****90``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg2.extensions

FEATURE_NAME = "stuck_disbursement_report"


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind


CATALOGUE: dict[str, Column] = {c.key: c for c in (
    Column("disbursement_id", "Disbursement ID", Kind.INTEGER),
    Column("application_id", "Application ID", Kind.INTEGER),
    Column("application_xid", "Application XID", Kind.INTEGER),
    Column("loan_id", "Loan ID", Kind.INTEGER),
    Column("fullname", "Full name", Kind.TEXT),
    Column("email", "Email", Kind.TEXT),
    Column("mobile_phone_1", "Phone", Kind.TEXT),
    Column("partner_name", "Partner", Kind.TEXT),
    Column("product_line", "Product line", Kind.TEXT),
    Column("bank_name", "Bank", Kind.TEXT),
    Column("bank_code", "Bank code", Kind.TEXT),
    Column("application_status", "Application status", Kind.INTEGER),
    Column("reached_at", "Stuck since (WIB)", Kind.DATETIME),
    Column("days_stuck", "Days stuck", Kind.INTEGER),
    Column("loan_amount", "Loan amount", Kind.MONEY),
    Column("disburse_amount", "Disburse amount", Kind.MONEY),
    Column("retry_times", "Retries", Kind.INTEGER),
)}

DEFAULT_COLUMNS: tuple[str, ...] = (
    "application_id", "application_xid", "fullname", "product_line", "bank_name", "application_status",
    "reached_at", "days_stuck", "loan_amount", "disburse_amount", "retry_times", "disbursement_id",
)
DEFAULT_CHANNEL = "C0DISBURSEOPS"

SELECT_SETTING = "SELECT is_active, parameters FROM feature_setting WHERE feature_name = %s"


class SettingError(ValueError):
    pass


@dataclass(frozen=True)
class ReportSettings:
    active: bool
    channel: str
    columns: tuple[Column, ...]
    post_all_clear: bool = False
    show_full_names: bool = False


def _flag(parameters: dict[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise SettingError(f"{FEATURE_NAME}.{key} must be true or false, got {json.dumps(value)}")
    return value


def parse_settings(active: bool, parameters: dict[str, Any]) -> ReportSettings:
    keys = parameters.get("columns") or list(DEFAULT_COLUMNS)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise SettingError(f"{FEATURE_NAME}.columns must be a list of column names, got {json.dumps(keys)}")
    unknown = [k for k in keys if k not in CATALOGUE]
    if unknown:
        raise SettingError(f"{FEATURE_NAME}.columns has unknown column(s) {unknown}; known: {sorted(CATALOGUE)}")
    if len(set(keys)) != len(keys):
        raise SettingError(f"{FEATURE_NAME}.columns lists a column twice: {keys}")
    channel = parameters.get("channel") or DEFAULT_CHANNEL
    return ReportSettings(active=active, channel=str(channel), columns=tuple(CATALOGUE[k] for k in keys),
                          post_all_clear=_flag(parameters, "post_all_clear"),
                          show_full_names=_flag(parameters, "show_full_names"))


def load_settings(conn: psycopg2.extensions.connection) -> ReportSettings:
    with conn.cursor() as cur:
        cur.execute(SELECT_SETTING, (FEATURE_NAME,))
        row = cur.fetchone()
    conn.commit()
    if row is None:
        return parse_settings(True, {})
    return parse_settings(bool(row[0]), row[1] or {})
