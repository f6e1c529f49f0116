"""The one error tree, and the exit codes every command maps to (cli/app.py, in one place).

An error is something a person can act on: one line of message, optionally a hint of what
to do. The class says which exit code it means.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # compliant, done, held, lint clean
    FAILED = 1  # not compliant (check), findings at --fail-on (lint), stopped short (probe)
    USAGE = 2  # bad input or usage: nothing was changed
    NOT_PERMITTED = 3  # not root, read-only /proc/sys, missing capability, another apply
    APPLY_FAILED = 4  # apply failed and was rolled back, or an item could not be restored
    INCOMPLETE = 5  # nothing failed, but something was not verified (check, lint, probe)
    SOFTWARE = 70  # an error tunekit did not expect: a bug (sysexits.h EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


class TunekitError(Exception):
    """An error a person can act on: a message, and optionally a hint of what to do."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(TunekitError):
    """Bad input: unknown profile, invalid TOML, out-of-range number (exit 2)."""

    exit_code = ExitCode.USAGE


class KeyNameError(UsageError, ValueError):
    """A key name that is not a sysctl path: refused before anything is read or written.
    A ValueError too, so that pydantic validators report it as a field error."""


class RulesError(UsageError):
    """rules.toml (or a rules file given to a test) does not say what it must."""


class NotPermitted(TunekitError):
    """Not root, read-only /proc/sys, missing capability, unsupported environment (exit 3)."""

    exit_code = ExitCode.NOT_PERMITTED


class ApplyFailed(TunekitError):
    """A write failed; what was already changed was put back (exit 4)."""

    exit_code = ExitCode.APPLY_FAILED
