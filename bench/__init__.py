"""Benchmarks that put the product's API beside plain PostgreSQL doing the same work.

Run them from the repository root as modules (``python -m bench.<name>``) so that
``bench.harness`` is importable; they need the PostgreSQL server the tests use.
"""
