"""Functional tests."""
