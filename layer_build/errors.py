"""The build's own error type: its message is all a user needs to see."""


class BuildError(RuntimeError):
    """A build step failed; the message names the file, package or platform at fault."""
