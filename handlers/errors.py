"""The handlers' documented error types; Lambda reports the class name as `errorType`."""
from __future__ import annotations


class PayloadError(ValueError):
    """The request breaks a documented rule; the message names the field and the rule."""

    def __init__(self, field: str | None, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" if field else rule)


class ModelLoadError(RuntimeError):
    """The packaged model is missing, altered, or holds types that are not trusted."""
