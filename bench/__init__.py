"""Benchmarks on real servers: `python -m bench` (see README, "Benchmarks")."""
