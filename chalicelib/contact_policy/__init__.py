"""The contact policy: when, and whether, a borrower may be contacted (pure: no database, no AWS).

- ``calendar``: contact days (Monday to Saturday, minus the ``holidays`` library's Indonesian
  national holidays, minus the decreed days of the table), and the shift rule;
- ``hours``: the allowed hours per zone (``CONTACT_HOURS``, default 08:00-20:00 local);
- ``policy``: the two questions, ``plan`` (stage worker) and ``may_send`` (dispatch, with the clock);
- ``clock``: the injected clock (system, fixed, or a replayed day's);
- ``reasons``: the refusal codes.

Sources: POJK 22/2023 Pasal 62 ayat (2) huruf d and f; SEOJK 19/2023; Meta's WhatsApp Business
opt-out policy. The rest of the code asks this package instead of comparing times or weekdays.
"""

from chalicelib.contact_policy.calendar import Closed, ContactCalendar, DecreedDay, DecreedKind
from chalicelib.contact_policy.clock import Clock, FixedClock, ReplayClock, SystemClock, clock_from_setting
from chalicelib.contact_policy.hours import ContactHours, Window
from chalicelib.contact_policy.policy import CALL_CHANNELS, ContactPolicy, DayPlan, Decision, Send
from chalicelib.contact_policy.reasons import Reason

__all__ = ["CALL_CHANNELS", "Clock", "Closed", "ContactCalendar", "ContactHours", "ContactPolicy", "DayPlan",
           "Decision", "DecreedDay", "DecreedKind", "FixedClock", "Reason", "ReplayClock", "Send", "SystemClock",
           "Window", "clock_from_setting"]
