"""The partner portal in a real headless browser (Debian's chromium driven by chromedriver).

A funder opens GET /v1/partner/portal served by the real app under ``chalice local``, enters its
key, and sees its summary (equal to the API's, in rupiah as Indonesians write it), the Report
View newest first with paging, date and status filters, CSV and .xlsx downloads of the filtered
rows (parsed here: the same rows as the API, formula-like text neutralised), and a clear message
for a wrong or expired key. The page's own Content-Security-Policy must not block anything it
needs (the browser's console is checked), and the key never reaches a URL, a cookie or
localStorage. Skipped, with one line, where no browser is installed (.ci/run installs one).
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import psycopg2
import pytest
import requests

from localdev.servers import ports
from tests.conftest import truncate_all
from tests.factories import add_repayment, make_loan, make_partner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    webdriver = None  # type: ignore[assignment]

BROWSER_SKIP = "browser tests skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
if not (CHROMIUM and CHROMEDRIVER and webdriver is not None):
    pytest.skip(BROWSER_SKIP, allow_module_level=True)

from chalicelib.repayment_split import Components  # noqa: E402
from chalicelib.statuses import APPLICATION_STATUS_LABELS_ID  # noqa: E402
from tests.api_support import local_server, partner_key  # noqa: E402

WAIT_S = 60
FORMULA_PURPOSE = '=HYPERLINK("http://evil.example/x","klik")'
ODD_PURPOSE = "Renovasi & <dapur> \x07 \u00e9"
WIDE_PURPOSE = "\uff1dcmd|' /C calc'!A0"  # a full-width "=": East-Asian Excel builds run it too
START = datetime(2026, 9, 1, 1, 30, tzinfo=UTC)
STATUSES = (170, 180, 181, 110)


def rupiah(n: int) -> str:
    return "Rp " + f"{n:,}".replace(",", ".")


def wib(iso: str) -> str:
    return (datetime.fromisoformat(iso) + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S")


# --- the served app and its book ----------------------------------------------------------------
@pytest.fixture(scope="module")
def portal(pg_url: str) -> Iterator[dict[str, Any]]:
    """Partner 2 with 57 applications over ~6 weeks (four statuses, repayments, one with a formula
    for a loan purpose), partner 3 with 4 that must never show; the app served on a free port."""
    from app import app

    conn = psycopg2.connect(pg_url)
    truncate_all(conn)
    make_partner(conn, 2, "Lendana P2P")
    make_partner(conn, 3, "Mitra Dana Sejahtera")
    for i in range(57):
        status = STATUSES[i % 4]
        loan = make_loan(conn, partner_id=2, cdate=START + timedelta(hours=17 * i),
                         loan_amount=10_000_000 + 1_250_000 * i, application_status=status,
                         fullname="Budi Wahyuni" if i % 3 else "Sari Tanjung",
                         due_dates=[date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)])
        if status in (180, 170) and i % 2 == 0:
            add_repayment(conn, loan, loan.payment_ids[0], 2, Components(300_000 + i, 45_000, 5_000 * (i % 3)))
        purpose = {50: FORMULA_PURPOSE, 49: ODD_PURPOSE, 48: WIDE_PURPOSE}.get(i, "Membeli elektronik")
        name = "@Attacker Jahat" if i == 50 else None
        with conn.cursor() as cur:
            cur.execute("UPDATE application SET loan_purpose = %s, credit_grade = %s, "
                        "fullname = COALESCE(%s, fullname) WHERE application_id = %s",
                        (purpose, "B-" if i % 5 else "C", name, loan.application_id))
    for i in range(4):
        make_loan(conn, partner_id=3, cdate=START + timedelta(days=i), loan_amount=9_999_000)
    conn.commit()
    key = partner_key(conn, 2)
    conn.close()
    port = ports.free_port()
    server = local_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{port}", "key": key, "pg_url": pg_url}
    server.shutdown()
    thread.join(timeout=10)


def api(portal: dict[str, Any], path: str, key: str | None = None, **params: Any) -> tuple[int, Any]:
    response = requests.get(f"{portal['base']}/v1/partner/{path}", params={k: v for k, v in params.items() if v},
                            headers={"x-api-key": key or portal["key"]}, timeout=30)
    return response.status_code, response.json()


def api_rows(portal: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        status, body = api(portal, "report", limit=500, cursor=cursor, **params)
        assert status == 200, body
        rows += body["rows"]
        cursor = body["next_cursor"]
        if not cursor:
            return rows


# --- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1440,1000", "--lang=id-ID",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield browser
    browser.quit()


@pytest.fixture
def page(driver: Any, portal: dict[str, Any]) -> Any:
    """The portal in a fresh tab state: nothing in sessionStorage, the key form shown."""
    driver.get(f"{portal['base']}/health")  # same origin, no portal script running
    driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear();")
    driver.get(f"{portal['base']}/v1/partner/portal")
    until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
    driver.get_log("browser")  # start each test with an empty console
    return driver


def until(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def sign_in(driver: Any, key: str) -> None:
    field = driver.find_element(By.ID, "api-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "login-button").click()


def idle(driver: Any) -> None:
    until(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("aria-busy") == "false")


def shown_rows(driver: Any) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#report-body tr")]


def shown_ids(driver: Any) -> list[int]:
    return [int(r[0]) for r in shown_rows(driver)]


def no_console_errors(driver: Any) -> None:
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe  # a CSP violation would be here


def signed_in(driver: Any, portal: dict[str, Any]) -> None:
    sign_in(driver, portal["key"])
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#report-body tr"))
    idle(driver)


# --- the tests ------------------------------------------------------------------------------------
def test_the_page_is_static_and_locked_down(portal):
    response = requests.get(f"{portal['base']}/v1/partner/portal", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "form-action 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    html = response.text
    assert portal["key"] not in html and "jk_" not in html.replace('placeholder="jk_', "")
    assert "9000000" not in html and "Lendana" not in html  # no application ids, no partner data
    assert "Proses pencairan" in html  # the status names are vocabulary, built in


def test_key_entry_shows_the_summary_equal_to_the_api_and_keeps_the_key_out_of_urls(page, portal):
    signed_in(page, portal)
    _, summary = api(portal, "summary")
    cards = {c.get_attribute("data-figure"): c.find_element(By.CLASS_NAME, "value").text
             for c in page.find_elements(By.CSS_SELECTOR, "#summary-cards .figure")}
    money = ("disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee", "net_profit")
    assert cards == {"loan_count": f"{summary['loan_count']:,}".replace(",", "."),
                     **{name: rupiah(summary[name]) for name in money}}
    assert summary["disbursement"] > 1_000_000_000 and cards["disbursement"].count(".") >= 3  # Rp 1.234.567.890
    assert summary["net_profit"] == summary["interest"] + summary["late_fee"] > 0
    assert "Mitra #2" in page.find_element(By.ID, "partner-label").text
    # the key: in this tab's sessionStorage only
    assert page.execute_script("return sessionStorage.getItem('julo.partnerPortal.apiKey')") == portal["key"]
    assert page.execute_script("return localStorage.length") == 0
    assert page.execute_script("return document.cookie") == ""
    assert portal["key"] not in page.current_url and page.current_url.endswith("/v1/partner/portal")
    urls = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and not any(portal["key"] in u or "api-key" in u for u in urls)
    # a reload keeps the session (the same tab), "Keluar" ends it
    page.refresh()
    until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#report-body tr"))
    page.find_element(By.ID, "logout").click()
    assert page.find_element(By.ID, "login").is_displayed()
    assert page.execute_script("return sessionStorage.length") == 0
    no_console_errors(page)


def test_report_view_newest_first_with_the_seeds_columns_and_paging(page, portal):
    signed_in(page, portal)
    headers = [th.text for th in page.find_elements(By.CSS_SELECTOR, "#report thead th")]
    assert [h.upper() for h in headers] == [h.upper() for h in (
        "ID", "Nama", "Tanggal", "Tujuan Pinjaman", "Skor", "Jumlah Pinjaman", "Tenor", "Status Pengajuan")]
    Select(page.find_element(By.ID, "limit")).select_by_value("25")
    page.find_element(By.ID, "apply").click()
    idle(page)
    every = api_rows(portal)  # newest first by default
    assert len(every) == 57
    seen: list[int] = []
    for number in range(3):
        rows = shown_rows(page)
        expected = every[25 * number: 25 * (number + 1)]
        assert [int(r[0]) for r in rows] == [e["application_xid"] for e in expected]
        first, want = rows[0], expected[0]
        assert first[1] == want["fullname"] and "*" in first[1]
        assert first[2] == wib(want["cdate"])
        assert first[5] == rupiah(want["loan_amount"]) and first[6] == f"{want['loan_duration']} bln"
        assert first[7] == APPLICATION_STATUS_LABELS_ID[want["status_code"]]
        seen += [int(r[0]) for r in rows]
        assert page.find_element(By.ID, "next").is_enabled() == (number < 2)
        if number < 2:
            page.find_element(By.ID, "next").click()
            idle(page)
    assert seen == [e["application_xid"] for e in every]
    stamps = [e["cdate"] for e in every]
    assert stamps == sorted(stamps, reverse=True)
    page.find_element(By.ID, "prev").click()
    idle(page)
    assert shown_ids(page) == [e["application_xid"] for e in every[25:50]]
    assert "Halaman 2" in page.find_element(By.ID, "page-info").text
    labels = {r[7] for r in shown_rows(page)}
    assert "Proses pencairan" in labels and not labels & {"Legal agreement signed", "Fund disbursal failed"}
    no_console_errors(page)


def _set_filters(page: Any, start: str, end: str, status: str, order: str, limit: str = "100") -> None:
    for field, value in (("from", start), ("to", end)):
        page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, field), value)
    Select(page.find_element(By.ID, "status")).select_by_value(status)
    Select(page.find_element(By.ID, "order")).select_by_value(order)
    Select(page.find_element(By.ID, "limit")).select_by_value(limit)
    page.find_element(By.ID, "apply").click()
    idle(page)


def test_date_and_status_filters_show_what_the_api_gives(page, portal):
    signed_in(page, portal)
    _set_filters(page, "2026-09-10", "2026-10-10", "170", "oldest")
    expected = api_rows(portal, **{"from": "2026-09-10", "to": "2026-10-10", "status": 170, "order": "oldest"})
    assert expected and shown_ids(page) == [e["application_xid"] for e in expected]
    assert {r[7] for r in shown_rows(page)} == {"Proses pencairan"}
    assert all("2026-09-10" <= r[2][:10] <= "2026-10-10" for r in shown_rows(page))
    _set_filters(page, "2026-12-01", "2026-12-31", "", "newest")
    assert page.find_element(By.CSS_SELECTOR, "#report-body td.empty").text.startswith("Tidak ada pengajuan")
    _set_filters(page, "2026-10-10", "2026-09-10", "", "newest")  # the wrong way round: said, not sent
    assert "Tanggal awal" in page.find_element(By.ID, "message").text
    no_console_errors(page)


def _wait_for_download(folder: Path, suffix: str, before: set[Path]) -> Path:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p not in before]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} download in {folder}: {list(folder.iterdir())}")


def test_csv_and_xlsx_downloads_hold_the_filtered_rows(page, portal, downloads):
    signed_in(page, portal)
    _set_filters(page, "2026-09-05", "2026-11-30", "", "newest", limit="25")
    expected = api_rows(portal, **{"from": "2026-09-05", "to": "2026-11-30", "order": "newest"})
    assert 25 < len(expected) < 57  # more than the page shown, fewer than the whole book
    figures = ("disbursement", "outstanding", "repayment", "principal", "interest", "late_fee", "fee", "net_profit")
    columns = ("Pencairan", "Outstanding", "Pengembalian", "Pokok", "Bunga", "Denda", "Biaya Platform",
               "Keuntungan Bersih")

    before = set(downloads.iterdir())
    page.find_element(By.ID, "download-csv").click()
    path = _wait_for_download(downloads, ".csv", before)
    assert path.name.startswith("laporan-mitra-2-")
    parsed = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [int(r["ID"]) for r in parsed] == [e["application_xid"] for e in expected]
    for got, want in zip(parsed, expected, strict=True):
        assert [int(got[c]) for c in columns] == [want[f] for f in figures]
        assert got["Status Pengajuan"] == APPLICATION_STATUS_LABELS_ID[want["status_code"]]
        assert got["Tanggal (WIB)"] == wib(want["cdate"])
    by_id = {int(r["ID"]): r for r in parsed}
    attacker = next(e for e in expected if e["loan_purpose"] == FORMULA_PURPOSE)
    assert by_id[attacker["application_xid"]]["Tujuan Pinjaman"] == "'" + FORMULA_PURPOSE
    assert by_id[attacker["application_xid"]]["Nama"] == "'@**** Ja****"
    wide = next(e for e in expected if e["loan_purpose"] == WIDE_PURPOSE)
    assert by_id[wide["application_xid"]]["Tujuan Pinjaman"] == "'" + WIDE_PURPOSE
    assert not any(v.startswith(("=", "+", "-", "@")) for r in parsed for v in r.values())

    before = set(downloads.iterdir())
    page.find_element(By.ID, "download-xlsx").click()
    path = _wait_for_download(downloads, ".xlsx", before)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every member's CRC checks
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "Laporan"
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:9] == ("ID", "Nama", "Email", "Tanggal (WIB)", "Tujuan Pinjaman", "Skor", "Jumlah Pinjaman",
                          "Tenor (bulan)", "Status Pengajuan")
    index = {name: i for i, name in enumerate(header)}
    assert [r[0] for r in rows[1:]] == [e["application_xid"] for e in expected]
    for got, want in zip(rows[1:], expected, strict=True):
        assert [got[index[c]] for c in columns] == [want[f] for f in figures]
        assert got[index["Jumlah Pinjaman"]] == want["loan_amount"]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)  # nothing is a formula
    for text in (FORMULA_PURPOSE, WIDE_PURPOSE, "@**** Ja****"):
        cell = next(c for c in cells if c.value == text)
        assert cell.data_type == "s" and cell.quotePrefix, text  # shown as typed, kept as text
    assert not next(c for c in cells if c.value == "Membeli elektronik").quotePrefix
    odd = next(e for e in expected if e["loan_purpose"] == ODD_PURPOSE)
    odd_row = next(r for r in rows if r[0] == odd["application_xid"])
    assert odd_row[index["Tujuan Pinjaman"]] == "Renovasi & <dapur>  \u00e9"  # the control character dropped
    money = next(c for c in cells if c.column == index["Pencairan"] + 1 and c.row > 1)
    assert money.number_format == '"Rp "#,##0'
    no_console_errors(page)


def test_a_wrong_key_gets_a_clear_message_and_is_not_kept(page, portal):
    sign_in(page, "jk_" + "x" * 43)
    until(page, lambda d: d.find_element(By.ID, "message").is_displayed())
    assert "Kunci API tidak dikenali" in page.find_element(By.ID, "message").text
    assert page.find_element(By.ID, "login").is_displayed() and not page.find_element(By.ID, "app").is_displayed()
    assert page.execute_script("return sessionStorage.length") == 0


def test_an_expired_key_gets_a_clear_message_at_entry_and_mid_session(page, portal):
    conn = psycopg2.connect(portal["pg_url"])
    second = partner_key(conn, 2)
    with conn.cursor() as cur:
        cur.execute("UPDATE partner_api_key SET expires_at = now() - interval '1 minute' "
                    "WHERE key_prefix = %s", (second[:11],))
    conn.commit()
    sign_in(page, second)
    until(page, lambda d: d.find_element(By.ID, "message").is_displayed())
    assert "kedaluwarsa" in page.find_element(By.ID, "message").text
    assert page.execute_script("return sessionStorage.length") == 0
    # a key that expires while the funder is on the page
    third = partner_key(conn, 2)
    sign_in(page, third)
    until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#report-body tr"))
    idle(page)
    with conn.cursor() as cur:
        cur.execute("UPDATE partner_api_key SET expires_at = now() - interval '1 minute' WHERE key_prefix = %s",
                    (third[:11],))
    conn.commit()
    conn.close()
    page.find_element(By.ID, "next").click()
    until(page, lambda d: d.find_element(By.ID, "login").is_displayed())
    assert "kedaluwarsa" in page.find_element(By.ID, "message").text
    assert page.find_element(By.ID, "report-body").text == ""  # the data is gone from the page


def test_the_portal_waits_out_a_429_instead_of_failing(page, portal, monkeypatch):
    """Over the partner's rate the page waits the Retry-After it was given and carries on."""
    signed_in(page, portal)
    monkeypatch.setenv("PARTNER_RATE_LIMIT_PER_SECOND", "0.2")  # the next request is due 5 s later
    monkeypatch.setenv("PARTNER_RATE_LIMIT_BURST", "1")
    conn = psycopg2.connect(portal["pg_url"])
    with conn.cursor() as cur:
        cur.execute("DELETE FROM partner_rate_limit")
    conn.commit()
    conn.close()
    expected = api_rows(portal)[:50]  # spends the one request the burst allows
    page.find_element(By.ID, "reset").click()
    until(page, lambda d: "Batas permintaan" in d.find_element(By.ID, "message").text)
    idle(page)
    assert shown_ids(page) == [e["application_xid"] for e in expected]
    assert not page.find_element(By.ID, "message").is_displayed()
