"""Runs on your machine: the local Lambda for both architectures, the benchmark driver, reports."""
