"""The daily stuck-disbursement report: query, settings, .xlsx writer, Slack upload."""
