"""The logs' last line of defence: phone numbers and e-mail addresses in any log line are masked;
ids, amounts, UUIDs and timestamps are left as they are."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.logs import get_logger
from chalicelib.redaction import mask_text

digits = st.text("0123456789", min_size=8, max_size=11)
prefixes = st.sampled_from(["08", "628", "+628", "+62 8", "+62-8"])
separators = st.sampled_from(["", " ", "-"])


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(as written, its digits)."""
    prefix, rest, sep = draw(prefixes), draw(digits), draw(separators)
    groups = [rest[i:i + 4] for i in range(0, len(rest), 4)]
    if len(groups[-1]) < 2:
        groups[-2:] = [groups[-2] + groups[-1]]
    written = prefix + sep.join(groups) if sep else prefix + rest
    return written, "".join(ch for ch in written if ch.isdigit())


@given(phones(), st.sampled_from(["to {} failed", "'{}'", '{{"to": "{}"}}', "({})", "{}"]))
def test_a_phone_number_anywhere_in_a_line_is_masked(phone, template):
    written, number = phone
    masked = mask_text(template.format(written))
    assert number not in "".join(ch for ch in masked if ch.isdigit() or ch == "*")
    assert written not in masked and "****" in masked


@given(st.emails())
def test_an_email_address_is_masked(email):
    masked = mask_text(f"sent to {email}.")
    assert email not in masked


def test_two_numbers_run_together_are_masked():
    """An agent typed two numbers into one field; normalised, they are one run of 25 digits."""
    for text in ("to 6282167141834082143816714", "to 0821-6714-1834 0821-4381-6714", "to 08216714183408214381671"):
        masked = mask_text(text)
        assert "67141834" not in masked and "43816714" not in masked and "****" in masked, masked


def test_ids_amounts_uuids_and_times_are_left_alone():
    line = ('{"payment_id": 400123, "application_xid": 9000000123, "amount": 1250000, "uuid": '
            '"3f081234-5678-4abc-9def-081234567890", "at": "2026-11-20T01:00:07.123Z", "va": "x08123456789y"}')
    assert mask_text(line) == line


def test_the_logger_masks_message_extra_keys_and_exceptions():
    log = get_logger("redaction-test")
    out = io.StringIO()
    for handler in log._logger.handlers:
        handler.stream = out  # type: ignore[attr-defined]
    log.warning("not a phone number Vonage can call: '081234567890'",
                extra={"to": "+62 812-3456-7890", "email": "budi.santoso12@gmail.com", "payment_id": 400123})
    try:
        raise ValueError("DETAIL: Key (mobile_phone_1)=(6281234567890) already exists")
    except ValueError:
        log.exception("insert failed")
    text = out.getvalue()
    for secret in ("081234567890", "812-3456-7890", "budi.santoso12", "6281234567890"):
        assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["payment_id"] == 400123 and first["email"] == "b***@gmail.com"
    assert "6281****90" in second["exception"]
