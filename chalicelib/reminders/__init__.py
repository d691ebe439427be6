"""T-3 payment reminders: selection, workflow stages, dispatch."""
