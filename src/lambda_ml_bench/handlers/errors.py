"""The handlers' documented error types; Lambda reports the class name as `errorType`."""
from __future__ import annotations

ECHO_LIMIT = 200  # characters of the caller's own input an error repeats (a 5 MB field name is not echoed)


def clip(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}... ({len(text):,} characters)"


class PayloadError(ValueError):
    """The request breaks a documented rule; the message names the field and the rule."""

    def __init__(self, field: str | None, rule: str) -> None:
        self.field = clip(field) if field is not None else None
        super().__init__(f"{self.field}: {clip(rule)}" if field else clip(rule))


class ModelLoadError(RuntimeError):
    """The packaged model is missing, altered, or holds types that are not trusted."""
