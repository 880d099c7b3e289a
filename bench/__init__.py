"""Benchmarks and evaluation (`make bench`): measurements, not tests."""
