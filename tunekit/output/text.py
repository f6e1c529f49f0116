"""Turn documents into text a person reads at a glance: check, estimate, the plan (the
probe's and lint's are probe.py and lint.py). The JSON form is documents/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunekit.model.capacity import Estimate
from tunekit.model.check import Finding
from tunekit.model.constants import CONSTANTS

if TYPE_CHECKING:
    from tunekit.output.documents.check import Check


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def _quantity(value: int, unit: str) -> str:
    return human_bytes(value) if unit == "bytes" else f"{value:,} {unit}"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def _verdict(f: Finding) -> str:
    return f.verdict.upper() if f.verdict == "fail" else f.verdict


def render_check(r: Check, next_command: str) -> str:
    lines = [
        f"tunekit check: profile {r.profile} ({r.profile_why}); {r.connections:,} "
        f"connections, role {r.role}; {r.source}",
        "",
    ]
    rows = [["VERDICT", "KEY", "EXPECTED", "ACTUAL"]]
    rows += [[_verdict(f), f.key, f.expected, f.actual or "-"] for f in r.findings]
    lines += _table(rows)
    details = [f for f in r.findings if f.verdict not in ("pass",)]
    if details:
        lines += ["", "Why, and the fix:"]
        for f in details:
            lines.append(
                f"  {f.key} [{f.verdict}]: {f.reason}" + (f" ({f.source})" if f.source else "")
            )
            if f.fix:
                lines.append(f"      fix: {f.fix}")
    if r.environment:
        lines += ["", "Environment:"] + [f"  - {e}" for e in r.environment]
    parts = [f"{n} {v}" for v, n in r.counts.items() if n]
    summary = f"{len(r.findings)} checks: {', '.join(parts)}."
    if r.verdict == "compliant":
        lines += ["", f"{summary} COMPLIANT."]
    elif r.verdict == "not-compliant":
        lines += ["", f"{summary} NOT COMPLIANT. Next: {next_command}"]
    else:
        lines += [
            "",
            f"{summary} INCOMPLETE: nothing failed, but {len(r.unverified)} of "
            f"{len(r.findings)} were not verified:",
            *(f"  - {u}" for u in r.unverified),
        ]
    return "\n".join(lines)


def render_estimate(est: Estimate, source: str) -> str:
    lines = [
        f"tunekit estimate: {est.connections:,} connections, role {est.role}, "
        f"{est.rate:,} new/s; live limits from {source}",
        "",
        "What the workload needs:",
    ]
    lines += _table([[n.name, _quantity(n.value, n.unit), n.detail] for n in est.needs])
    lines += ["", "What the live settings allow (lowest first; the first one binds):"]
    if est.limits:
        rows = [
            [
                f"{i}.",
                lim.name,
                f"{lim.allows:,}",
                "ok" if lim.allows >= est.connections else "BELOW",
                lim.detail,
            ]
            for i, lim in enumerate(est.limits, 1)
        ]
        lines += _table(rows)
        b = est.limits[0]
        verdict = (
            "holds"
            if b.allows >= est.connections
            else f"stops at {b.allows:,}: {b.name} bites first"
        )
        lines += ["", f"Binding constraint: {verdict}."]
    else:
        lines.append("  (no live limit could be read from this source)")
    if est.rate_limits:
        lines += ["", "Rates the live settings allow (per second):"]
        lines += _table(
            [
                [
                    lim.name,
                    f"{lim.allows:,}/s",
                    "ok" if lim.allows >= est.rate else "BELOW",
                    lim.detail,
                ]
                for lim in est.rate_limits
            ]
        )
    for note in est.notes:
        lines.append(f"Note: {note}")
    for why in est.unfit:
        lines.append(f"DOES NOT FIT: {why}")
    changed = {k: v for k, v in est.constants.items() if v != CONSTANTS[k].value}
    lines += [
        "",
        "Constants (override with --const NAME=VALUE; sources in --json and the README): "
        + ", ".join(f"{k}={v:g}" for k, v in est.constants.items()),
    ]
    if changed:
        lines.append("Overridden: " + ", ".join(f"{k}={v:g}" for k, v in changed.items()))
    return "\n".join(lines)


def render_plan(plan, dry_run: bool) -> str:
    import difflib

    head = "tunekit apply --dry-run" if dry_run else "tunekit apply"
    lines = [f"{head}: profile {plan.profile} ({plan.profile_why}); root {plan.root}", ""]
    if plan.changes:
        lines.append(f"Runtime changes ({len(plan.changes)}), in this order:")
        for c in plan.changes:
            where = f"/{c.path}" if c.kind != "rlimit" else c.path
            lines.append(f"  {c.key}: {c.old or '(unset)'} -> {c.new}   [{where}]")
            if c.reason:
                lines.append(f"      why: {c.reason}")
    else:
        lines.append("Runtime changes: none")
    changed = [f for f in plan.files if f.content != f.old]
    if changed:
        lines += ["", f"Files ({len(changed)}), each written atomically, mode 0644:"]
        for f in changed:
            if f.old is None:
                lines.append(f"  /{f.path} (new file):")
                lines += [f"    | {line}" for line in f.content.splitlines()]
            else:
                lines.append(f"  /{f.path} (changed):")
                diff = difflib.unified_diff(
                    f.old.splitlines(),
                    f.content.splitlines(),
                    f"/{f.path} (now)",
                    f"/{f.path} (after apply)",
                    lineterm="",
                )
                lines += [f"    {line}" for line in diff]
    if plan.left_alone:
        lines += ["", "Left alone:"] + [f"  - {x}" for x in plan.left_alone]
    if plan.conflicts:
        lines += ["", "Boot-time conflicts (these files are applied after tunekit's):"]
        lines += [f"  - {x}" for x in plan.conflicts]
    if plan.unfit:
        lines += [
            "",
            "DOES NOT FIT THIS HOST: the values above let the kernel take the workload, "
            "but this host cannot hold all of it (more RAM or fewer connections is the fix):",
        ] + [f"  - {x}" for x in plan.unfit]
    return "\n".join(lines)
