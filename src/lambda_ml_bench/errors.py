"""The error every part's own error types derive from: its message is all a user needs to see."""
from __future__ import annotations


class ProjectError(RuntimeError):
    """A step failed in a way the message explains (what, where, and what to do)."""
