"""Borrower PII is masked for funders: no full name or email ever appears in a default response
(and phone numbers, where a staff file shows them, keep only the operator prefix and two digits)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.partners.masking import mask_email, mask_name, mask_phone
from chalicelib.statuses import APPLICATION_STATUS_LABELS
from tests.api_support import api_client, get, partner_key
from tests.factories import make_loan, make_partner

# names as people write them: letters (any script), apostrophes and hyphens, 1-4 words
word = st.text(st.characters(categories=["L"], include_characters="'-"), min_size=1, max_size=14)
names = st.lists(word, min_size=1, max_size=4).map(" ".join)


def _string_values(value: Any) -> list[str]:
    """Every string value in a JSON document (keys are field names, not borrower data)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _string_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _string_values(v)]
    return []


def _csv_fields(text: str) -> list[str]:
    """Every field of the CSV's data rows: the header names columns (``application_xid`` contains "app")."""
    rows = list(csv.reader(io.StringIO(text)))
    return [field for row in rows[1:] for field in row]


def test_examples_from_the_spec():
    assert mask_name("Budi Wahyuni") == "B**** Wa****"
    assert mask_email("johndoe@gmail.com") == "j***@gmail.com"
    assert mask_name(None) is None and mask_email(None) is None


@given(names)
def test_masked_name_never_shows_the_name_or_a_word_of_it(name):
    masked = mask_name(name)
    assert name not in masked
    assert not any(w in masked for w in name.split() if len(w) >= 3)
    # at most two characters of each word, then a fixed run of stars: lengths are not revealed
    assert all(len(part) <= 6 and part.endswith("****") for part in masked.split())
    assert len(masked.split()) == len(name.split())


@given(st.emails())
def test_masked_email_never_contains_the_address(email):
    masked = mask_email(email)
    assert email not in masked
    _, _, domain = email.rpartition("@")
    masked_local, _, masked_domain = masked.rpartition("@")
    assert re.fullmatch(r"[^*]?\*\*\*", masked_local)  # at most the first character is shown
    assert masked_domain in (domain, "***")


# Indonesian mobile numbers as the book holds them: 08 + 8-11 digits, or +62 / 62 + 8-11 digits
phones = st.tuples(st.sampled_from(["08", "628", "+628"]), st.text("0123456789", min_size=8, max_size=11)).map(
    "".join)


@given(phones)
def test_masked_phone_keeps_the_prefix_and_two_digits_only(phone):
    masked = mask_phone(phone)
    digits = "".join(ch for ch in phone if ch.isdigit())
    assert phone not in masked and digits not in masked and digits[1:] not in masked
    assert re.fullmatch(r"\d{4}\*\*\*\*\d{2}", masked)  # fixed stars: the length is not revealed
    assert masked.startswith(digits[:4]) and masked.endswith(digits[-2:])


def test_phone_examples():
    assert mask_phone("081234567890") == "0812****90"
    assert mask_phone("+62 812-3456-7890") == "6281****90"
    assert mask_phone("0812345") == "****" and mask_phone(None) is None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, email=st.emails())
def test_default_report_responses_never_contain_full_name_or_email(conn, name, email):
    # other string fields of the response are fixed here; a name equal to one of them proves nothing
    assume(len(name) > 2 and not any(name in s for s in (*APPLICATION_STATUS_LABELS.values(), "Modal usaha")))
    with conn.cursor() as cur:
        cur.execute("TRUNCATE application, partner, partner_api_key CASCADE")
    conn.commit()
    make_partner(conn, 5, "Mitra Lima")
    make_loan(conn, partner_id=5, fullname=name, email=email)
    key = partner_key(conn, 5)
    with api_client() as client:
        _, body, _ = get(client, "/v1/partner/report", key)
        _, text, _ = get(client, "/v1/partner/report", key, accept="text/csv")
        _, summary, _ = get(client, "/v1/partner/summary", key)
    strings = _string_values(body["rows"])
    fields = _csv_fields(text)
    assert strings and fields
    for value in (*strings, *fields, *_string_values(summary)):
        assert name not in value
        assert email not in value
