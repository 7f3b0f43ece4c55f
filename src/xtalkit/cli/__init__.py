"""Command-line interface (``xtalkit``)."""
