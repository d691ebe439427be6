"""Chaos tests."""
