"""tunekit check [PROFILE]"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import (
    ConnsOpt,
    ConstOpt,
    JsonOpt,
    MemTotalOpt,
    ProfileArg,
    RootOpt,
    SnapshotOpt,
    emit,
    parse_consts,
    parse_count,
    parse_size,
)
from tunekit.errors import ExitCode

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command()
@handled
def check(
    profile: ProfileArg = None,
    conns: ConnsOpt = None,
    pid: Annotated[
        Optional[int], typer.Option(help="Audit the open-files limit of this process.")
    ] = None,
    process: Annotated[
        Optional[str],
        typer.Option(help="Audit the open-files limit of the process with this name."),
    ] = None,
    unit: Annotated[
        Optional[str], typer.Option(help="Audit the LimitNOFILE of this systemd unit.")
    ] = None,
    root: RootOpt = None,
    snapshot: SnapshotOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
    const: ConstOpt = None,
) -> None:
    """Diff the live host against a profile's targets: exit 0 COMPLIANT (every target read
    and passed), 1 NOT COMPLIANT (one fails), 5 INCOMPLETE (none fails, but some were not
    verified: absent, unreadable, not visible from here), 2 bad input.

    Ends with what applies at the next boot on the profile's keys (lint's findings), so a
    host that passes now and fails after a reboot says so."""
    from tunekit.ops.check import CheckOptions
    from tunekit.ops.check import check as run

    doc = run(
        CheckOptions(
            profile=profile,
            conns=parse_count(conns),
            pid=pid,
            process=process,
            unit=unit,
            root=root,
            snapshot=snapshot,
            mem_total=parse_size(mem_total),
            const=parse_consts(const),
        )
    )
    if json_out:
        emit(doc)
    else:
        from tunekit.output import text

        if doc.calibration:
            typer.echo(doc.calibration.describe())
        typer.echo(text.render_check(doc, f"tunekit apply {doc.profile} --dry-run"))
        if doc.boot is not None:
            typer.echo("")
            from tunekit.output.lint import render_boot

            typer.echo(render_boot(doc.boot.findings, doc.boot.unreadable, doc.boot.reverts))
    codes = {"compliant": ExitCode.OK, "not-compliant": ExitCode.FAILED}
    raise typer.Exit(codes.get(doc.verdict, ExitCode.INCOMPLETE))
