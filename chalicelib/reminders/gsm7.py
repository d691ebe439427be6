"""GSM 03.38 (3GPP TS 23.038) default alphabet and the SMS segment rules of 3GPP TS 23.040.

An SMS sent as ``type=text`` is coded in the GSM 7-bit default alphabet: each character of the
basic table takes one septet, each character of the extension table two (escape + code). One SMS
carries 160 septets; a longer text is split into concatenated parts of 153 septets each (the
user-data header of a concatenated message takes 6 octets = 7 septets), and an escape sequence is
never split between two parts. A text with any character outside both tables would have to go as
UCS-2 (70 characters, 67 per part): ``to_gsm7`` replaces such characters first.

The tables below are the standard's; ``tests/unit/test_sms_text.py`` checks them against an
independent codec (the ``gsm0338`` package), character by character.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Basic character set, code points 0x00-0x7F in order; "\x1b" (0x1B) is the escape to the extension table.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table (after the escape): form feed, ^ { } \ [ ~ ] | €.
EXTENSION = "\f^{}\\[~]|€"
ESCAPE = "\x1b"
SINGLE_SEPTETS = 160
PART_SEPTETS = 153

_BASIC_SET = frozenset(BASIC) - {ESCAPE}
_EXTENSION_SET = frozenset(EXTENSION)
# what typographic characters become in GSM 03.38 (before accents are stripped)
_REPLACEMENTS = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                 "\u2026": "...", "\u00a0": " ", "\t": " "}


class NotGsm7(ValueError):
    """The text has a character outside the GSM 03.38 default alphabet and its extension table."""


def char_septets(ch: str) -> int:
    """Septets of one character: 1 (basic table), 2 (extension table); ``NotGsm7`` otherwise."""
    if ch in _BASIC_SET:
        return 1
    if ch in _EXTENSION_SET:
        return 2
    raise NotGsm7(f"U+{ord(ch):04X} is not in the GSM 03.38 default alphabet")


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_SET or ch in _EXTENSION_SET for ch in text)


def septets(text: str) -> int:
    """How many septets ``text`` takes in the GSM 7-bit default alphabet (``NotGsm7`` if it cannot)."""
    return sum(char_septets(ch) for ch in text)


def split(text: str) -> list[str]:
    """The parts a handset receives: one if it fits 160 septets, else parts of at most 153 septets,
    never splitting an extension character from its escape."""
    if septets(text) <= SINGLE_SEPTETS:
        return [text]
    parts: list[str] = []
    current, used = "", 0
    for ch in text:
        size = char_septets(ch)
        if used + size > PART_SEPTETS:
            parts.append(current)
            current, used = "", 0
        current += ch
        used += size
    if current:
        parts.append(current)
    return parts


def segments(text: str) -> int:
    return len(split(text))


def to_gsm7(text: str) -> str:
    """``text`` with every character the GSM alphabet lacks replaced: typographic quotes and dashes by
    their ASCII forms, accented letters by the letter (NFKD, accents dropped; accented letters the
    alphabet has, like é, are kept), anything else by ``?``."""
    out: list[str] = []
    for ch in text:
        if ch in _BASIC_SET or ch in _EXTENSION_SET:
            out.append(ch)
            continue
        ch = _REPLACEMENTS.get(ch, ch)
        if is_gsm7(ch):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and is_gsm7(base) else "?")
    return "".join(out)


@dataclass(frozen=True)
class SmsText:
    """A rendered SMS: its text (GSM 03.38 only), septets and parts."""

    text: str

    @property
    def septets(self) -> int:
        return septets(self.text)

    @property
    def segments(self) -> int:
        return segments(self.text)
