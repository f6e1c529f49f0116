"""The one audit pipeline: profile -> facts -> constants (calibration, --const) -> estimate
-> targets -> findings. check, apply, estimate, `profiles show` and lint's --profile all
call `run`; they differ only in what they do with the result.

This is the seam between the host layer (which reads) and the engine (which decides); it
reads nothing itself but through host/, and decides nothing itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tunekit.errors import UsageError

if TYPE_CHECKING:  # imported where used: check's start-up stays light
    from tunekit.model.capacity import Estimate
    from tunekit.model.check import Finding
    from tunekit.model.facts import HostFacts
    from tunekit.model.profiles import Profile, Target
    from tunekit.persist.calibration import Calibration


@dataclass
class Audit:
    profile: Profile
    why: str
    facts: HostFacts
    constants: dict[str, float]
    calibration: Calibration | None
    estimate: Estimate
    targets: list[Target] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def state_dir(given: Path | None = None, root: Path | None = None) -> Path:
    """--state-dir, else $TUNEKIT_STATE_DIR, else var/lib/tunekit under the root. Every use
    case starts here, so a --root is checked here first (one message for a bad --root)."""
    from tunekit.host.facts import check_root
    from tunekit.persist.state import locate

    if root is not None:
        check_root(root)
    return locate(given, root)


def choose_profile(ref: str | None, state: Path, root: Path | None = None) -> tuple[str, str]:
    """The profile named, else the one last applied on this host (its journal checked as
    rollback checks it), else server-1M; and why."""
    from tunekit.knowledge.profiles import DEFAULT_PROFILE

    if ref is not None:
        if not ref.strip():
            raise UsageError("empty profile name", "name a profile, or omit it for the default")
        return ref, "named on the command line"
    from tunekit.persist.journal import last_applied_profile
    from tunekit.persist.state import StateDir

    opened = StateDir.open(state, root)
    if opened is not None:
        with opened:
            last = last_applied_profile(opened, root or Path("/"))
        if last:
            return last[0], f"last applied on this host, from {last[1]}"
    return DEFAULT_PROFILE, "no profile named and none applied on this host: the default"


def load_profile(ref: str | None, conns: int | None, state: Path, root: Path | None = None):
    """(profile rescaled to `conns`, why this profile)."""
    from tunekit.knowledge import profiles
    from tunekit.model import targets

    name, why = choose_profile(ref, state, root)
    return targets.with_connections(profiles.load(name), conns), why


def gather_facts(profile, root: Path | None, snapshot: Path | None, mem_total: int | None = None):
    from tunekit.host import facts as host

    if root is not None and snapshot is not None:
        raise UsageError("--root and --snapshot exclude each other")
    if mem_total is not None and snapshot is None and root is None:
        raise UsageError(
            "--mem-total goes with --snapshot or --root: the live host has proc/meminfo"
        )
    extra = [t.entry for t in profile.targets]
    if snapshot is not None:
        return host.read_snapshot(snapshot, mem_total)
    w = profile.workload
    client = w.role == "client"
    facts = host.read_facts(
        root or Path("/"), addresses=client and not w.source_ips, extra=extra, listening=client
    )
    if mem_total is not None:
        if facts.mem_total is not None:
            raise UsageError(
                f"--mem-total: {root} has its own proc/meminfo "
                f"(MemTotal {facts.mem_total:,} bytes)",
                "drop --mem-total",
            )
        facts.mem_total = mem_total
    return facts


def audit_process(facts, pid: int | None, process: str | None, unit: str | None) -> None:
    """Read the open-files limit of the workload's process instead of tunekit's own."""
    from tunekit.host import processes

    chosen = [x for x in (pid, process, unit) if x is not None]
    if len(chosen) > 1:
        raise UsageError("--pid, --process and --unit exclude each other")
    if chosen and facts.source != "live":
        raise UsageError(
            "--pid, --process and --unit read a live process: they make no sense "
            f"with {facts.source.split()[0]} (--root or --snapshot)"
        )
    if pid is not None:
        if pid <= 0:
            raise UsageError(f"--pid {pid}: not a process id")
        facts.nofile, facts.nofile_of = processes.nofile_of_pid(pid)
    elif process is not None:
        facts.nofile, facts.nofile_of = processes.nofile_of_process(process)
    elif unit is not None:
        facts.nofile, facts.nofile_of = processes.nofile_of_unit(unit)
    facts.nofile_is_workload = bool(chosen)


def load_constants(const: dict[str, float], facts, state: Path, root: Path | None = None):
    """The capacity constants: --const, over the local calibration, over the built-ins."""
    from tunekit.model.constants import constants
    from tunekit.persist import calibration

    cal = calibration.load(state, facts.kernel or os.uname().release, root)
    return constants({**(cal.active if cal else {}), **const}), cal


def run(
    profile,
    why: str,
    *,
    root: Path | None = None,
    snapshot: Path | None = None,
    mem_total: int | None = None,
    const: dict[str, float] | None = None,
    state: Path | None = None,
    pid: int | None = None,
    process: str | None = None,
    unit: str | None = None,
    facts: HostFacts | None = None,
) -> Audit:
    """`facts`: already read by the caller (status reads its own, each reading, without
    /proc/net/tcp), instead of gather_facts."""
    from tunekit.model import capacity, targets
    from tunekit.model.check import run_check

    if facts is None:
        facts = gather_facts(profile, root, snapshot, mem_total)
    audit_process(facts, pid, process, unit)
    c, cal = load_constants(const or {}, facts, state or state_dir(None, root), root)
    est = capacity.estimate(profile.workload, facts, c)
    resolved = targets.resolve_targets(profile, facts, c)
    return Audit(profile, why, facts, c, cal, est, resolved, run_check(resolved, facts, est))
