"""Simulated devices that speak the real protocols, for tests, the demo and benchmarks."""
