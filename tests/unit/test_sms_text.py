"""The SMS text against rules nobody here wrote: the GSM 03.38 alphabet as an independent codec
(``gsm0338``) implements it, the 160/153 septet rule of 3GPP TS 23.040, and Vonage's signing scheme
as its official SDK computes it."""

from __future__ import annotations

import hashlib
import itertools
import time
from datetime import date

import pytest
from gsm0338 import Codec
from hypothesis import given, settings
from hypothesis import strategies as st
from vonage_http_client import Auth

from chalicelib.indonesian import format_rupiah, long_date
from chalicelib.reminders import gsm7
from chalicelib.reminders.sms_signatures import (
    SIGNATURE_METHODS,
    InvalidSmsSignature,
    sign_sms_params,
    verify_sms_signature,
)
from chalicelib.reminders.sms_text import MAX_SEGMENTS, SMS_TEMPLATES, SmsTooLong, render_sms

GSM = Codec()


def _codec_septets(text: str) -> int | None:
    """Septets by the independent codec (one byte per basic character, escape + code per extension one)."""
    try:
        return len(GSM.encode(text)[0])
    except UnicodeEncodeError:
        return None


def test_the_alphabet_is_the_standards_character_by_character():
    """Every code point of the Basic Multilingual Plane: in our tables exactly when the codec encodes
    it, with the same number of septets (the escape character itself is not text)."""
    mismatches = []
    for cp in range(0x10000):
        ch = chr(cp)
        if ch == gsm7.ESCAPE or 0xD800 <= cp <= 0xDFFF:
            continue
        expected = _codec_septets(ch)
        ours = gsm7.char_septets(ch) if gsm7.is_gsm7(ch) else None
        if ours != expected:
            mismatches.append((hex(cp), ours, expected))
    assert mismatches == []
    assert len(set(gsm7.BASIC) - {gsm7.ESCAPE}) == 127 and len(gsm7.EXTENSION) == 10


@given(st.text(max_size=400))
def test_septets_agree_with_the_codec_for_any_text(text):
    expected = _codec_septets(text.replace(gsm7.ESCAPE, ""))
    clean = text.replace(gsm7.ESCAPE, "")
    if expected is None:
        assert not gsm7.is_gsm7(clean)
        with pytest.raises(gsm7.NotGsm7):
            gsm7.septets(clean)
    else:
        assert gsm7.septets(clean) == expected


GSM_TEXT = st.text(alphabet=st.sampled_from(sorted(set(gsm7.BASIC + gsm7.EXTENSION) - {gsm7.ESCAPE})),
                   max_size=700)


@given(GSM_TEXT)
def test_parts_follow_the_160_153_rule(text):
    parts = gsm7.split(text)
    assert "".join(parts) == text
    total = _codec_septets(text)
    assert total is not None
    if total <= 160:
        assert parts == [text]
    else:
        assert all(_codec_septets(p) <= 153 for p in parts)
        # a part is only cut short when the next character would not fit (an escape pair never split)
        for part, following in itertools.pairwise(parts):
            assert _codec_septets(part + following[0]) > 153


@pytest.mark.parametrize("text, parts", [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),                  # an extension character is two septets
    ("a" * 152 + "€" + "a" * 10, 2),              # the € does not fit in 153: it starts part 2
])
def test_known_boundaries(text, parts):
    assert gsm7.segments(text) == parts
    if parts == 2 and "€" in text and text.startswith("a" * 152):
        assert gsm7.split(text)[0] == "a" * 152


@given(st.text(max_size=200))
def test_anything_becomes_gsm7(text):
    converted = gsm7.to_gsm7(text)
    assert _codec_septets(converted.replace(gsm7.ESCAPE, "")) is not None
    assert len(converted) >= len(text.replace(gsm7.ESCAPE, "")) or "…" in text


def test_gsm_text_is_kept_and_foreign_accents_are_dropped():
    assert gsm7.to_gsm7("Pak Rudi, é è ü €") == "Pak Rudi, é è ü €"
    assert gsm7.to_gsm7("Bank Mandíri “Syariah”") == "Bank Mandiri \"Syariah\""
    assert gsm7.to_gsm7("日本") == "??"


BANKS = st.text(alphabet=st.characters(categories=("Lu", "Ll"), max_codepoint=0x7F) | st.just(" "),
                max_size=20)
ACCOUNTS = st.text(alphabet="0123456789", min_size=8, max_size=24)
DUES = st.dates(min_value=date(2020, 1, 1), max_value=date(2100, 12, 31))
AMOUNTS = st.integers(min_value=0, max_value=999_999_999_999)


@settings(max_examples=300)
@given(st.sampled_from(["JULO", "PEDE", None, "other"]), AMOUNTS, DUES, BANKS, ACCOUNTS)
def test_every_reminder_fits_one_sms_and_says_amount_date_and_account(product, amount, due, bank, account):
    sms = render_sms(product, amount, due, bank, account)
    assert _codec_septets(sms.text) == sms.septets <= 160
    assert sms.segments == 1
    assert format_rupiah(amount) in sms.text and long_date(due) in sms.text and account in sms.text


@pytest.mark.parametrize("product", ["JULO", "PEDE"])
def test_the_longest_data_the_text_promises_to_fit_is_one_sms(product):
    """The bounds at once (hypothesis seldom draws all of them together): the largest amount, the longest
    date ("30 September 2100"), a 20-character bank name and a 24-digit virtual account."""
    sms = render_sms(product, 999_999_999_999, date(2100, 9, 30), "B" * 20, "9" * 24)
    assert sms.segments == 1 and "VA " + "B" * 20 + " " + "9" * 24 in sms.text, (sms.septets, sms.text)


@given(st.sampled_from(["JULO", "PEDE"]), AMOUNTS, DUES, st.text(max_size=300), st.text(max_size=300))
def test_any_data_is_at_most_two_parts_of_gsm7_or_refused(product, amount, due, bank, account):
    try:
        sms = render_sms(product, amount, due, bank, account)
    except SmsTooLong:
        return
    assert sms.segments <= MAX_SEGMENTS
    assert _codec_septets(sms.text) is not None


def test_each_product_has_its_own_text_and_no_borrower_is_named():
    julo = render_sms("JULO", 1_250_000, date(2026, 11, 23), "BCA", "1234567890123456")
    pede = render_sms("PEDE", 1_250_000, date(2026, 11, 23), "BCA", "1234567890123456")
    assert julo.text.startswith("JULO:") and pede.text.startswith("Ponsel Duit:")
    assert "Rp 1.250.000" in julo.text and "23 November 2026" in julo.text and "VA BCA 1234567890123456" in julo.text
    assert {t.name for t in SMS_TEMPLATES.values()} == {"julo_t3_sms_v1", "pede_t3_sms_v1"}
    assert "aplikasi JULO" in render_sms("JULO", 5, date(2026, 1, 2), None, None).text


# --- Vonage's SMS signing ---

PARAMS = {"msisdn": "6281300000001", "to": "JULO", "messageId": "0A0000001234", "status": "delivered",
          "err-code": "0", "api-key": "abcd1234", "client-ref": "42|2026-11-20|sms|WIB|0",
          "message-timestamp": "2026-11-20 03:00:00", "nonce": "6a4d5f0e-77f1-4b31-9c77-0d7b5d6d1b34"}


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_hmac_signatures_are_the_official_sdks(method):
    params = {**PARAMS, "timestamp": str(int(time.time()))}
    sdk = Auth(api_key="abcd1234", signature_secret="s3cr3t", signature_method=method).sign_params(dict(params))
    assert sign_sms_params(params, "s3cr3t", method).lower() == sdk


def test_md5hash_is_md5_of_the_sorted_query_followed_by_the_secret():
    params = {"b": "x&y", "a": "1=2", "timestamp": "1700000000"}
    expected = hashlib.md5(b"&a=1_2&b=x_y&timestamp=1700000000" + b"s3cr3t", usedforsecurity=False).hexdigest()
    assert sign_sms_params(params, "s3cr3t", "md5hash") == expected


@pytest.mark.parametrize("method", SIGNATURE_METHODS)
def test_a_fresh_receipt_signed_with_the_method_verifies(method):
    params = {**PARAMS, "timestamp": str(int(time.time()))}
    params["sig"] = sign_sms_params(params, "s3cr3t", method)
    assert verify_sms_signature(params, "s3cr3t", method)["messageId"] == "0A0000001234"
    with pytest.raises(InvalidSmsSignature):
        verify_sms_signature(params, "another-secret", method)
    other = "sha512" if method != "sha512" else "sha1"
    with pytest.raises(InvalidSmsSignature):
        verify_sms_signature(params, "s3cr3t", other)


@pytest.mark.parametrize("change, reason", [
    ({"status": "failed"}, "does not match"),
    ({"client-ref": "43|2026-11-20|sms|WIB|0"}, "does not match"),
    ({"sig": ""}, "no sig"),
    ({"nonce": ""}, "no nonce"),
    ({"timestamp": str(int(time.time()) - 6 * 60)}, "5 minute"),
    ({"timestamp": "nan"}, "5 minute"),
    ({"sig": "ÿ" * 64}, "does not match"),
])
def test_a_changed_stale_or_unsigned_receipt_is_refused(change, reason):
    params = {**PARAMS, "timestamp": str(int(time.time()))}
    params["sig"] = sign_sms_params(params, "s3cr3t", "sha256")
    with pytest.raises(InvalidSmsSignature, match=reason):
        verify_sms_signature({**params, **change}, "s3cr3t", "sha256")
