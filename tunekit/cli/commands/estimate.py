"""tunekit estimate --conns N"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import (
    ConstOpt,
    JsonOpt,
    MemTotalOpt,
    RootOpt,
    SnapshotOpt,
    emit,
    parse_consts,
    parse_required_count,
    parse_size,
)

app = typer.Typer(add_completion=False, rich_markup_mode=None)


Conns = Annotated[
    str, typer.Option("--conns", help="Connections to hold or open (1000000, 200k, 1M).")
]
Role = Annotated[str, typer.Option(help="server, client or host (conntrack).")]
Rate = Annotated[Optional[int], typer.Option(help="New connections per second.")]
Destinations = Annotated[
    Optional[int], typer.Option(help="Distinct destination ip:port pairs (client).")
]
SourceIps = Annotated[
    Optional[int], typer.Option(help="Client source addresses; default: this host's.")
]
BytesBuffered = Annotated[
    Optional[int], typer.Option(help="Bytes queued in kernel buffers per connection.")
]
AppBytes = Annotated[Optional[int], typer.Option(help="Application memory per connection.")]
Processes = Annotated[Optional[int], typer.Option(help="Processes sharing the connections.")]
Closes = Annotated[
    Optional[str],
    typer.Option(help="Which side closes first and holds TIME_WAIT: local or remote."),
]
ListenBacklog = Annotated[
    Optional[int],
    typer.Option(help="Backlog the server passes to listen() (ss -lnt: Send-Q of the listener)."),
]


@app.command()
@handled
def estimate(
    conns: Conns,
    role: Role = "server",
    rate: Rate = None,
    destinations: Destinations = None,
    source_ips: SourceIps = None,
    bytes_buffered: BytesBuffered = None,
    app_bytes: AppBytes = None,
    processes: Processes = None,
    closes: Closes = None,
    listen_backlog: ListenBacklog = None,
    const: ConstOpt = None,
    root: RootOpt = None,
    snapshot: SnapshotOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What N connections need, what the live settings allow, and which limit binds first.

    Workload values not given come from the role's built-in profile (server-1M,
    client-flood, host-conntrack)."""
    from tunekit.ops.estimate import EstimateOptions
    from tunekit.ops.estimate import estimate as run

    workload = {
        "rate": rate,
        "destinations": destinations,
        "source_ips": source_ips,
        "bytes_buffered": bytes_buffered,
        "app_bytes": app_bytes,
        "processes": processes,
        "closes": closes,
        "listen_backlog": listen_backlog,
    }
    doc = run(
        EstimateOptions(
            conns=parse_required_count(conns),
            role=role,
            workload=workload,
            root=root,
            snapshot=snapshot,
            mem_total=parse_size(mem_total),
            const=parse_consts(const),
        )
    )
    if json_out:
        emit(doc)
        return
    from tunekit.output import text

    typer.echo(f"(workload values not given come from profile {doc.workload_defaults_from})")
    if doc.calibration:
        typer.echo(f"({doc.calibration.describe()})")
    typer.echo(text.render_estimate(doc, doc.source))
