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
import sys


def main() -> None:
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from tunekit.cli.app import run

    code = run()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        code = code or 1
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
