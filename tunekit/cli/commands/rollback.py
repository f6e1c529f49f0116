"""tunekit rollback"""

from __future__ import annotations

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import JsonOpt, RootOpt, StateDirOpt, emit
from tunekit.errors import ExitCode

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command()
@handled
def rollback(
    root: RootOpt = None, state_dir: StateDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Undo the last apply: restore the previous runtime values and files exactly.

    Run it again to undo the apply before that, one at a time. An apply that was killed
    half-way is found and undone first. Exit 0 done (or nothing to undo), 3 a journal that
    is not ours or not for this root, 4 an item could not be restored."""
    from tunekit.ops.rollback import RollbackOptions
    from tunekit.ops.rollback import rollback as run

    doc, journal, state = run(RollbackOptions(root=root, state_dir=state_dir))
    if json_out:
        emit(doc)
    else:
        for line in doc.recovered:
            typer.echo(f"Recovered: {line}")
        if journal is None:
            typer.echo(f"Nothing to undo: no applied journal in {state / 'journals'}.")
        else:
            typer.echo(f"Rolled back the apply of {journal.profile} from {journal.created}:")
            for r in journal.runtime:
                typer.echo(f"  {r.key}: {r.new} -> {r.old}")
            for f in journal.files:
                kind = f.before.kind
                typer.echo(f"  /{f.path}: " + ("removed" if kind == "absent" else "restored"))
            for p in doc.problems:
                typer.echo(f"  COULD NOT RESTORE: {p}")
    if doc.problems:
        raise typer.Exit(ExitCode.APPLY_FAILED)
