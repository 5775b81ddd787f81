"""Helpers below every part of the project: paths, files, the pip runner, AWS's fixed facts, error base types."""
