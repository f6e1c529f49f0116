"""Console-script entry point: start fast, end fast, hand over to the CLI in between.

Importing typer and pydantic allocates a few hundred thousand objects. The cyclic garbage
collector would run many times during those imports for nothing, and at exit CPython's
finalisation walks them all again. Both are pure overhead for a command that lives a
fraction of a second (bench/startup.py shows the effect), so the entry point disables the
collector and, once stdout and stderr are flushed, leaves with os._exit. Nothing tunekit
writes depends on interpreter teardown: files are written, fsynced and renamed explicitly,
and child processes are reaped by the command that starts them. A long-running command
turns the collector back on with gc.enable().

tunekit uses no pydantic plugins, so it tells pydantic not to look for any: the first model
built would otherwise scan the entry points of every installed distribution
(pydantic/plugin/_loader.py, PYDANTIC_DISABLE_PLUGINS), ~10 ms of every start.
"""

import gc
import os
import signal
import sys


def _reserve_standard_fds() -> list[int]:
    """Put /dev/null on any of descriptors 0-2 that is closed (so that no file tunekit
    opens later takes its number) and return the ones that were."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
    return closed


def main() -> None:
    gc.disable()
    # Output into a pipe whose reader has gone (`tunekit check | head -1`) ends the process
    # as it ends any Unix tool (SIGPIPE), not with a BrokenPipeError from the next write.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if 1 in _reserve_standard_fds() or sys.stdout is None:
        if sys.stderr is not None:
            print("tunekit: error: standard output is closed: nothing to print to", file=sys.stderr)
        os._exit(2)  # ExitCode.USAGE, without importing anything
    from tunekit.cli.app import run

    code = run()
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as err:
        if sys.stderr is not None:
            why = getattr(err, "strerror", None) or err
            print(f"tunekit: error: cannot write standard output: {why}", file=sys.stderr)
        code = code or 3  # ExitCode.NOT_PERMITTED: the environment refused the output
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    os._exit(code)
