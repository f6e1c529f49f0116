"""`probe`: open N connections for real and report what stopped them.

probe(): both ends on loopback in a private network namespace: what stopped it, what it
cost, and whether the estimate for the same settings agrees.
probe_target(): from this host to the user's own servers (--target), in the namespace it
runs in: what stopped the climb, on this client or on the server's side, beside the
client-side estimate's prediction. One typed options object in, one document out each, so
that the CLI and the Ansible module call the same function.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tunekit.errors import NotPermitted, UsageError
from tunekit.ops import audit
from tunekit.output.documents.probe import Probe

if TYPE_CHECKING:
    from tunekit.model.capacity import Estimate
    from tunekit.model.facts import HostFacts
    from tunekit.output.documents.probe_target import ProbeTarget
    from tunekit.probe.layout import Layout, Ramp


@dataclass
class ProbeOptions:
    conns: int
    source_ips: int | None = None
    destinations: int | None = None
    rate: int | None = None
    hold: float = 2.0
    conntrack: bool = False
    accept_pause_ms: int = 0
    nofile: int | None = None
    connect_timeout: float = 5.0
    send: int = 0
    calibrate: bool = False
    processes: int | None = None  # connecting workers (default: as the hard limit needs)
    const: dict[str, float] = field(default_factory=dict)
    state_dir: Path | None = None


@dataclass
class ProbeRun:
    doc: Probe
    warnings: list[str] = field(default_factory=list)  # for stderr: what was not done


def _check_common(o: ProbeOptions | TargetProbeOptions) -> None:
    for flag, value in (("--hold", o.hold), ("--connect-timeout", o.connect_timeout)):
        if not 0 <= value <= 86_400:
            raise UsageError(f"{flag} {value:g}: expected 0 to 86400 seconds")
    if o.connect_timeout <= 0:
        raise UsageError("--connect-timeout must be more than 0")
    if o.rate is not None and o.rate < 1:
        raise UsageError(f"--rate {o.rate}: expected at least 1 connection per second")
    if not 0 <= o.send <= 1 << 20:
        raise UsageError(f"--send {o.send}: expected 0 to 1048576 bytes")
    if o.processes is not None and not 1 <= o.processes <= 10_000:
        raise UsageError(f"--processes {o.processes}: expected 1 to 10000")


def _check(o: ProbeOptions) -> None:
    from tunekit.probe.layout import CALIBRATE_MIN

    _check_common(o)
    if not 0 <= o.accept_pause_ms <= 600_000:
        raise UsageError(f"--accept-pause {o.accept_pause_ms}: expected 0 to 600000 ms")
    if o.calibrate and o.conns < CALIBRATE_MIN:
        raise UsageError(
            f"--calibrate needs --conns of at least {CALIBRATE_MIN:,}",
            "below that, slab noise swamps the per-socket figure",
        )
    if os.geteuid() != 0:
        raise NotPermitted(
            "probe creates a network namespace: run it as root",
            "tunekit estimate gives the same answer from the model alone",
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def _torn_down_on_sigterm():
    """SIGTERM tears the probe down as Ctrl-C does (the coordinator's finally)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def probe(o: ProbeOptions, progress=None) -> ProbeRun:
    """`progress(outcome, phase, elapsed)` is called as the run goes (stderr in the CLI)."""
    import gc
    import resource

    from tunekit.host.facts import read_facts
    from tunekit.persist import calibration
    from tunekit.probe import layout, loadgen, netns, verdicts

    _check(o)
    if o.conntrack:
        netns.require_nft()
    facts = read_facts(addresses=False)
    state = audit.state_dir(o.state_dir)
    if o.calibrate:
        calibration.prepare(state)  # before the run, not after it: nothing measured is lost
    c, _ = audit.load_constants(o.const, facts, state)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    lay = layout.layout_for(
        facts, o.conns, hard, o.source_ips, o.destinations, o.nofile, o.processes
    )
    layout.check_memory(lay, c["socket_bytes"], facts.mem_available)
    layout.check_buffers(lay, o.send, c, facts)
    est = layout.same_settings_estimate(lay, facts, c, hard, o.send)
    gc.enable()  # a long-running command; the entry point turned it off for start-up speed
    runner = loadgen.Coordinator(
        lay,
        o.rate or 0,
        o.connect_timeout,
        o.hold,
        o.accept_pause_ms / 1000,
        progress=progress,
        send=o.send,
    )
    with _torn_down_on_sigterm():
        outcome = runner.run(o.conntrack)
    doc = verdicts.result(lay, outcome, est, c, o.conntrack, o.send)
    run = ProbeRun(doc)
    if o.calibrate:
        modelled = (est.need("tcp_mem_pages") / c["buffer_factor"] / o.conns) if o.send else 0.0
        measured = verdicts.calibration_values(outcome.memory, o.conntrack, o.send, modelled)
        impossible = calibration.implausible(measured)
        if outcome.memory is None and outcome.unverified:
            run.warnings.append("not calibrated: the kernel's memory figures could not be read")
        elif not measured:  # the run is still reported; only the calibration is not written
            run.warnings.append(
                f"not calibrated: fewer than {layout.CALIBRATE_MIN:,} connections were held"
            )
        elif impossible:
            run.warnings.append(
                "not calibrated: " + "; ".join(impossible) + ": other load on this host "
                "freed or took kernel memory during the run; the earlier calibration is kept"
            )
        else:
            kernel = facts.kernel or os.uname().release
            calibration.save(
                state,
                kernel,
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tunekit " + " ".join(sys.argv[1:]),
                outcome.established,
                measured,
            )
            doc.calibration = calibration.load(state, kernel)
    return run


# --- probe --target ---------------------------------------------------------------------


@dataclass
class TargetProbeOptions:
    """probe --target: connect only to `targets` (HOST:PORT each, as typed), from this
    host, in the network namespace this process is in."""

    targets: list[str]
    conns: int
    source_ips: list[str] | int | None = None  # addresses, or the first N of this host's
    rate: int | None = None  # new connections per second, all workers together
    ramp: Ramp | None = None  # step/seconds plateaus
    hold: float = 2.0
    send: int = 0
    nofile: int | None = None
    processes: int | None = None
    connect_timeout: float = 5.0
    const: dict[str, float] = field(default_factory=dict)


@dataclass
class TargetPlan:
    """What probe_target is about to do, for its caller to show before it starts."""

    layout: Layout
    estimate: Estimate
    source_from: str


@dataclass
class TargetRun:
    doc: ProbeTarget
    warnings: list[str] = field(default_factory=list)


def _check_target(o: TargetProbeOptions) -> None:
    from tunekit.model.profiles import MAX_CONNECTIONS

    # the CLI's parser already refuses these; a typed caller (the Ansible module) may not
    if not isinstance(o.conns, int) or not 1 <= o.conns <= MAX_CONNECTIONS:
        raise UsageError(f"--conns {o.conns}: expected 1 to {MAX_CONNECTIONS:,}")
    if not o.targets:
        raise UsageError("--target: give at least one HOST:PORT")
    _check_common(o)
    if o.ramp is not None:
        if o.ramp.step < 1:
            raise UsageError(f"--ramp {o.ramp.step}/...: the step must be at least 1")
        if not 0 <= o.ramp.seconds <= 86_400:
            raise UsageError(f"--ramp .../{o.ramp.seconds:g}: expected 0 to 86400 seconds")


@dataclass
class _Prepared:
    plan: TargetPlan
    named: list
    hard: int
    port_range: tuple[int, int] | None
    used: dict | None
    facts: HostFacts
    constants: dict[str, float]


def _prepare(o: TargetProbeOptions) -> _Prepared:
    """Everything before the first connection: options checked, targets parsed, sources
    chosen, the layout and the client-side estimate."""
    import resource

    from tunekit.host.facts import read_facts
    from tunekit.knowledge import catalogue as K
    from tunekit.probe import layout, targets

    _check_target(o)
    named = targets.parse_targets(o.targets)
    facts = read_facts()
    sources = targets.choose_sources(o.source_ips, facts.addresses or [])
    source_from = (
        "route" if o.source_ips is None else "host" if isinstance(o.source_ips, int) else "given"
    )
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    lay = layout.target_layout(
        o.conns, sources, targets.pairs(sources, named), hard, o.nofile, o.processes
    )
    if o.ramp and o.ramp.step < len(lay.connectors):
        raise UsageError(
            f"--ramp {o.ramp.step}/...: a step must be at least the {len(lay.connectors)} "
            "connecting workers (each opens its part of every step)"
        )
    c, _ = audit.load_constants(o.const, facts, audit.state_dir(None))
    layout.check_memory(lay, c["socket_bytes"], facts.mem_available)
    # --send's bytes sit in the server's receive queues, not in this client's buffers
    est = layout.same_settings_estimate(lay, facts, c, hard, 0)
    rng = facts.ints(K.PORT_RANGE.name)
    port_range = (rng[0], rng[1]) if rng and len(rng) == 2 else None
    used = _ports_in_use(lay, port_range, facts)
    est = layout.with_ports_in_use(est, lay, facts.usable_ports(), used)
    return _Prepared(TargetPlan(lay, est, source_from), named, hard, port_range, used, facts, c)


def plan_target(o: TargetProbeOptions) -> TargetPlan:
    """What probe_target would do (layout, sources, the client-side estimate), without
    opening a connection: the Ansible module's check mode."""
    return _prepare(o).plan


def probe_target(o: TargetProbeOptions, progress=None, before=None) -> TargetRun:
    """Open N connections to the servers named, hold them, and say what stopped the climb.
    `before(TargetPlan)` is called once the plan and the estimate are made, before the
    first connection; `progress(outcome, phase, elapsed)` as the run goes."""
    import gc

    from tunekit.knowledge import catalogue as K
    from tunekit.probe import causes
    from tunekit.probe.client import TargetCoordinator

    p = _prepare(o)
    lay, est, facts, used = p.plan.layout, p.plan.estimate, p.facts, p.used
    if before:
        before(p.plan)
    gc.enable()
    runner = TargetCoordinator(
        lay, o.rate or 0, o.connect_timeout, o.hold, o.ramp, progress=progress, send=o.send
    )
    with _torn_down_on_sigterm():
        out = runner.run()
    ctx = causes.Context(
        sources=lay.source_count,
        destinations=len(lay.destinations),
        port_range=p.port_range,
        usable_ports=facts.usable_ports(),
        nofile=lay.nofile,
        nofile_hard=p.hard,
        processes=len(lay.connectors),
        file_max=facts.int_value(K.FILE_MAX.name),
        tcp_mem=facts.ints(K.TCP_MEM.name),
        mem_available=facts.mem_available,
    )
    options = {
        "rate": o.rate,
        "ramp": o.ramp,
        "send": o.send,
        "connect_timeout": o.connect_timeout,
        "ports_in_use": sum(used.values()) if used is not None else None,
        "unverified": _target_unverified(p.port_range, used),
    }
    return TargetRun(causes.result(lay, out, est, ctx, p.named, p.plan.source_from, options))


def _target_unverified(port_range: tuple[int, int] | None, used: dict | None) -> list[str]:
    """What the prediction beside the observed stop rests on that could not be read."""
    from tunekit.host import ports
    from tunekit.knowledge import catalogue as K

    if port_range is None:
        return [
            f"stop.predicted: {K.PORT_RANGE.name} could not be read: the ports each "
            "(source, target) pair has were left out of the prediction"
        ]
    if used is None:
        return [
            f"stop.predicted: {ports.TCP} could not be read: the ports already in use toward "
            "the targets (an earlier run's TIME_WAIT) were not subtracted from the prediction"
        ]
    return []


def _ports_in_use(lay: Layout, port_range: tuple[int, int] | None, facts) -> dict | None:
    """Ports each (source, destination) already uses: connect() cannot pick them. A
    TIME_WAIT port is reusable with tcp_tw_reuse 1, or 2 (the default) on loopback."""
    import ipaddress

    from tunekit.host import ports
    from tunekit.knowledge import catalogue as K

    if port_range is None:
        return None
    pairs = lay.all_pairs()
    reuse = facts.int_value(K.TW_REUSE.name)
    loopback = all(
        ipaddress.IPv4Address(s).is_loopback or ipaddress.IPv4Address(d[0]).is_loopback
        for s, d in pairs
    )
    return ports.in_use(pairs, port_range, reuse == 1 or (reuse == 2 and loopback))
