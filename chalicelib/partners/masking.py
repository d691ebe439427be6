"""Masking borrower PII for funders: ``Budi Wahyuni`` → ``B**** Wa****``, ``johndoe@gmail.com`` → ``j***@gmail.com``,
``081234567890`` → ``0812****90``.

Guarantees (property-tested): a masked name never contains the full name nor any whole word
of it (each word shows at most one character less than its length, then a fixed ``****`` that
hides the length); a masked email never contains the full address; a masked phone number shows
at most its first four and last two digits (the operator prefix and enough to tell two apart),
never the number, with a fixed ``****`` that hides its length.
"""

from __future__ import annotations

NAME_STARS = "****"
EMAIL_STARS = "***"


def _mask_word(word: str, shown: int) -> str:
    return word[: min(shown, len(word) - 1)] + NAME_STARS


def mask_name(fullname: str | None) -> str | None:
    """First word keeps 1 character, later words 2, never a whole word."""
    if fullname is None:
        return None
    words = fullname.split()
    return " ".join(_mask_word(w, 1 if i == 0 else 2) for i, w in enumerate(words))


def mask_email(email: str | None) -> str | None:
    """Keep the first character of the local part and the domain."""
    if email is None:
        return None
    local, at, domain = email.rpartition("@")
    if not at:
        return EMAIL_STARS
    masked_local = (local[0] if len(local) > 1 and local[0] != "*" else "") + EMAIL_STARS
    if masked_local.endswith(local):  # a local part made of stars: hide the domain too
        return f"{EMAIL_STARS}@{EMAIL_STARS}"
    return f"{masked_local}@{domain}"


PHONE_STARS = "****"


def mask_phone(phone: str | None) -> str | None:
    """The first four and last two digits around a fixed ``****``; a short number shows nothing."""
    if phone is None:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 10:  # too short to show 6 digits and still hide most of it
        return PHONE_STARS
    return f"{digits[:4]}{PHONE_STARS}{digits[-2:]}"
