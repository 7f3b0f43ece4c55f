"""Datasets and data sources."""
