"""What stopped a probe, and what it cost: pure functions over what the coordinator saw.

Each failure is mapped to the limit behind it through the catalogue (the errno a limit
gives, the counter that grows when it is hit); the measured cost is compared with the
estimate for the same settings; the report is the typed document `probe --json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tunekit.knowledge import catalogue as K
from tunekit.model.base import Model
from tunekit.probe.layout import CALIBRATE_MIN, Layout

if TYPE_CHECKING:
    from tunekit.output.documents.probe import Probe

# A probe's outcome, for a person and a script (issue 18): "complete" only when all N were
# held and everything it reports was measured; "stopped-short" when it did not hold them
# all (exit 1), whatever else was not measured; "incomplete" when nothing stopped it but
# something it claims could not be verified (exit 5, ExitCode.INCOMPLETE): never "complete".
ProbeVerdict = Literal["complete", "stopped-short", "incomplete"]


def probe_verdict(short: bool, unverified: list[str]) -> ProbeVerdict:
    if short:
        return "stopped-short"
    return "incomplete" if unverified else "complete"


# Not a key: the kernel could not allocate memory for a socket (socket() or connect()).
MEMORY_ERRNOS = {
    "ENOBUFS": "the kernel could not allocate socket memory",
    "ENOMEM": "the kernel could not allocate socket memory",
}


class Failure(Model):
    kind: str  # an errno name, "timeout", a counter name, or "worker_died"
    key: str | None  # the limit it maps to
    detail: str
    at_connections: int  # connections established when it was seen
    seconds: float  # since the first connect
    count: int = 1


def failure(
    kind: str, key: str | None, detail: str, at: int, seconds: float, count: int = 1
) -> Failure:
    return Failure(
        kind=kind, key=key, detail=detail, at_connections=at, seconds=seconds, count=count
    )


def errno_limit(name: str) -> tuple[str | None, str]:
    """(the key whose limit gives this errno, or "memory", or None; what it means)."""
    if name in MEMORY_ERRNOS:
        return "memory", MEMORY_ERRNOS[name]
    known = K.errnos().get(name)
    return (known[0].name, known[1]) if known else (None, "unexpected error")


def counter_limits() -> dict[str, tuple[str, str]]:
    """Symptom counter -> (the key whose limit it shows was hit, what it means)."""
    return {name: (key.name, s.meaning) for name, (key, s) in K.symptoms().items()}


def from_errno(name: str, op: str, at: int, seconds: float, limit: int | None = None) -> Failure:
    key, meaning = errno_limit(name)
    detail = f"{op}() failed with {name}: {meaning}"
    if limit is not None and name == "EMFILE":
        detail += f" ({limit:,})"
    return failure(name, key, detail, at, seconds)


def from_counters(
    before: dict[str, int], after: dict[str, int], at: int, seconds: float
) -> list[Failure]:
    """One failure per symptom counter that grew between two readings."""
    out = []
    for name, (key, meaning) in counter_limits().items():
        grown = after.get(name, 0) - before.get(name, 0)
        if grown > 0:
            out.append(failure(name, key, f"{name} +{grown:,}: {meaning}", at, seconds, grown))
    return out


def explain_timeout(
    events: list[Failure], at: int, seconds: float, timeout: float, pending: int = 1
) -> Failure:
    """Connections that did not complete are blamed on the latest symptom seen, if any."""
    counters = counter_limits()
    causes = [e for e in events if e.kind in counters]
    cause = causes[-1] if causes else None
    detail = f"{pending:,} connection(s) not established within {timeout:g} s"
    detail += f"; cause: {cause.detail}" if cause else " (no symptom counter grew)"
    return failure("timeout", cause.key if cause else None, detail, at, seconds, pending)


# --- what it cost ------------------------------------------------------------------


@dataclass
class Memory:
    sockets: int  # sockets held at the measurement (both ends of every connection)
    slab_bytes: int  # /proc/meminfo Slab delta
    conntrack_bytes: int  # nf_conntrack slab growth, part of slab_bytes
    conntrack_entries: int
    tcp_mem_pages: int  # /proc/net/sockstat TCP mem delta (buffers, counted against tcp_mem)
    caches: dict[str, int] = field(default_factory=dict)  # slab cache -> bytes grown
    excluded: dict[str, int] = field(default_factory=dict)  # grown, but not the connections'

    @property
    def per_socket(self) -> float | None:
        if self.sockets <= 0:
            return None
        return (self.slab_bytes - self.conntrack_bytes) / self.sockets

    @property
    def per_conntrack_entry(self) -> float | None:
        if self.conntrack_entries <= 0:
            return None
        return self.conntrack_bytes / self.conntrack_entries


def percent_diff(estimated: float, measured: float) -> float | None:
    """How far the estimate is from the measurement, in percent of the measurement."""
    if not measured:
        return None
    return round((estimated - measured) / measured * 100, 1)


def buffer_factor(memory: Memory, modelled_pages: float) -> float | None:
    """Measured over modelled tcp_mem pages per connection: the calibrated correction."""
    conns = memory.sockets // 2
    if conns <= 0 or memory.tcp_mem_pages <= 0 or not modelled_pages:
        return None
    return memory.tcp_mem_pages / conns / modelled_pages


def calibration_values(
    memory: Memory | None, conntrack: bool, send: int = 0, modelled_pages: float = 0.0
) -> dict[str, float]:
    """The constants a probe measured, for calibration.save; empty if too few to trust.
    socket_bytes only from a run without --send (queued skbs would count as socket slab)."""
    if memory is None or memory.sockets < 2 * CALIBRATE_MIN or not memory.per_socket:
        return {}
    out = {"socket_bytes": memory.per_socket} if not send else {}
    factor = buffer_factor(memory, modelled_pages) if send else None
    if factor:
        out["buffer_factor"] = factor
    if conntrack and memory.conntrack_entries >= CALIBRATE_MIN and memory.per_conntrack_entry:
        out["conntrack_entry_bytes"] = memory.per_conntrack_entry
    return out


def result(lay: Layout, out, est, c: dict[str, float], conntrack: bool, send: int = 0) -> Probe:
    """The probe's report, the typed document `probe --json` prints (documents.Probe).
    `out` is a loadgen.Outcome, `est` the capacity.Estimate for the same settings."""
    mem = out.memory
    binding = est.binding
    predicted = binding.allows if binding and binding.allows < lay.conns else None
    stopped = out.failure
    agrees = None  # did the probe stop where the model said it would?
    if predicted is not None or (stopped is not None and stopped.key is not None):
        agrees = bool(stopped and predicted is not None and stopped.key == binding.key)
    memory = _memory_report(mem, lay, est, c, conntrack, send) if mem is not None else None
    from tunekit.output.documents.probe import Probe

    held_short = out.held is not None and out.held < lay.conns
    short = stopped is not None or out.established < lay.conns or held_short
    verdict = probe_verdict(short, out.unverified)
    return Probe.model_validate(
        {
            "connections": lay.conns,
            "complete": verdict == "complete",
            "verdict": verdict,
            "unverified": out.unverified,
            "established": out.established,
            "connected": out.connected,
            "accepted": out.accepted,
            "held": out.held,
            "connect_seconds": round(out.connect_seconds, 3),
            "rate": round(out.rate),
            "hold_seconds": round(out.hold_seconds, 1),
            "layout": {
                "source_ips": len(lay.sources),
                "first_source": lay.sources[0],
                "destinations": [f"{ip}:{port}" for ip, port in lay.destinations],
                "connect_workers": len(lay.connectors),
                "accept_workers": lay.acceptors,
                "per_worker": lay.per_worker,
                "nofile": lay.nofile,
                "conntrack": conntrack,
            },
            "namespace": {"sysctls_copied": out.copied_sysctls, "not_copied": out.not_copied},
            "failure": stopped,
            "events": out.events,
            "memory": memory,
            "estimate": {
                "binding": binding,
                "predicted_stop": predicted,
                "agrees": agrees,
                "limits": est.limits[:4],
            },
            "constants": {
                k: c[k] for k in ("socket_bytes", "conntrack_entry_bytes", "buffer_factor")
            },
            "buffers_set": out.buffers,
            "calibration": None,
        }
    )


def _memory_report(
    mem: Memory, lay: Layout, est, c: dict[str, float], conntrack: bool, send: int
) -> dict:
    """What the connections cost, beside what the estimate said (the probe's memory)."""
    return {
        "sockets": mem.sockets,
        "slab_bytes": mem.slab_bytes,
        "per_socket": round(mem.per_socket, 1) if mem.per_socket else None,
        "estimate_per_socket": c["socket_bytes"],
        "diff_percent": percent_diff(c["socket_bytes"], mem.per_socket or 0),
        "tcp_mem_pages": mem.tcp_mem_pages,
        "caches": mem.caches,
        "send": send,
        "tcp_mem_pages_per_conn": (
            round(mem.tcp_mem_pages / (mem.sockets // 2), 3) if mem.sockets >= 2 else None
        ),
        "estimate_tcp_mem_pages_per_conn": (
            est.need("tcp_mem_pages") / lay.conns if lay.conns else None
        ),
        "buffer_diff_percent": (
            percent_diff(
                est.need("tcp_mem_pages") / lay.conns, mem.tcp_mem_pages / (mem.sockets // 2)
            )
            if send and mem.sockets >= 2
            else None
        ),
        "slab_per_conn": (
            round(mem.slab_bytes / (mem.sockets // 2), 1) if mem.sockets >= 2 else None
        ),
        "excluded": mem.excluded,
        "conntrack_entries": mem.conntrack_entries,
        "conntrack_bytes": mem.conntrack_bytes,
        "per_conntrack_entry": (
            round(mem.per_conntrack_entry, 1) if mem.per_conntrack_entry else None
        ),
        "estimate_per_conntrack_entry": c["conntrack_entry_bytes"] if conntrack else None,
        "conntrack_diff_percent": (
            percent_diff(c["conntrack_entry_bytes"], mem.per_conntrack_entry or 0)
            if conntrack
            else None
        ),
    }
