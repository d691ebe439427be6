"""Disbursement events that are valid JSON of the right shape but can never be applied.

Each one used to pass the schema and fail inside the database driver or the JSON parser with an
error the consumer took for a transient one: it was backed off ten times (~4 h 15 min) before the
DLQ. They must be recognised as poison on their first receive (made visible at once, dead-lettered
within seconds), while the good events of the same batches are applied.

Time is virtual (tests/chaos/virtual_time.py): the real queue, DLQ, database and handler.
"""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg2.extensions
import pytest

from localdev.aws.bootstrap import bootstrap
from tests.chaos.disbursements import email_of, emails_by_recipient, event, statuses, waiting_loans
from tests.chaos.virtual_time import EPOCH, VirtualLambda

# well inside what ten immediate retries take; the old backoff needed ~15,000 s
POISON_WITHIN_S = 120
DEEP = 100_000


def _poison(disbursement_id: int) -> dict[str, str]:
    base = {"disbursement_id": disbursement_id, "status": "COMPLETED", "occurred_at": EPOCH.isoformat()}
    return {
        # json.dumps escapes these as \u0000 and \ud800: the SQS body is plain ASCII
        "NUL in event_id": json.dumps({**base, "event_id": "evt-nul-\u0000"}),
        "lone surrogate in event_id": json.dumps({**base, "event_id": "evt-surrogate-\ud800"}),
        "external_id 2^70 (past bigint)": json.dumps({**base, "event_id": "evt-bigint", "external_id": 2**70}),
        "JSON nested 100k deep": json.dumps({**base, "event_id": "evt-deep"})[:-1]
        + ', "extra": ' + "[" * DEEP + "]" * DEEP + "}",
    }


@pytest.mark.chaos(scenario="poison disbursement events: NUL, lone surrogate, 2^70, 100k-deep JSON",
                   invariant="each poison event reaches the DLQ on its first receive's failure (never backed off); "
                             "no good event lost; one email per completed disbursement")
def test_unusable_events_are_dead_lettered_at_once(
    conn: psycopg2.extensions.connection, aws: str,
) -> None:
    loans = waiting_loans(conn, 4)
    bootstrap()
    world = VirtualLambda("disbursement-events", "email-outbox")
    poison = _poison(loans[0].disbursement_id)
    good = [event(f"evt-good-{i}", loan, "COMPLETED", EPOCH + timedelta(seconds=i)) for i, loan in enumerate(loans)]
    world.send([*poison.values(), *good])
    world.run()

    dead = world.dead_letters()
    assert sorted(dead) == sorted(poison.values()), \
        f"dead-lettered: {[d[:60] for d in dead]}; expected the {len(poison)} poison events only"
    assert world.now < POISON_WITHIN_S, f"poison took {world.now:.0f} virtual seconds to reach the DLQ (backed off)"
    assert all(v == 0 for v in world.stats.visibility_requests), \
        f"a poison event was hidden for backoff: {sorted(set(world.stats.visibility_requests))}"
    assert {s for s, _ in statuses().values()} == {"COMPLETED"}
    assert emails_by_recipient() == {email_of(loan): 1 for loan in loans}
