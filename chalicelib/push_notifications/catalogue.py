"""The push-notification catalogue (tables ``pn_blast_title`` and ``pn_redirect_page``, migration 0201)."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions

ACTIVE_BLAST_TITLES = """
SELECT title, description FROM pn_blast_title WHERE is_active ORDER BY sort_order, title
"""
ACTIVE_REDIRECT_PAGES = """
SELECT page, label FROM pn_redirect_page WHERE is_active ORDER BY sort_order, page
"""


def blast_titles(conn: psycopg2.extensions.connection) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(ACTIVE_BLAST_TITLES)
        return [{"title": title, "description": description} for title, description in cur.fetchall()]


def redirect_pages(conn: psycopg2.extensions.connection) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(ACTIVE_REDIRECT_PAGES)
        return [{"page": page, "label": label} for page, label in cur.fetchall()]
