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


def boot_config(root: Path | None, profile: str, targets: list, result=None) -> BootConfig:
    """What applies at the next boot, on the profile's keys (lint's findings), and the
    targets that pass now only until then."""
    from tunekit.lint.boot import boot_section
    from tunekit.lint.report import DEFAULT_FAIL_ON

    findings, unreadable = boot_section(root or Path("/"), profile, targets)
    reverts = _reverts(root or Path("/"), result) if result is not None else []
    fails = any(f.verdict in DEFAULT_FAIL_ON + ("conflict",) for f in findings) or bool(reverts)
    return BootConfig(
        findings=findings, fails_after_reboot=fails, unreadable=unreadable, reverts=reverts
    )


def _reverts(root: Path, result) -> list[str]:
    """On a live host, each sysctl target that passes now but not with what the next boot
    gives it: the last assignment of the boot files, else the kernel's default on this
    host (knowledge/defaults.py). A value set by hand (`sysctl -w`) that no file keeps."""
    from tunekit.host import bootset
    from tunekit.knowledge.defaults import of
    from tunekit.model import values
    from tunekit.model.check import satisfied

    facts = result.facts
    if facts.source != "live":
        return []
    at_boot = bootset.assignments(bootset.sysctl_files(root), "")
    failing = {f.key for f in result.findings if f.verdict != "pass"}
    ctx = facts.boot_context()
    out = []
    for t in result.targets:
        key = t.entry
        if key.kind != "sysctl" or t.label in failing or key.name not in facts.sysctls:
            continue
        where = at_boot.get(key.name)
        if where is not None:
            text, source = where.rpartition(" = ")[2], where.partition(": ")[0]
        else:
            d = of(key, ctx)
            if d is None or d.exact is None:
                continue  # the boot value is not one known number: nothing to claim
            text, source = " ".join(map(str, d.exact)), f"the kernel's default: {d.how}"
        try:
            boot = values.parse(key, text)
        except ValueError:
            continue
        if not satisfied(t, boot):
            out.append(
                f"{t.label}: passes now ({facts.sysctls[key.name]}), but the next boot gives "
                f"{text} ({source}), which fails {t.op.replace('_', ' ')} "
                f"{values.text(t.value)}: nothing persists the live value "
                f"(tunekit apply {result.profile.name} writes it to sysctl.d)"
            )
    return out


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
        boot=None
        if o.snapshot is not None
        else boot_config(o.root, prof.name, result.targets, result),
    )
