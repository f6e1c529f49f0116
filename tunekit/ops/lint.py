"""`lint`: the tuning lines a host carries (or the files given), checked against the kernel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import UsageError
from tunekit.ops import audit


@dataclass
class LintOptions:
    files: list[str] | None = None  # None: everything that applies at the next boot
    stdin: str | None = None  # the text of '-', when it is among the files
    root: Path | None = None
    profile: str | None = None
    fail_on: tuple | None = None  # verdicts that fail; None: the default set, (): none
    container: bool | None = None  # None: detected
    kernel: str | None = None


def lint(o: LintOptions):
    """The LintReport (lint.engine), which is also the `lint --json` document."""
    from tunekit.host import facts as host
    from tunekit.lint import engine, inputs
    from tunekit.lint.host import Host
    from tunekit.lint.report import DEFAULT_FAIL_ON
    from tunekit.lint.rules import parse_version

    base = o.root or Path("/")
    if o.root is not None:
        host.check_root(o.root)
    if o.kernel is not None:
        try:
            parse_version(o.kernel)
        except ValueError:
            raise UsageError(f"--kernel {o.kernel!r}: expected a version such as 6.8") from None
    machine = Host.of_root(base, o.container, o.kernel)
    boot, modules, unreadable = inputs.boot_inputs(base)
    machine.modules_at_boot = modules
    machine.set_at_boot = inputs.keys_set(boot)
    given = [inputs.read_input(f, o.stdin) for f in o.files] if o.files else boot
    targets = _profile_targets(o.profile, o.root) if o.profile else None
    return engine.lint(
        given,
        machine,
        profile=targets,
        mode="files" if o.files else "boot",
        fail_on=DEFAULT_FAIL_ON if o.fail_on is None else o.fail_on,
        unreadable=[] if o.files else unreadable,
    )


def _profile_targets(profile: str, root: Path | None) -> tuple[str, list]:
    state = audit.state_dir(None, root)
    prof, why = audit.load_profile(profile, None, state, root)
    result = audit.run(prof, why, root=root, state=state)
    return prof.name, result.targets
