"""tunekit profiles [show NAME]"""

from __future__ import annotations

from typing import Annotated

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import ConnsOpt, JsonOpt, RootOpt, emit, parse_count

app = typer.Typer(
    help="List the profiles, or show one's resolved targets.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
@handled
def profiles_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the profiles found: built-ins, /etc/tunekit/profiles, ~/.config/tunekit/profiles."""
    if ctx.invoked_subcommand is not None:
        return
    from tunekit.ops.profiles import list_profiles

    doc = list_profiles()
    if json_out:
        emit(doc)
        return
    for r in doc.profiles:
        if r.error:
            typer.echo(f"{r.name:16} INVALID: {r.error}")
        else:
            typer.echo(f"{r.name:16} {r.role:7} {r.connections:>11,}  {r.description}")
    typer.echo("\nSearch path (later wins): " + ", ".join(doc.search_path))


@app.command("show")
@handled
def profiles_show(
    name: Annotated[str, typer.Argument(help="Profile name or path.")],
    conns: ConnsOpt = None,
    root: RootOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a profile's workload and resolved targets, each with its reason and source."""
    from tunekit.model.check import describe
    from tunekit.ops.profiles import ShowOptions, show

    doc = show(ShowOptions(name=name, conns=parse_count(conns), root=root))
    if json_out:
        emit(doc)
        return
    typer.echo(f"{doc.name}: {doc.description}\n  from {doc.path}")
    typer.echo("  workload: " + ", ".join(f"{k}={v}" for k, v in doc.workload.items()))
    if doc.calibration:
        typer.echo(f"  {doc.calibration.describe()}")
    typer.echo("")
    from tunekit.model.profiles import Target

    for t in doc.targets:
        target = Target.model_validate(t.model_dump(exclude={"pinned"}))
        tag = "pinned" if t.pinned else "derived"
        typer.echo(f"  {target.label} {describe(target)}  [{tag}]\n      {t.reason} ({t.source})")
