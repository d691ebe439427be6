"""Event-driven Lambda handlers (schedules, workflow stages, SQS consumers, daily jobs). Thin."""
