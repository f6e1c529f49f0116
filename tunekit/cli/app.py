"""The command line: the app, its commands (loaded lazily, one module each), and the one
place where errors become a line on stderr and an exit code.

Exit codes (errors.ExitCode): 0 compliant/done, 1 not compliant / findings / stopped
short, 2 bad input, 3 not permitted or unsupported environment, 4 apply failed and was
rolled back, 5 incomplete (nothing failed, something was not verified), 70 a bug, 130
interrupted. Set TUNEKIT_DEBUG=1 for tracebacks.
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
    "status": "How close this host is to every limit now; --watch, --prometheus FILE.",
    "profiles": "List the profiles, or show one's resolved targets.",
    "export": "Render apply's plan for TuneD, Ansible, Kubernetes, or as plain drop-ins.",
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


_JSON_ERRORS = {"on": False}  # --json was asked: an error is also a document on stdout


def _say(message: str, hint: str | None = None, code: int = 2) -> None:
    """One line on stderr (and a hint): never a traceback, even when stderr is gone. Under
    --json, standard output gets {"error", "hint", "exit_code"} too, so a script that
    parses stdout reads why instead of nothing."""
    try:
        typer.echo(f"tunekit: error: {message}", err=True)
        if hint:
            typer.echo(f"  hint: {hint}", err=True)
        if _JSON_ERRORS["on"]:
            import json

            typer.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    except (OSError, ValueError):
        pass


def handled(func):
    """The one place where errors become a line on stderr and an exit code: tunekit's own
    (TunekitError: its code), Ctrl-C (130), the environment refusing an operation no layer
    expected to fail (OSError, such as stdout on a full device: 3), and anything else (a
    bug: one line, 70; TUNEKIT_DEBUG=1 shows the traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _JSON_ERRORS["on"] = bool(kwargs.get("json_out"))
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as err:
            if os.environ.get("TUNEKIT_DEBUG"):
                raise
            raise typer.Exit(_exit_code(err)) from None
        except KeyboardInterrupt:
            _say("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return wrapper


def _exit_code(err: Exception) -> ExitCode:
    if isinstance(err, TunekitError):
        _say(err.message, err.hint, err.exit_code)
        return err.exit_code
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else " (writing the output)"
        _say(f"{err.strerror or err}{where}", code=ExitCode.NOT_PERMITTED)
        return ExitCode.NOT_PERMITTED
    if isinstance(err, RecursionError):
        _say("input nested too deeply to read", "simplify it; no tuning file needs that")
        return ExitCode.USAGE
    _say(
        f"internal error: {type(err).__name__}: {str(err)[:200]}",
        "please report it; TUNEKIT_DEBUG=1 shows the traceback",
        ExitCode.SOFTWARE,
    )
    return ExitCode.SOFTWARE


def run(args: list[str] | None = None) -> int:
    """Run the CLI; the exit code. click's own usage errors (an unknown option, a missing
    value, a bad integer) become one `tunekit: error:` line and exit 2, like tunekit's."""
    _JSON_ERRORS["on"] = "--json" in (sys.argv[1:] if args is None else args)
    try:
        code = app(args, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        typer.echo(err.ctx.get_help() if err.ctx else str(err))
        code = ExitCode.OK
    except click.UsageError as err:
        _say(err.format_message(), f"{err.ctx.command_path} --help" if err.ctx else None)
        code = ExitCode.USAGE
    except Exception as err:  # raised before a command ran (its import, say): as handled
        if os.environ.get("TUNEKIT_DEBUG"):
            raise
        code = _exit_code(err)
    except click.exceptions.Exit as err:
        code = err.exit_code
    except (click.Abort, KeyboardInterrupt):
        _say("interrupted")
        code = ExitCode.INTERRUPTED
    return int(code) if isinstance(code, int) else 0


def main() -> None:
    """For `python -m tunekit.cli.app` and tests: run, then exit with the code."""
    sys.exit(run())
