"""tunekit schema DOCUMENT"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tunekit.cli.app import handled
from tunekit.errors import UsageError

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command()
@handled
def schema(
    document: Annotated[
        str,
        typer.Argument(
            help="check, estimate, apply, rollback, probe, probe-target, profiles, "
            "profiles-show, lint, export or status."
        ),
    ],
) -> None:
    """Print the JSON Schema of a command's --json document."""
    from tunekit.output import documents

    if document not in documents.SCHEMAS:
        raise UsageError(f"no document {document!r}", f"one of: {', '.join(documents.SCHEMAS)}")
    typer.echo(json.dumps(documents.schema(document), indent=2))
