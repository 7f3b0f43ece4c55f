"""Anisotropic displacement parameters: metrics, baselines, checks and pictures."""
