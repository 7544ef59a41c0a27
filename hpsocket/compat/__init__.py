"""Compatibility layer for programs written for HPSocket4Python (PyPI HPSocket 0.9.3)."""
