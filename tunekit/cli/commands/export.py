"""tunekit export FORMAT [PROFILE]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import (
    ConnsOpt,
    JsonOpt,
    MemTotalOpt,
    ProfileArg,
    RootOpt,
    emit,
    parse_count,
    parse_size,
)

app = typer.Typer(add_completion=False, rich_markup_mode=None)

FormatArg = Annotated[
    str, typer.Argument(metavar="FORMAT", help="sysctl, ansible, tuned or kubernetes.")
]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--output", help="Write the files under this directory (created); default: print them."
    ),
]


@app.command()
@handled
def export(
    fmt: FormatArg,
    profile: ProfileArg = None,
    conns: ConnsOpt = None,
    output: OutputOpt = None,
    root: RootOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Render what `apply` would do for another tool: sysctl (the exact drop-in files),
    ansible (tasks, ansible-core modules only), tuned (a TuneD profile), kubernetes (a
    pod's securityContext.sysctls, and what belongs to the node).

    The plan is the one `apply --dry-run` makes against the live host or --root; notes
    (what the format cannot say) go to stderr. Exit 0 done, 2 bad input."""
    from tunekit.ops.export import ExportOptions
    from tunekit.ops.export import export as run

    doc = run(
        ExportOptions(
            format=fmt,
            profile=profile,
            conns=parse_count(conns),
            output=output,
            root=root,
            mem_total=parse_size(mem_total),
        )
    )
    if json_out:
        emit(doc)
        return
    for note in doc.notes:
        typer.echo(f"note: {note}", err=True)
    if output is not None:
        typer.echo(f"tunekit export {fmt}: profile {doc.profile}; {len(doc.files)} file(s):")
        for f in doc.files:
            typer.echo(f"  {output / f.path}")
    elif len(doc.files) == 1:
        typer.echo(doc.files[0].content, nl=False)
    else:
        for i, f in enumerate(doc.files):
            sep = "---\n" if fmt == "kubernetes" and i else ""
            typer.echo(f"{sep}# ==> {f.path} <==\n{f.content}", nl=False)
