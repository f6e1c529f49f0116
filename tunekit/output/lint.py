"""lint's report as text, and check's boot-time section."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunekit.lint.report import LintFinding, LintReport


LABELS = {
    "dead": "DEAD",
    "harmful": "HARMFUL",
    "units": "UNITS",
    "syntax": "SYNTAX",
    "no-op": "NO-OP",
    "risky": "RISKY",
    "conflict": "CONFLICT",
    "overridden": "OVERRIDDEN",
}


def render_lint(report: LintReport) -> str:
    h, fail_on = report.host, report.fail_on
    what = "what applies at next boot" if report.mode == "boot" else "files"
    lines = [
        f"tunekit lint: {what} ({len(report.files)} file(s), "
        f"{sum(f.settings for f in report.files)} setting(s)); kernel {h.kernel}, "
        f"live values: {h.live_values}" + (", inside a container" if h.container else "")
    ]
    current = None
    for f in report.findings:
        if f.file != current:
            current = f.file
            lines += ["", current]
        mark = "*" if f.verdict in fail_on else " "
        lines.append(f" {mark}{f.line:>4}  {LABELS[f.verdict]:<10} {f.text}")
        lines.append(f"         why: {f.why}")
        lines.append(f"         fix: {f.fix}")
        lines.append(f"         source: {f.source}")
    if not report.findings:
        lines += ["", "no findings"]
    if report.changes_at_boot:
        lines += [
            "",
            "At the next boot these settings change the live value:"
            if report.mode == "boot"
            else "Applied, these files would change the live value:",
        ]
        for c in report.changes_at_boot:
            lines.append(f"  {c.key:<40} {c.live} -> {c.boot}   ({c.file}:{c.line})")
    for u in report.unreadable:
        lines.append(f"unreadable: {u}")
    counts = ", ".join(f"{n} {v}" for v, n in report.counts.items() if n)
    failing = len(report.failing())
    lines += [
        "",
        f"{counts or 'no findings'}; {failing} at or above --fail-on "
        f"({', '.join(fail_on) or 'none'}, marked *). {report.verdict.upper()}"
        + (f": {len(report.unreadable)} file(s) not read" if report.unreadable else ""),
    ]
    return "\n".join(lines)


def render_boot(
    findings: list[LintFinding], unreadable: list[str], reverts: list[str] | None = None
) -> str:
    reverts = reverts or []
    if not findings and not reverts:
        return (
            "Boot-time configuration: nothing that applies at the next boot is wrong on these keys."
        )
    lines = ["Boot-time configuration (what applies at the next boot, `tunekit lint` for all):"]
    lines += [f"  REVERTS    {r}" for r in reverts]
    for f in findings:
        lines.append(f"  {LABELS[f.verdict]:<10} {f.file}:{f.line}  {f.text}")
        lines.append(f"             {f.why}")
    lines += [f"  unreadable: {u}" for u in unreadable]
    return "\n".join(lines)
