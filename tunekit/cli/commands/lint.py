"""tunekit lint [FILE ...]"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from tunekit.cli.app import handled
from tunekit.cli.options import JsonOpt, RootOpt, emit
from tunekit.errors import ExitCode, UsageError

app = typer.Typer(add_completion=False, rich_markup_mode=None)


Files = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Files to lint, in the order they apply ('-' reads standard input). None: "
        "everything that applies at the next boot (sysctl.d search path, sysctl.conf, "
        "limits.conf and limits.d, systemd system.conf(.d), modprobe.d).",
        show_default=False,
    ),
]
Profile = Annotated[
    Optional[str],
    typer.Option(help="Also report values that fail this profile's targets (conflict)."),
]
FailOn = Annotated[
    Optional[str],
    typer.Option(
        help="Verdicts that make the exit code 1, comma-separated, or all or none "
        "[default: harmful,dead,syntax,units].",
        show_default=False,
    ),
]
Container = Annotated[
    Optional[bool],
    typer.Option(
        "--container/--no-container",
        help="Lint as the configuration of a container (its own network namespace); "
        "default: detected (the running namespace has no global net keys).",
        show_default=False,
    ),
]
Kernel = Annotated[
    Optional[str], typer.Option(help="Check version-dependent rules for this kernel (e.g. 5.15).")
]


@app.command()
@handled
def lint(
    files: Files = None,
    root: RootOpt = None,
    profile: Profile = None,
    fail_on: FailOn = None,
    container: Container = None,
    kernel: Kernel = None,
    json_out: JsonOpt = False,
) -> None:
    """Flag dead, harmful, no-op and mistaken tuning lines, with why, fix and source.

    FILES ('-' for standard input), in the order they apply: sysctl.conf and sysctl.d,
    `sysctl -a` output, limits.conf, shell scripts, systemd system.conf and units,
    modprobe.d, YAML (compose and Kubernetes sysctls and pod commands, Ansible tasks,
    Salt, Hiera, cloud-init, OpenShift Tuned), Dockerfiles, NixOS modules (*.nix), Chef
    cookbooks (*.rb), Puppet manifests (*.pp) and TuneD profiles; a template (*.j2, *.m4,
    ...) as what it renders to. None: everything that applies at the next boot of this
    host (or of --root).

    Exit 0: no finding at or above --fail-on; 1: some; 5: none, but a file could not be
    read, or a script was read only part-way (incomplete); 2: bad input (a file in none
    of these formats, an unknown verdict)."""
    from tunekit.lint.rules import parse_fail_on
    from tunekit.ops.lint import LintOptions
    from tunekit.ops.lint import lint as run

    report = run(
        LintOptions(
            files=files,
            stdin=_read_stdin() if files and "-" in files else None,
            root=root,
            profile=profile,
            fail_on=parse_fail_on(fail_on),
            container=container,
            kernel=kernel,
        )
    )
    if json_out:
        emit(report)
    else:
        from tunekit.output.lint import render_lint

        typer.echo(render_lint(report))
    codes = {"failed": ExitCode.FAILED, "incomplete": ExitCode.INCOMPLETE}
    raise typer.Exit(codes.get(report.verdict, ExitCode.OK))


def _read_stdin(limit: int = 1 << 20) -> str:
    if sys.stdin is None:
        raise UsageError("standard input is closed: nothing to lint for '-'")
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"standard input: larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("standard input: not text (not UTF-8)") from None
