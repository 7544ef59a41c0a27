"""Microbenchmarks (pytest-benchmark).  Run:

    .venv/bin/python -m pytest benchmarks/ --benchmark-only

They are not part of the test suite; they measure, they do not assert speed.
"""
