"""`apply`: the audit, the plan from its findings, and its execution under the lock.

lock -> recover what a killed apply left -> plan again against what is there now ->
execute (journal first, undo on failure). The Ansible module and the CLI both call this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import ApplyFailed, NotPermitted, UsageError
from tunekit.ops import audit
from tunekit.output.documents.apply import Apply


@dataclass
class ApplyOptions:
    profile: str | None = None  # name or path; None: the last applied, else server-1M
    conns: int | None = None
    persist: bool = True  # False: the running kernel only, no drop-in files
    scope: str = "all"  # all, or namespace: only keys of this network namespace
    pid: int | None = None  # also raise this running process's open-files limit
    unit: str | None = None  # also write a LimitNOFILE= drop-in for this systemd unit
    root: Path | None = None
    state_dir: Path | None = None
    mem_total: int | None = None  # an image's RAM (--mem-total with --root)


def _checked(o: ApplyOptions) -> tuple[Path, bool, Path]:
    """(root, whether it is the live host, state directory), after the option checks."""
    from tunekit.model.plan import unit_name_ok

    if o.scope not in ("all", "namespace"):
        raise UsageError(f"--scope {o.scope!r}: expected all or namespace")
    if o.unit is not None and not unit_name_ok(o.unit):
        raise UsageError(f"--unit {o.unit!r}: not a systemd unit name")
    base = o.root or Path("/")
    live = base.resolve() == Path("/")
    if not live and (o.pid is not None or o.unit is not None):
        raise UsageError(
            f"--pid and --unit act on the live host: they make no sense with --root {o.root}"
        )
    return base, live, audit.state_dir(o.state_dir, o.root)


def make_plan(o: ApplyOptions, state: Path):
    """The audit, then the plan from its findings, with the files as they are now and the
    boot-time conflicts: (plan, facts). One function for --dry-run and for the apply."""
    from tunekit.host import bootset
    from tunekit.model.plan import Options, build_plan
    from tunekit.persist import executor, writers
    from tunekit.persist.writers import limits_d, sysctl_d, systemd

    base = o.root or Path("/")
    prof, why = audit.load_profile(o.profile, o.conns, state, o.root)
    result = audit.run(prof, why, root=o.root, state=state, pid=o.pid, mem_total=o.mem_total)
    opts = Options(
        scope=o.scope,
        pid=o.pid,
        unit=o.unit,
        persist=o.persist,
        soft_everywhere=prof.workload.soft_nofile_everywhere,
    )
    existing = executor.read_files(base, writers.paths(o.unit))
    files = bootset.sysctl_files(base) if o.persist else {}
    elsewhere = bootset.assignments(files, sysctl_d.PATH)
    mine = (limits_d.PATH, systemd.PATH)
    nofile = bootset.nofile_at_boot(base, mine) if o.persist else None
    plan = build_plan(
        result.findings, result.facts, prof.name, why, str(base), opts, existing, elsewhere, nofile
    )
    plan.unfit = list(result.estimate.unfit)
    if o.persist and plan.decided is not None:
        ours = {s.key.name: s.text for s in sysctl_d.settings(plan.decided)}
        plan.conflicts = bootset.later_assignments(files, ours, sysctl_d.PATH)
        if plan.decided.nofile is not None:
            plan.conflicts += bootset.later_nofile(base, mine, plan.decided.nofile.hard)
    return plan, result.facts


def dry_run(o: ApplyOptions) -> Apply:
    """Every change and file that apply would make; nothing is written."""
    _, _, state = _checked(o)
    plan, _ = make_plan(o, state)
    return Apply(**dict(plan), dry_run=True, applied=False)


def apply(o: ApplyOptions) -> Apply:
    """Make the host meet the profile. Only failing targets change, and never downwards
    below what already satisfies them. Raises UsageError (nothing written), NotPermitted
    (not root, another apply running, read-only /proc/sys) or ApplyFailed (rolled back)."""
    from tunekit.persist import executor, undo
    from tunekit.persist.state import JOURNALS, StateDir

    base, live, state = _checked(o)
    if live and os.geteuid() != 0:
        raise NotPermitted(
            "apply changes the kernel: run it as root",
            "tunekit apply --dry-run shows the plan without root",
        )
    make_plan(o, state)  # validates: an invalid value exits 2 before the state dir is touched
    opened = StateDir.open(state, o.root, create=True)
    assert opened is not None  # created
    with opened, opened.locked():  # then again under the lock, against what is there now
        recovered, problems = undo.recover(base, opened)
        if problems:
            raise ApplyFailed(
                "nothing applied: an interrupted apply could not be fully undone: "
                + "; ".join(problems),
                "fix what is named, then run tunekit rollback (it tries again)",
            )
        plan, facts = make_plan(o, state)
        if plan.empty:
            return Apply(**dict(plan), dry_run=False, applied=False, recovered=recovered)
        if facts.proc_sys_writable is False and any(ch.kind == "sysctl" for ch in plan.changes):
            raise NotPermitted(
                "/proc/sys is read-only here: the kernel settings must be set "
                "by the host or the container runtime",
                "try --scope namespace, or apply on the host",
            )
        _, journal = executor.execute(plan, base, opened)
    return Apply(
        **dict(plan),
        dry_run=False,
        applied=True,
        recovered=recovered,
        state_dir=str(state),
        journal=str(state / JOURNALS / journal),
    )
