"""Helpers for testing xtalkit and code built on it."""
