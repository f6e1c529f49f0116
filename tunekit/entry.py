"""Console-script entry point: start fast, end fast, hand over to the CLI in between.

Importing typer and pydantic allocates a few hundred thousand objects. The cyclic garbage
collector would run many times during those imports for nothing, and at exit CPython's
finalisation walks them all again. Both are pure overhead for a command that lives a
fraction of a second (bench/startup.py shows the effect), so the entry point disables the
collector and, once stdout and stderr are flushed, leaves with os._exit. Nothing tunekit
writes depends on interpreter teardown: files are written, fsynced and renamed explicitly,
and child processes are reaped by the command that starts them. A long-running command
turns the collector back on with gc.enable().
"""

import gc
import os
import sys


def main() -> None:
    gc.disable()
    code = 0
    try:
        from tunekit.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    os._exit(code)
