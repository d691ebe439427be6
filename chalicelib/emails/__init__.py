"""Outgoing email: money formatting, MIME building, the SES adapter."""
