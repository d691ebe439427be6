"""Why the contact policy refuses: one code per rule, each named after its source.

A refusal is recorded with its code in the contact history and counted per code in the stage
summary (``skipped_<code>``).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # the day (POJK 22/2023 Pasal 62 ayat (2) huruf f: Monday to Saturday, not on national holidays)
    SUNDAY = "sunday"
    NATIONAL_HOLIDAY = "national_holiday"
    CUTI_BERSAMA = "cuti_bersama"
    # the hour (the same article: 08:00-20:00 in the consumer's local time; SEOJK 19/2023 repeats it)
    OUTSIDE_HOURS = "outside_hours"
    # a send planned for one local day, attempted on another (a late redelivery after midnight)
    NOT_PLANNED_DAY = "not_planned_day"
    # the borrower: a channel opt-out (Meta's WhatsApp Business opt-out policy; staff) or do-not-call
    OPTED_OUT = "opted_out"
    DO_NOT_CALL = "do_not_call"
    # one contact per borrower per slot (the same article, huruf d: not continuous or disturbing):
    # this payment was in another payment's contact to the same number
    MERGED = "merged"


DAY_REASONS = (Reason.SUNDAY, Reason.NATIONAL_HOLIDAY, Reason.CUTI_BERSAMA)
