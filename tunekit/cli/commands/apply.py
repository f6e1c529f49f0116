"""tunekit apply [PROFILE]"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import (
    ConnsOpt,
    JsonOpt,
    MemTotalOpt,
    ProfileArg,
    RootOpt,
    StateDirOpt,
    emit,
    parse_count,
    parse_size,
)

app = typer.Typer(add_completion=False, rich_markup_mode=None)


DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print every change and file that would be written; change nothing."
    ),
]
NoPersist = Annotated[
    bool,
    typer.Option("--no-persist", help="Change the running kernel only; write no drop-in files."),
]
Scope = Annotated[
    str,
    typer.Option(
        help="all, or namespace: only keys of this network namespace (what a container owns)."
    ),
]
Pid = Annotated[
    Optional[int],
    typer.Option(help="Also raise the open-files limit of this running process (prlimit)."),
]
Unit = Annotated[
    Optional[str], typer.Option(help="Also write a LimitNOFILE= drop-in for this systemd unit.")
]


@app.command()
@handled
def apply(
    profile: ProfileArg = None,
    conns: ConnsOpt = None,
    dry_run: DryRun = False,
    no_persist: NoPersist = False,
    scope: Scope = "all",
    pid: Pid = None,
    unit: Unit = None,
    root: RootOpt = None,
    state_dir: StateDirOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make this host meet a profile: runtime writes, drop-in files, a journal to undo them.

    Only failing targets are changed, and never lowered below what already satisfies them.
    Exit 0 done (or already compliant), 2 invalid value (nothing written), 3 not root or
    another apply running, 4 failed and rolled back."""
    from tunekit.ops import apply as op
    from tunekit.output import text

    o = op.ApplyOptions(
        profile=profile,
        conns=parse_count(conns),
        persist=not no_persist,
        scope=scope,
        pid=pid,
        unit=unit,
        root=root,
        state_dir=state_dir,
        mem_total=parse_size(mem_total),
    )
    doc = op.dry_run(o) if dry_run else op.apply(o)
    if json_out:
        emit(doc)
        return
    if dry_run:
        typer.echo(text.render_plan(doc, dry_run=True))
        typer.echo(
            "\nThis host already complies: nothing to change."
            if doc.empty
            else "\nDry run: nothing was changed."
        )
        return
    for line in doc.recovered:
        typer.echo(f"Recovered: {line}")
    if not doc.applied:
        typer.echo(f"This host already complies with {doc.profile}: nothing to change.")
    else:
        typer.echo(text.render_plan(doc, dry_run=False))
        typer.echo(
            f"\nApplied. Journal in {doc.state_dir}/journals. Undo: tunekit rollback"
            + (f" --root {root}" if root else "")
            + (f" --state-dir {state_dir}" if state_dir else "")
        )
