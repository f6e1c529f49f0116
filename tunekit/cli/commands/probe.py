"""tunekit probe --conns N"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import ConstOpt, JsonOpt, emit, parse_consts, parse_required_count
from tunekit.errors import ExitCode

app = typer.Typer(add_completion=False, rich_markup_mode=None)


Conns = Annotated[
    str, typer.Option("--conns", help="Connections to open and hold (3000, 200k, 1M).")
]
SourceIps = Annotated[
    Optional[int],
    typer.Option(
        help="Source addresses in 127.0.0.0/8; default: enough that each (source, destination) "
        "pair uses at most 30 % of the live port range."
    ),
]
Destinations = Annotated[
    Optional[int],
    typer.Option(
        help="Listening ports (destinations) on 127.0.0.1, each with accepting workers of its own; "
        "default 1."
    ),
]
Rate = Annotated[
    Optional[int],
    typer.Option(
        help="New connections per second, all workers together; default: as fast as it can."
    ),
]
Hold = Annotated[float, typer.Option(help="Seconds to hold the connections open.")]
Conntrack = Annotated[
    bool,
    typer.Option(
        "--conntrack",
        help="Add a conntrack rule in the namespace, so every flow is tracked as on a firewall or "
        "hypervisor (needs nft).",
    ),
]
AcceptPause = Annotated[
    int,
    typer.Option(
        help="Milliseconds the acceptors wait before accepting: a stalled server whose "
        "accept queue (somaxconn) must absorb the arrivals."
    ),
]
Nofile = Annotated[
    Optional[int],
    typer.Option(
        help="Open-files limit each worker sets (default: the hard limit, as a server that "
        "raises its soft limit does)."
    ),
]
ConnectTimeout = Annotated[
    float,
    typer.Option(help="Seconds a connection may wait to be accepted before it counts as failed."),
]
Send = Annotated[
    int,
    typer.Option(
        help="Bytes each connection sends that the other side never reads, so they sit in receive "
        "queues: measures what buffered bytes cost (tcp_mem pages, slab)."
    ),
]
Calibrate = Annotated[
    bool,
    typer.Option(
        "--calibrate",
        help="Write the measured bytes per socket (and per conntrack entry, and with --send the "
        "buffer factor) to the local calibration that estimate and check use.",
    ),
]
StateDir = Annotated[
    Optional[Path],
    typer.Option(
        "--state-dir",
        help="Where --calibrate writes (default $TUNEKIT_STATE_DIR, else /var/lib/tunekit).",
    ),
]


@app.command()
@handled
def probe(
    conns: Conns,
    source_ips: SourceIps = None,
    destinations: Destinations = None,
    rate: Rate = None,
    hold: Hold = 2.0,
    conntrack: Conntrack = False,
    accept_pause: AcceptPause = 0,
    nofile: Nofile = None,
    connect_timeout: ConnectTimeout = 5.0,
    send: Send = 0,
    calibrate: Calibrate = False,
    const: ConstOpt = None,
    state_dir: StateDir = None,
    json_out: JsonOpt = False,
) -> None:
    """Open N connections for real in a private network namespace and report what stopped it.

    Listens on loopback, connects from worker processes that each stay within RLIMIT_NOFILE,
    holds, and tears everything down (also on Ctrl-C). It copies the per-namespace sysctls
    of the namespace it starts in, never changes the host's, and compares what each
    connection cost in kernel memory with the estimate for the same settings.
    Exit 0 all N held with no failure, 1 stopped short or a limit was hit, 2 bad input,
    3 not permitted (needs root)."""
    from tunekit.ops.probe import ProbeOptions
    from tunekit.ops.probe import probe as run
    from tunekit.output.probe import render_probe
    from tunekit.output.progress import ProbeProgress

    o = ProbeOptions(
        conns=parse_required_count(conns),
        source_ips=source_ips,
        destinations=destinations,
        rate=rate,
        hold=hold,
        conntrack=conntrack,
        accept_pause_ms=accept_pause,
        nofile=nofile,
        connect_timeout=connect_timeout,
        send=send,
        calibrate=calibrate,
        const=parse_consts(const),
        state_dir=state_dir,
    )
    show = ProbeProgress(o.conns, sys.stderr)
    try:
        result = run(o, progress=show)
    finally:
        show.clear()
    for warning in result.warnings:
        typer.echo(f"tunekit: {warning}", err=True)
    if json_out:
        emit(result.doc)
    else:
        typer.echo(render_probe(result.doc))
    raise typer.Exit(ExitCode.OK if result.doc.complete else ExitCode.FAILED)
