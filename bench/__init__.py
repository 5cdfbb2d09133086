"""Benchmarks of the load generator's own cost (`make bench`); kept apart from the tests."""
