"""probe --target as text: the plan and the client-side estimate before the run (stderr),
then what was held, what stopped the climb with its counts and fix, and the predicted
stop beside the observed one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunekit.output.text import _table

if TYPE_CHECKING:
    from tunekit.ops.probe import TargetPlan
    from tunekit.output.documents.probe_target import ProbeTarget
    from tunekit.probe.causes import Cause

SOURCE_FROM = {
    "given": "as given",
    "host": "this host's first",
    "route": "each target's route's",
}


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items):,})" if len(items) > n else "")


def render_plan(plan: TargetPlan) -> str:
    lay, est = plan.layout, plan.estimate
    dests = [f"{ip}:{port}" for ip, port in lay.destinations]
    lines = [
        f"tunekit probe: {lay.conns:,} connections to {len(dests)} target(s) ({_few(dests)}) "
        f"from {len(lay.sources)} source address(es) ({_few(lay.sources)}, "
        f"{SOURCE_FROM[plan.source_from]}), {len(lay.connectors)} connecting worker(s), "
        f"RLIMIT_NOFILE {lay.nofile:,} each"
    ]
    b = est.binding
    if b and b.allows < lay.conns:
        lines.append(f"  client-side estimate: stops at {b.allows:,}: {b.name} ({b.detail})")
    elif b:
        lines.append(
            f"  client-side estimate: holds {lay.conns:,} (the lowest client limit, "
            f"{b.name}, allows {b.allows:,}); what the server takes is for the run to show"
        )
    return "\n".join(lines)


def render_target(r: ProbeTarget) -> str:
    lay = r.layout
    lines = [
        f"tunekit probe --target: {r.connections:,} connections to "
        f"{_few([t.typed for t in r.targets])} from {_few(lay.sources)}, "
        f"{lay.connect_workers} worker(s)" + (f", --send {lay.send:,}" if lay.send else ""),
        "",
    ]
    lines += _table(
        [
            ["established", f"{r.established:,} of {r.connections:,}", ""],
            [
                "rate",
                f"{r.rate:,}/s",
                f"over {r.connect_seconds:.2f} s" + (" (plateaus left out)" if r.plateaus else ""),
            ],
            ["held", f"{r.held:,}", f"for {r.hold_seconds:.1f} s, lost {r.lost:,}"],
        ]
    )
    if r.plateaus and lay.ramp:
        lines += ["", f"Plateaus (--ramp {lay.ramp.step:,}/{lay.ramp.seconds:g}):"]
        lines += _table(
            [
                [
                    f"step {p.step}",
                    f"{p.target:,} asked",
                    f"{p.established:,} established",
                    f"{p.lost:,} lost",
                    f"at {p.seconds:.1f} s",
                ]
                for p in r.plateaus
            ]
        )
    lines.append("")
    if r.causes:
        for i, c in enumerate(r.causes):
            lines += _cause(c, "Stopped by" if i == 0 and r.stopped_by else "Then")
    else:
        lines.append("No failure: every connection was established and held.")
    if r.symptoms:
        lines.append(
            "Counters that grew in this namespace (shared with whatever else runs here): "
            + ", ".join(f"{k} +{v:,}" for k, v in r.symptoms.items())
        )
    lines += _stop(r)
    if r.verdict == "incomplete":
        lines += ["", f"INCOMPLETE: held {r.held:,}, but {len(r.unverified)} not verified:"]
        return "\n".join(lines + [f"  {u}" for u in r.unverified])
    if r.complete:
        verdict = "HELD"
    elif r.established < r.connections:
        verdict = f"STOPPED SHORT at {r.established:,}" + (
            f", {r.held:,} still held" if r.lost else ""
        )
    else:
        verdict = f"HELD {r.held:,} OF {r.connections:,}"
    return "\n".join([*lines, "", f"{verdict}.", *(f"  not verified: {u}" for u in r.unverified)])


def _cause(c: Cause, title: str) -> list[str]:
    where = ", ".join(f"{k} {v:,}" for k, v in list(c.by_destination.items())[:4])
    where_op = "while held" if c.op == "hold" else f"on {c.op}()"
    return [
        f"{title}: {c.kind} {where_op} x {c.count:,}, first at {c.at_connections:,} "
        f"connections, {c.seconds:.2f} s in [{c.side} side]",
        f"  limit: {c.limit}: {c.meaning}",
        f"  toward: {where}" + (f"; from {len(c.by_source)} source(s)" if c.by_source else ""),
        f"  fix: {c.fix}",
    ]


def _stop(r: ProbeTarget) -> list[str]:
    s = r.stop
    said = (
        f"stops at {s.predicted:,}: {s.predicted_limit}"
        if s.predicted is not None
        else f"the client side allows all {r.connections:,}"
    )
    if s.observed is None:
        seen = f"held {r.held:,}"
    elif r.established >= r.connections:
        seen = f"all {r.connections:,} established, {s.observed:,} held: {s.observed_limit}"
    else:
        seen = f"stopped at {s.observed:,}: {s.observed_limit}"
    lines = ["", f"Predicted (client-side estimate): {said}", f"Observed: {seen}"]
    if s.diff_percent is not None:
        lines[-1] += f" ({s.diff_percent:+.1f} % predicted vs observed)"
    if s.agrees:
        lines.append("  The probe agrees: it stopped at the limit the estimate named.")
    elif s.agrees is False:
        lines.append(
            "  They differ: the estimate counts this client's descriptors, ports and "
            "memory; a server's limits, and ports already in use, are not in it."
        )
    return lines
