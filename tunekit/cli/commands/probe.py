"""tunekit probe --conns N [--target HOST:PORT,...]"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import ConstOpt, JsonOpt, emit, parse_consts, parse_required_count
from tunekit.errors import ExitCode, UsageError
from tunekit.probe.targets import split_list

app = typer.Typer(add_completion=False, rich_markup_mode=None)


Conns = Annotated[
    str, typer.Option("--conns", help="Connections to open and hold (3000, 200k, 1M).")
]
Target = Annotated[
    Optional[str],
    typer.Option(
        "--target",
        help="Load YOUR OWN server(s) instead of loopback: HOST:PORT[,HOST:PORT...] (IPv4; a "
        "name must resolve to one address). Client side only, from this host's namespace; "
        "connects to nothing else. A load generator: never point it at servers you do not run.",
    ),
]
SourceIps = Annotated[
    Optional[str],
    typer.Option(
        help="Loopback: how many source addresses in 127.0.0.0/8 (default: enough that each "
        "(source, destination) pair uses at most 30 % of the live port range). --target: a "
        "list of this host's addresses to bind, or N for its first N non-loopback IPv4 "
        "addresses (default: the one each target's route picks)."
    ),
]
Ramp = Annotated[
    Optional[str],
    typer.Option(
        help="--target: STEP/SECONDS, e.g. 10k/30: open STEP more connections, hold them "
        "SECONDS, and so on up to --conns; each plateau shows a level the server held."
    ),
]
Processes = Annotated[
    Optional[int],
    typer.Option(
        help="Connecting worker processes (default: enough that each stays within the hard "
        "open-files limit). Fewer: each meets RLIMIT_NOFILE as a client of that many would."
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

# The probe's verdict as its exit: stopped short stays 1; nothing stopped it but something
# it claims was not measured is 5 (INCOMPLETE), never 0.
EXIT = {
    "complete": ExitCode.OK,
    "stopped-short": ExitCode.FAILED,
    "incomplete": ExitCode.INCOMPLETE,
}


def parse_ramp(text: str | None):
    """'10k/30', '5000/10s' -> Ramp(step, seconds)."""
    from tunekit.probe.layout import Ramp

    if text is None:
        return None
    step, sep, seconds = text.partition("/")
    try:
        value = float(seconds.strip().removesuffix("s")) if sep else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"--ramp {text!r}: expected STEP/SECONDS",
            "e.g. --ramp 10k/30: 10,000 more connections every 30 s of holding",
        )
    return Ramp(parse_required_count(step, "--ramp"), value)


def parse_sources(text: str | None) -> list[str] | int | None:
    """'3' -> 3; '10.0.0.1,10.0.0.2' -> the list."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    return split_list(text)


@app.command()
@handled
def probe(
    conns: Conns,
    target: Target = None,
    source_ips: SourceIps = None,
    destinations: Destinations = None,
    rate: Rate = None,
    hold: Hold = 2.0,
    conntrack: Conntrack = False,
    accept_pause: AcceptPause = 0,
    nofile: Nofile = None,
    connect_timeout: ConnectTimeout = 5.0,
    send: Send = 0,
    ramp: Ramp = None,
    processes: Processes = None,
    calibrate: Calibrate = False,
    const: ConstOpt = None,
    state_dir: StateDir = None,
    json_out: JsonOpt = False,
) -> None:
    """Open N connections for real and report what stopped them.

    Loopback (as root): listens in a private network namespace, connects from worker
    processes that each stay within RLIMIT_NOFILE, holds, and tears everything down (also
    on Ctrl-C). It copies the per-namespace sysctls of the namespace it starts in, never
    changes the host's, and compares what each connection cost in kernel memory with the
    estimate for the same settings.

    --target HOST:PORT[,...]: a load generator for YOUR OWN servers. From this host, in
    the network namespace it runs in, it opens N connections to the servers named and
    nothing else (a name that resolves to several addresses, a network or a wildcard is
    refused), holds them, and names the limit that stopped the climb, on this client or
    on the server's side, beside the client-side estimate's prediction.

    Exit 0 all N held with no failure and every figure measured, 1 stopped short or a
    limit was hit, 2 bad input, 3 not permitted (loopback needs root), 5 INCOMPLETE:
    nothing stopped it, but something it reports could not be measured (the document's
    "unverified" says what)."""
    given = dict(locals())  # every option as parsed, by parameter name
    if target is not None:
        _run_target(_target_options(given), json_out)
    _run_loopback(_loopback_options(given), json_out)


def _refuse(flags: list[str], where: str) -> None:
    if flags:
        raise UsageError(f"{', '.join(flags)}: not {where}", "tunekit probe --help")


def _loopback_options(g: dict):
    from tunekit.ops.probe import ProbeOptions

    sources = parse_sources(g["source_ips"])
    if isinstance(sources, list):
        _refuse(["--source-ips LIST"], "without --target (loopback takes a count)")
    _refuse(["--ramp"] if g["ramp"] is not None else [], "without --target")
    return ProbeOptions(
        conns=parse_required_count(g["conns"]),
        source_ips=sources if isinstance(sources, int) else None,
        destinations=g["destinations"],
        rate=g["rate"],
        hold=g["hold"],
        conntrack=g["conntrack"],
        accept_pause_ms=g["accept_pause"],
        nofile=g["nofile"],
        connect_timeout=g["connect_timeout"],
        send=g["send"],
        calibrate=g["calibrate"],
        const=parse_consts(g["const"]),
        state_dir=g["state_dir"],
        processes=g["processes"],
    )


def _run_loopback(o, json_out: bool) -> None:
    from tunekit.ops.probe import probe as run
    from tunekit.output.probe import render_probe
    from tunekit.output.progress import ProbeProgress

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
    raise typer.Exit(EXIT[result.doc.verdict])


def _target_options(g: dict):
    from tunekit.ops.probe import TargetProbeOptions

    loopback_only = {
        "--destinations": g["destinations"] is not None,
        "--conntrack": g["conntrack"],
        "--accept-pause": g["accept_pause"] != 0,
        "--calibrate": g["calibrate"],
        "--state-dir": g["state_dir"] is not None,
    }
    _refuse([flag for flag, on in loopback_only.items() if on], "with --target")
    return TargetProbeOptions(
        targets=split_list(g["target"]),
        conns=parse_required_count(g["conns"]),
        source_ips=parse_sources(g["source_ips"]),
        rate=g["rate"],
        ramp=parse_ramp(g["ramp"]),
        hold=g["hold"],
        send=g["send"],
        nofile=g["nofile"],
        processes=g["processes"],
        connect_timeout=g["connect_timeout"],
        const=parse_consts(g["const"]),
    )


def _run_target(o, json_out: bool) -> None:
    """probe --target: the plan and the estimate on stderr first, then the run."""
    from tunekit.ops.probe import probe_target
    from tunekit.output.probe_target import render_plan, render_target
    from tunekit.output.progress import TargetProgress

    show = TargetProgress(o.conns, sys.stderr)
    try:
        result = probe_target(
            o, progress=show, before=lambda plan: typer.echo(render_plan(plan), err=True)
        )
    finally:
        show.clear()
    if json_out:
        emit(result.doc)
    else:
        typer.echo(render_target(result.doc))
    raise typer.Exit(EXIT[result.doc.verdict])
