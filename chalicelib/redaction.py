"""Masking phone numbers and e-mail addresses in free text: the logs' last line of defence.

Log lines carry ids, never a borrower's phone number, name or message (``chalicelib/logs.py``);
but a library's exception text, a provider's error body or a careless ``extra`` can still carry
one. ``mask_text`` finds what looks like an Indonesian mobile number (``08…``, ``628…``,
``+628…``, with or without spaces or hyphens between digit groups: 10 digits or more — two numbers
an agent typed into one field run together, and that run is masked too) or an e-mail address, and
masks it the way the staff files do (``0812****90``, ``b***@gmail.com``).
Digits inside a longer word or number (a UUID, an amount) are left alone. Names cannot be found
by a pattern: they are kept out at the source, and the demo's PII test greps the book's names.
"""

from __future__ import annotations

import re

from chalicelib.partners.masking import mask_email, mask_phone

# a mobile number: 08 / 628 / +628, then digits in groups of 2-5 with at most one space or hyphen
PHONE = re.compile(r"(?<![\w+-])(?:\+?62[ -]?|0)8\d{1,4}(?:[ -]?\d{2,5}){2,4}(?![\w])")
# RFC 5322 "atext" local parts (letters, digits and !#$%&'*+/=?^_`{|}~- and dots), a dotted domain
ATEXT = r"\w!#$%&'*+/=?^`{|}~.-"
EMAIL = re.compile(rf"(?<![{ATEXT}])[{ATEXT}]{{1,64}}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z][A-Za-z0-9-]{{1,62}}")
MIN_DIGITS = 10


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < MIN_DIGITS:
        return text
    return mask_phone(text) or text


def _email(match: re.Match[str]) -> str:
    return mask_email(match.group(0)) or match.group(0)


def mask_text(text: str) -> str:
    """``text`` with phone numbers and e-mail addresses masked (everything else unchanged)."""
    if not text:
        return text
    return PHONE.sub(_phone, EMAIL.sub(_email, text))
