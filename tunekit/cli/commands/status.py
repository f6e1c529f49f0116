"""tunekit status [PROFILE]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import ConnsOpt, JsonOpt, RootOpt, emit, parse_count
from tunekit.errors import ExitCode

app = typer.Typer(add_completion=False, rich_markup_mode=None)

Profile = Annotated[
    Optional[str],
    typer.Argument(help="Also judge each row against this profile's target (name or .toml)."),
]
Watch = Annotated[
    Optional[float],
    typer.Option(
        help="Read again every SECONDS: rates, time to each limit, nearest cliff first; "
        "redrawn in place on a terminal, JSON Lines with --json. Ctrl-C ends it."
    ),
]
Prometheus = Annotated[
    Optional[Path],
    typer.Option(
        help="Also write the reading to this *.prom file for node_exporter's textfile "
        "collector (atomically, mode 0644)."
    ),
]
Top = Annotated[int, typer.Option(help="Processes and destinations shown, closest first.")]
KernelLog = Annotated[
    bool, typer.Option(help="Count the limits' messages in the kernel log (/dev/kmsg).")
]


@app.command()
@handled
def status(
    profile: Profile = None,
    conns: ConnsOpt = None,
    watch: Watch = None,
    json_out: JsonOpt = False,
    prometheus: Prometheus = None,
    top: Top = 5,
    root: RootOpt = None,
    kernel_log: KernelLog = True,
) -> None:
    """How close this host is to every limit now: used, limit, %, verdict and the fix.

    One row per limit: file handles, each process's open files, every listener's accept
    queue against its backlog, TIME_WAIT, orphans, TCP memory, the ephemeral ports per
    destination, conntrack; then sockets by state and the symptom counters. Verdicts: ok,
    near (80 %), at-limit, hit (a symptom counter grew). Exit 0 when it could read."""
    from tunekit.ops import status as op

    o = op.StatusOptions(
        profile=profile,
        conns=parse_count(conns),
        top=top,
        root=root,
        prometheus=prometheus,
        watch=watch,
        kernel_log=kernel_log,
    )
    if watch is None:
        doc = op.status(o)
        if json_out:
            emit(doc)
        else:
            from tunekit.output.status import render_status

            typer.echo(render_status(doc))
        raise typer.Exit(ExitCode.OK)
    _watch(o, json_out)


def _watch(o, json_out: bool) -> None:
    """Until Ctrl-C (or SIGTERM, or the reader of a pipe leaving): then the terminal is
    put back as it was, and the exit is 0, as the normal end of a watch."""
    import gc
    import signal

    from tunekit.ops.status import watch
    from tunekit.output.status import Screen, render_status

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    gc.enable()  # a long-running command (the entry point turned it off for start-up)
    readings = watch(o)  # bad options are refused here, before any handler is set
    # put back on the way out: an in-process caller (a test, the Ansible module) and any
    # process it forks later must not inherit a SIGTERM that raises KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        if json_out:
            for doc in readings:
                emit(doc, line=True)
        else:
            with Screen() as screen:
                for doc in readings:
                    screen.show(render_status(doc))
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(ExitCode.OK)
