"""`check`: the audit, and the boot-time section, as the document the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunekit.ops import audit
from tunekit.output.documents.check import BootConfig, Check


@dataclass
class CheckOptions:
    profile: str | None = None  # name or path; None: the last applied, else server-1M
    conns: int | None = None
    pid: int | None = None
    process: str | None = None
    unit: str | None = None
    root: Path | None = None
    snapshot: Path | None = None
    mem_total: int | None = None
    const: dict[str, float] = field(default_factory=dict)
    state_dir: Path | None = None  # where the last applied profile and the calibration are


def boot_config(root: Path | None, profile: str, targets: list) -> BootConfig:
    """What applies at the next boot, on the profile's keys (lint's findings)."""
    from tunekit.lint.boot import boot_section
    from tunekit.lint.report import DEFAULT_FAIL_ON

    findings, unreadable = boot_section(root or Path("/"), profile, targets)
    fails = any(f.verdict in DEFAULT_FAIL_ON + ("conflict",) for f in findings)
    return BootConfig(findings=findings, fails_after_reboot=fails, unreadable=unreadable)


def check(o: CheckOptions) -> Check:
    from tunekit.model.check import environment

    state = audit.state_dir(o.state_dir, o.root)
    prof, why = audit.load_profile(o.profile, o.conns, state, o.root)
    result = audit.run(
        prof,
        why,
        root=o.root,
        snapshot=o.snapshot,
        mem_total=o.mem_total,
        const=o.const,
        state=state,
        pid=o.pid,
        process=o.process,
        unit=o.unit,
    )
    facts = result.facts
    return Check(
        profile=prof.name,
        profile_why=why,
        connections=prof.workload.connections,
        role=prof.workload.role,
        source=facts.source + (f", kernel {facts.kernel}" if facts.kernel else ""),
        findings=result.findings,
        environment=environment(facts),
        estimate=result.estimate,
        calibration=result.calibration,
        boot=None if o.snapshot is not None else boot_config(o.root, prof.name, result.targets),
    )
