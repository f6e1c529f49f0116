"""Turn every document into text a person reads at a glance: check, estimate, the plan,
the probe, lint. The JSON form of the same documents is documents.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunekit.model.capacity import Estimate
from tunekit.model.check import Finding
from tunekit.model.constants import CONSTANTS

if TYPE_CHECKING:
    from tunekit.lint.engine import LintFinding, LintReport
    from tunekit.output.documents.check import Check
    from tunekit.output.documents.probe import Probe


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
    verdict = "COMPLIANT" if r.compliant else "NOT COMPLIANT"
    lines += [
        "",
        f"{len(r.findings)} checks: {', '.join(parts)}. {verdict}."
        + ("" if r.compliant else f" Next: {next_command}"),
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
            "DOES NOT FIT THIS HOST (no setting can fix it; tunekit writes no value "
            "the host cannot back):",
        ] + [f"  - {x}" for x in plan.unfit]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def render_probe(r: Probe) -> str:
    lay, mem, est = r.layout, r.memory, r.estimate
    lines = [
        f"tunekit probe: {r.connections:,} connections from {lay.source_ips} source "
        f"address(es) ({lay.first_source}...) to {len(lay.destinations)} "
        f"destination(s), {lay.connect_workers} connecting + {lay.accept_workers} "
        f"accepting worker(s), RLIMIT_NOFILE {lay.nofile:,} each"
        + (", conntrack on" if lay.conntrack else ""),
        f"  private network namespace; {len(r.namespace.sysctls_copied)} sysctl(s) "
        "copied from the starting one"
        + (f", {len(r.namespace.not_copied)} could not be" if r.namespace.not_copied else ""),
        "",
    ]
    lines += _table(
        [
            [
                "established",
                f"{r.established:,} of {r.connections:,}",
                f"(connected {r.connected:,}, accepted {r.accepted:,})",
            ],
            ["rate", f"{r.rate:,}/s", f"over {r.connect_seconds:.2f} s"],
            ["held", f"{r.held:,}", f"for {r.hold_seconds:.1f} s"],
        ]
    )
    f = r.failure
    lines.append("")
    if f:
        lines.append(
            f"First failure at {f.at_connections:,} connections, {f.seconds:.2f} s in: {f.detail}"
        )
        lines.append(f"  limit: {f.key or 'unknown'}")
        for e in r.events[1:]:
            lines.append(f"  then: {e.detail}")
    else:
        lines.append("No failure: every connection was opened, accepted and held.")
    if mem:
        lines += [
            "",
            f"Kernel memory: {human_bytes(mem.slab_bytes)} of slab for "
            f"{mem.sockets:,} sockets (both ends of each connection)",
        ]
        rows = [
            [
                "per socket",
                f"{mem.per_socket or 0:,.0f} B",
                f"estimate {mem.estimate_per_socket:,.0f} B (socket_bytes)",
                _pct(mem.diff_percent),
            ]
        ]
        if mem.estimate_per_conntrack_entry is not None:
            rows.append(
                [
                    "per conntrack entry",
                    f"{mem.per_conntrack_entry or 0:,.0f} B ({mem.conntrack_entries:,} entries)",
                    f"estimate {mem.estimate_per_conntrack_entry:,.0f} B",
                    _pct(mem.conntrack_diff_percent),
                ]
            )
        if mem.send:
            rows.append(
                [
                    "buffers (tcp_mem)",
                    f"{mem.tcp_mem_pages_per_conn:.2f} pages per connection "
                    f"({mem.tcp_mem_pages:+,})",
                    f"estimate {mem.estimate_tcp_mem_pages_per_conn:.2f} "
                    f"(--send {mem.send:,} x buffer_factor)",
                    _pct(mem.buffer_diff_percent),
                ]
            )
            rows.append(
                [
                    "slab per connection",
                    f"{mem.slab_per_conn:,.0f} B",
                    "both sockets and the queued skb heads",
                    "",
                ]
            )
        else:
            rows.append(["buffers (tcp_mem)", f"{mem.tcp_mem_pages:+,} pages", "", ""])
        lines += _table(rows)
        lines.append(
            "  grown: " + ", ".join(f"{k} {human_bytes(v)}" for k, v in mem.caches.items())
        )
        if mem.excluded:
            lines.append(
                "  not counted: "
                + ", ".join(f"{k} {human_bytes(v)}" for k, v in mem.excluded.items())
                + " (made by a process reading /proc/PID/fd, not by the connections)"
            )
    b = est.binding
    if b:
        said = (
            f"stops at {est.predicted_stop:,}: {b.name}"
            if est.predicted_stop is not None
            else f"holds {r.connections:,}"
        )
        lines += ["", f"Estimate for the same settings: {said}."]
        if est.agrees:
            lines.append("  The probe agrees: it stopped at the same limit.")
        elif est.agrees is False:
            found = f.key if f and f.key else "no limit"
            lines.append(
                f"  The probe disagrees: it found {found}. The model covers counts "
                "of descriptors, ports and memory, not accept stalls or buffers."
            )
    if r.calibration:
        cal = r.calibration
        lines.append(f"\nCalibration written to {cal.path}: estimate and check use it.")
    verdict = (
        "HELD"
        if r.complete
        else f"STOPPED SHORT at {r.established:,}"
        if r.established < r.connections
        else "HELD, WITH A FAILURE"
    )
    lines += ["", f"{verdict}."]
    return "\n".join(lines)


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
        f"{counts or 'clean'}; {failing} at or above --fail-on "
        f"({', '.join(fail_on) or 'none'}, marked *)",
    ]
    return "\n".join(lines)


def render_boot(findings: list[LintFinding], unreadable: list[str]) -> str:
    if not findings:
        return (
            "Boot-time configuration: nothing that applies at the next boot is wrong on these keys."
        )
    lines = ["Boot-time configuration (what applies at the next boot, `tunekit lint` for all):"]
    for f in findings:
        lines.append(f"  {LABELS[f.verdict]:<10} {f.file}:{f.line}  {f.text}")
        lines.append(f"             {f.why}")
    lines += [f"  unreadable: {u}" for u in unreadable]
    return "\n".join(lines)
