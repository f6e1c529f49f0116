"""A probe's report as text: what was opened and held, what stopped it, what it cost, and
whether the estimate for the same settings agrees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunekit.output.text import _table, human_bytes

if TYPE_CHECKING:
    from tunekit.output.documents.probe import Probe, ProbeMemory


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def render_probe(r: Probe) -> str:
    lines = _header(r) + _outcome(r)
    if r.memory:
        lines += _memory(r.memory)
    lines += _estimate(r)
    if r.calibration:
        lines.append(f"\nCalibration written to {r.calibration.path}: estimate and check use it.")
    if r.verdict == "incomplete":
        lines += ["", f"INCOMPLETE: {len(r.unverified)} figure(s) not verified:"]
        lines += [f"  {u}" for u in r.unverified]
        return "\n".join(lines)
    verdict = (
        "HELD"
        if r.complete
        else f"STOPPED SHORT at {r.established:,}"
        if r.established < r.connections
        else "HELD, WITH A FAILURE"
    )
    lines += ["", f"{verdict}."]
    lines += [f"  not verified: {u}" for u in r.unverified]
    return "\n".join(lines)


def _header(r: Probe) -> list[str]:
    lay = r.layout
    return [
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


def _outcome(r: Probe) -> list[str]:
    lines = _table(
        [
            [
                "established",
                f"{r.established:,} of {r.connections:,}",
                f"(connected {r.connected:,}, accepted {r.accepted:,})",
            ],
            ["rate", f"{r.rate:,}/s", f"over {r.connect_seconds:.2f} s"],
            [
                "held",
                "not counted" if r.held is None else f"{r.held:,}",
                f"for {r.hold_seconds:.1f} s",
            ],
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
    return lines


def _memory(mem: ProbeMemory) -> list[str]:
    lines = [
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
                f"{mem.tcp_mem_pages_per_conn:.2f} pages per connection ({mem.tcp_mem_pages:+,})",
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
    lines.append("  grown: " + ", ".join(f"{k} {human_bytes(v)}" for k, v in mem.caches.items()))
    if mem.excluded:
        lines.append(
            "  not counted: "
            + ", ".join(f"{k} {human_bytes(v)}" for k, v in mem.excluded.items())
            + " (made by a process reading /proc/PID/fd, not by the connections)"
        )
    return lines


def _estimate(r: Probe) -> list[str]:
    est, f, lines = r.estimate, r.failure, []
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
    return lines
