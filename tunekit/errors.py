"""The one error tree. The CLI maps these to exit codes in one place (cli.main)."""


class TunekitError(Exception):
    """An error a person can act on: a message, and optionally a hint of what to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(TunekitError):
    """Bad input: unknown profile, invalid TOML, out-of-range number (exit 2)."""

    exit_code = 2


class NotPermitted(TunekitError):
    """Not root, read-only /proc/sys, missing capability, unsupported environment (exit 3)."""

    exit_code = 3
