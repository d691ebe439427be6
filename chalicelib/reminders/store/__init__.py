"""The reminder workflow's state: the call ledger, the stage records and the measured pacing.

- ``model``: what the store holds (``Entry`` with ``EntryStatus`` and ``Outcome``, ``StageState``,
  ``Pacing``…) and how an entry counts;
- ``protocol``: ``ReminderStore``, the interface the domain talks to, and the rules every store keeps;
- ``memory``: ``MemoryReminderStore`` (tests, tools);
- ``dynamo`` / ``dynamo_tables``: ``DynamoReminderStore`` (pynamodb, the deployed one) and its tables.

The domain imports the model and the protocol from here and is handed a store: the handlers
(``functions/``, the HTTP callbacks) build the DynamoDB one. Importing this package does not import
pynamodb.
"""

from chalicelib.reminders.store.model import (
    COUNTERS,
    DISPATCH_COUNTERS,
    REFUSED_PART_STATUS,
    SELECTION_COUNTERS,
    UNRESOLVED,
    Claim,
    Entry,
    EntryStatus,
    Outcome,
    Pacing,
    Parts,
    StageStart,
    StageState,
    StartOutcome,
    StoreUnavailable,
    counter_for,
    parts_outcome,
    skip_error,
    skip_reason,
    start_outcome,
)
from chalicelib.reminders.store.protocol import ReminderStore

__all__ = [
    "COUNTERS",
    "DISPATCH_COUNTERS",
    "REFUSED_PART_STATUS",
    "SELECTION_COUNTERS",
    "UNRESOLVED",
    "Claim",
    "Entry",
    "EntryStatus",
    "Outcome",
    "Pacing",
    "Parts",
    "ReminderStore",
    "StageStart",
    "StageState",
    "StartOutcome",
    "StoreUnavailable",
    "counter_for",
    "parts_outcome",
    "skip_error",
    "skip_reason",
    "start_outcome",
]
