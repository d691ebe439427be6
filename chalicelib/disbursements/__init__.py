"""Disbursement status events: validation, transition rules, applying one event."""
