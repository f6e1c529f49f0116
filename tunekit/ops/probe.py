"""`probe`: open N connections for real in a private network namespace and report what
stopped it, what it cost, and whether the estimate for the same settings agrees."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError
from tunekit.ops import audit
from tunekit.output.documents.probe import Probe


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
    const: dict[str, float] = field(default_factory=dict)
    state_dir: Path | None = None


@dataclass
class ProbeRun:
    doc: Probe
    warnings: list[str] = field(default_factory=list)  # for stderr: what was not done


def _check(o: ProbeOptions) -> None:
    from tunekit.probe.layout import CALIBRATE_MIN

    for flag, value in (("--hold", o.hold), ("--connect-timeout", o.connect_timeout)):
        if not 0 <= value <= 86_400:
            raise UsageError(f"{flag} {value:g}: expected 0 to 86400 seconds")
    if o.connect_timeout <= 0:
        raise UsageError("--connect-timeout must be more than 0")
    if o.rate is not None and o.rate < 1:
        raise UsageError(f"--rate {o.rate}: expected at least 1 connection per second")
    if not 0 <= o.send <= 1 << 20:
        raise UsageError(f"--send {o.send}: expected 0 to 1048576 bytes")
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
    lay = layout.layout_for(facts, o.conns, hard, o.source_ips, o.destinations, o.nofile)
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
        if not measured:  # the run is still reported; only the calibration is not written
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
