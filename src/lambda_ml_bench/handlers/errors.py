"""The handlers' documented error types; Lambda reports the class name as `errorType`."""
from __future__ import annotations

ECHO_LIMIT = 200  # characters of the caller's own input an error repeats (a 5 MB field name is not echoed)


def clip(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}... ({len(text):,} characters)"


def safe(text: str) -> str:
    """The caller's text as it may be repeated anywhere: clipped, every character that UTF-8 cannot encode (a lone
    surrogate such as "\\ud800", which JSON allows as a field name) written as its escape, and control characters
    escaped, so that a log line, an exception and a response can all carry it."""
    text = clip(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


class PayloadError(ValueError):
    """The request breaks a documented rule; the message names the field and the rule. Every message that repeats
    input is built here, so every handler's and both backends' errors are safe to log."""

    def __init__(self, field: str | None, rule: str) -> None:
        self.field = safe(field) if field is not None else None
        super().__init__(f"{self.field}: {safe(rule)}" if field else safe(rule))


class ModelLoadError(RuntimeError):
    """The packaged model is missing, altered, or holds types that are not trusted."""
