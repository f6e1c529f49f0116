"""The command line: the app, its commands (loaded lazily, one module each), and the one
place where errors become a line on stderr and an exit code.

Exit codes (errors.ExitCode): 0 compliant/done, 1 not compliant / findings / stopped
short, 2 bad input, 3 not permitted or unsupported environment, 4 apply failed and was
rolled back, 130 interrupted. Set TUNEKIT_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys

import click
import typer
from typer.core import TyperGroup

from tunekit.errors import ExitCode, TunekitError

# name -> one line of help; `tunekit --help` lists them without importing every command
COMMANDS = {
    "check": "Diff the live host against a profile's targets; exit 1 if any target fails.",
    "estimate": "What N connections need, what the live settings allow, which limit binds.",
    "apply": "Make this host meet a profile: runtime writes, drop-ins, a journal to undo.",
    "rollback": "Undo the last apply: restore the previous runtime values and files exactly.",
    "probe": "Open N connections for real (loopback, or --target your own server); what stops.",
    "lint": "Flag dead, harmful, no-op and mistaken tuning lines, with why, fix and source.",
    "profiles": "List the profiles, or show one's resolved targets.",
    "schema": "Print the JSON Schema of a command's --json document.",
}


class LazyGroup(TyperGroup):
    """Imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"tunekit.cli.commands.{cmd_name}")
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


app = typer.Typer(
    cls=LazyGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def tunekit() -> None:
    """Audit, estimate and apply Linux kernel tuning for hosts that hold or open millions
    of TCP connections."""


def handled(func):
    """The one place where tunekit's errors become a line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TunekitError as err:
            if os.environ.get("TUNEKIT_DEBUG"):
                raise
            typer.echo(f"tunekit: error: {err.message}", err=True)
            if err.hint:
                typer.echo(f"  hint: {err.hint}", err=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("tunekit: interrupted", err=True)
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return wrapper


def run(args: list[str] | None = None) -> int:
    """Run the CLI; the exit code. click's own usage errors (an unknown option, a missing
    value, a bad integer) become one `tunekit: error:` line and exit 2, like tunekit's."""
    try:
        code = app(args, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        typer.echo(err.ctx.get_help() if err.ctx else str(err))
        code = ExitCode.OK
    except click.UsageError as err:
        typer.echo(f"tunekit: error: {err.format_message()}", err=True)
        if err.ctx is not None:
            typer.echo(f"  hint: {err.ctx.command_path} --help", err=True)
        code = ExitCode.USAGE
    except click.exceptions.Exit as err:
        code = err.exit_code
    except (click.Abort, KeyboardInterrupt):
        typer.echo("tunekit: interrupted", err=True)
        code = ExitCode.INTERRUPTED
    return int(code) if isinstance(code, int) else 0


def main() -> None:
    """For `python -m tunekit.cli.app` and tests: run, then exit with the code."""
    sys.exit(run())
