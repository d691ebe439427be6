"""The partner portal page (GET /v1/partner/portal): static HTML, CSS and JavaScript, no data and no key.

The page asks for the funder's API key, keeps it in the tab's ``sessionStorage`` only (never in
a URL, a cookie or ``localStorage``), and calls the same JSON routes as any client
(``summary``, ``report`` next to it). The three files in ``portal/`` are put together once, at
import: the Indonesian status names come from ``chalicelib.statuses`` and the characters that make
a spreadsheet cell a formula from ``chalicelib.csv_cells`` (the downloads neutralise them as the
API's CSV does); the inline script and style are allowed by their SHA-256 in the page's
Content-Security-Policy, which allows nothing else (no other script, no inline handler, no frame,
no form target, requests to this origin only).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from chalicelib.csv_cells import FORMULA_START
from chalicelib.statuses import APPLICATION_STATUS_LABELS_ID

PORTAL_DIR = Path(__file__).with_name("portal")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _build() -> tuple[str, str]:
    labels = {str(int(code)): label for code, label in sorted(APPLICATION_STATUS_LABELS_ID.items())}
    script = (PORTAL_DIR / "portal.js").read_text()
    for marker, value in (("/*STATUS_LABELS*/", labels), ("/*FORMULA_START*/", list(FORMULA_START))):
        if script.count(marker) != 1:
            raise RuntimeError(f"portal: {marker} must appear once in portal.js")
        script = script.replace(marker, json.dumps(value))
    style = (PORTAL_DIR / "portal.css").read_text()
    page = (PORTAL_DIR / "portal.html").read_text()
    for marker, source, tag in (("/*SCRIPT*/", script, "script"), ("/*STYLE*/", style, "style")):
        # the HTML parser ends the element at the first "</script" / "</style", whatever the JS means
        if page.count(marker) != 1 or f"</{tag}" in source.lower() or "<!--" in source:
            raise RuntimeError(f"portal: {marker} must appear once and its source must not end the <{tag}>")
        page = page.replace(marker, source)
    policy = "; ".join((
        "default-src 'none'",
        f"script-src {_csp_hash(script)}",
        f"style-src {_csp_hash(style)}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))
    return page, policy


PAGE, CONTENT_SECURITY_POLICY = _build()
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
