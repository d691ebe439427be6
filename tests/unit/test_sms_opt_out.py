"""The SMS opt-out's rules without a server: the confirmation is one GSM-7 SMS (the independent ``gsm0338``
codec, 160 septets, 3GPP TS 23.040), the keywords match the whole text in any case and spacing, and an SMS
opt-out blocks SMS only (the contact policy's gate, ``opted_out``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from gsm0338 import Codec

from chalicelib.contact_data import inbound
from chalicelib.contact_policy import ContactPolicy, Reason, Send
from chalicelib.http.sms_inbound_api import inbound_text
from chalicelib.zones import Zone

FRIDAY = date(2026, 11, 20)


def test_the_sms_confirmation_is_one_gsm7_sms_in_bahasa_indonesia() -> None:
    septets = len(Codec().encode(inbound.SMS_REPLY_TEXT)[0])  # raises on a character outside GSM 03.38
    assert septets <= 160
    assert "berhenti" in inbound.SMS_REPLY_TEXT.lower() and "SMS" in inbound.SMS_REPLY_TEXT


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "BERHENTI", "berhenti!", "\tBerhenti\n",
                                  "unsubscribe"])
def test_an_opt_out_keyword_alone_in_any_case_or_spacing_opts_out(text: str) -> None:
    assert inbound.is_opt_out(text)


@pytest.mark.parametrize("text", ["jangan stop dulu", "berhenti kirim? saya sudah bayar", "STOPP", "", None,
                                  "saya sudah bayar"])
def test_other_texts_are_not_an_opt_out(text: str | None) -> None:
    assert not inbound.is_opt_out(text)


def test_an_sms_opt_out_blocks_sms_and_nothing_else() -> None:
    policy, at = ContactPolicy(), datetime(2026, 11, 20, 8, 1, tzinfo=UTC)  # 15:01 WIB
    opted = frozenset({"sms"})
    assert policy.may_send(Send(Zone.WIB, FRIDAY, "sms", opted_out=opted), at).reason is Reason.OPTED_OUT
    for channel in ("whatsapp", "robocall"):
        assert policy.may_send(Send(Zone.WIB, FRIDAY, channel, opted_out=opted), at).allowed, channel


def test_a_binary_inbound_sms_has_no_text_and_never_opts_out() -> None:
    message = {"messageId": "0A1", "msisdn": "6281300000001", "type": "binary", "text": "STOP", "timestamp": "0"}
    assert inbound_text(message).text is None
    assert inbound_text({**message, "type": "unicode"}).text == "STOP"
