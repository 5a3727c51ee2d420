"""Benchmark scripts (run as modules; they print figures and assert nothing)."""
