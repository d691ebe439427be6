"""The contact policy's data in PostgreSQL: decreed calendar days, contact preferences (opt-outs,
do-not-call), inbound WhatsApp texts and the contact history; each change audited.

The policy itself (``chalicelib.contact_policy``) is pure: these modules load its inputs and
record its answers.
"""
