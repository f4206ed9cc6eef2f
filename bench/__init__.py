"""Benchmarks: each prints one closing line ``BENCH <name> key=value ...``."""
