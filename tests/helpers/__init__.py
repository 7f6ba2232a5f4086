"""Helpers shared by the test suites and the benchmarks (bench/ imports from here,
never the other way round)."""
