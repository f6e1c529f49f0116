"""The probe's plan and its verdicts, as pure functions over data.

loadgen.py (with netns.py and workers.py) opens the connections for real; this module
decides how they are laid out (source addresses, destination ports, worker processes
within RLIMIT_NOFILE), maps what went wrong to the limit that caused it, and compares the
measured cost with the estimate.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from tunekit import registry as R
from tunekit import values
from tunekit.errors import UsageError

if TYPE_CHECKING:
    from tunekit.documents import Probe

WORKER_RESERVE_FDS = 16  # stdio, the control channel, a poll, the interpreter's own
FIRST_SOURCE = ipaddress.IPv4Address("127.1.0.1")  # all of 127.0.0.0/8 routes to lo
DESTINATION_IP = "127.0.0.1"
MAX_SOURCE_IPS = 65_000
MAX_DESTINATIONS = 1_000
# connect() searches the port range from a hashed offset; as a (source, destination)
# pair's ports fill up, the search dominates: with one source address, 63,000 connects/s
# at 10,000 of 28,232 ports fell to 4,100/s by 15,000 (6.18). At 1M, 71 sources (50 % full)
# gave 21,600/s and 119 sources (30 %) 31,200/s. So the default fills each pair to 30 %.
PORT_FILL = 0.3
# a forked worker's own memory (Private_* of /proc/PID/smaps_rollup): 1.7 MiB idle, 3.5 MiB
# for an acceptor holding 16,667 connections, 6.5 MiB for a connector; rounded up
WORKER_BYTES = 8 << 20
CALIBRATE_MIN = 1_000  # connections below which slab noise swamps the per-socket figure


@dataclass
class Layout:
    conns: int
    sources: list[str]
    destinations: list[tuple[str, int]]
    connectors: list[int]  # connections each connecting worker opens
    acceptors: int  # workers that accept, the same number on each destination
    # (each holds at most `per_worker`)
    per_worker: int  # sockets one worker may hold within its open-files limit
    nofile: int  # the open-files limit the workers set (soft = this, hard unchanged)

    @property
    def workers(self) -> int:
        return len(self.connectors) + self.acceptors


def listen_ports(count: int, port_range: tuple[int, int], reserved: values.Intervals) -> list[int]:
    """Destination ports outside the ephemeral range, so that no listener takes a port
    that connect() could have used: above the range first, then below it."""
    lo, hi = port_range
    candidates = [*range(hi + 1, 65536), *range(lo - 1, 0, -1)]
    ports = [p for p in candidates if not values.count_in(reserved, p, p)][:count]
    if len(ports) < count:
        raise UsageError(
            f"--destinations {count}: only {len(ports)} ports lie outside the "
            f"ephemeral range {lo}-{hi}"
        )
    return ports


def layout(
    conns: int,
    source_ips: int | None,
    destinations: int | None,
    usable_ports: int | None,
    port_range: tuple[int, int],
    reserved: values.Intervals,
    nofile_hard: int,
    nofile: int | None = None,
) -> Layout:
    """How N connections are spread: K source addresses x D destinations, and enough
    worker processes that none needs more descriptors than its hard limit allows.

    Without --source-ips, K is enough for N with the live port range filled to
    PORT_FILL: each (source, destination) pair has its own `usable_ports` ports."""
    d = 1 if destinations is None else destinations
    if not 1 <= d <= MAX_DESTINATIONS:
        raise UsageError(f"--destinations {d}: expected 1 to {MAX_DESTINATIONS}")
    if source_ips is None:
        per_pair = max(1, int((usable_ports or 1) * PORT_FILL))
        source_ips = max(1, math.ceil(conns / (per_pair * d)))
    if not 1 <= source_ips <= MAX_SOURCE_IPS:
        raise UsageError(f"--source-ips {source_ips}: expected 1 to {MAX_SOURCE_IPS:,}")
    per_worker = nofile_hard - WORKER_RESERVE_FDS - d
    if per_worker < 1:
        raise UsageError(
            f"the open-files hard limit ({nofile_hard}) leaves no room for connections in a worker",
            "raise it: ulimit -Hn, or run as root",
        )
    if nofile is not None and not WORKER_RESERVE_FDS + d < nofile <= nofile_hard:
        raise UsageError(
            f"--nofile {nofile}: expected {WORKER_RESERVE_FDS + d + 1} to the "
            f"hard limit {nofile_hard}"
        )
    workers = math.ceil(conns / per_worker)
    share, extra = divmod(conns, workers)
    # an acceptor serves one destination, which receives N/D of the connections
    acceptors = d * math.ceil(math.ceil(conns / d) / per_worker)
    return Layout(
        conns=conns,
        sources=[str(FIRST_SOURCE + i) for i in range(source_ips)],
        destinations=[(DESTINATION_IP, p) for p in listen_ports(d, port_range, reserved)],
        connectors=[share + (1 if i < extra else 0) for i in range(workers)],
        acceptors=acceptors,
        per_worker=per_worker,
        nofile=nofile or nofile_hard,
    )


def layout_for(
    facts,
    conns: int,
    nofile_hard: int,
    source_ips: int | None = None,
    destinations: int | None = None,
    nofile: int | None = None,
) -> Layout:
    """layout() for the live port range and reserved ports of `facts` (a HostFacts)."""
    rng = facts.ints(R.PORT_RANGE.name) or [32768, 60999]  # kernel default
    return layout(
        conns,
        source_ips,
        destinations,
        facts.usable_ports(),
        (rng[0], rng[1]),
        facts.reserved_ports(),
        nofile_hard,
        nofile,
    )


def check_memory(lay: Layout, socket_bytes: float, mem_available: int | None) -> None:
    """Refuse a probe whose sockets (both ends of each connection are on this host) and
    workers would not fit in 90 % of MemAvailable."""
    need = 2 * lay.conns * socket_bytes + lay.workers * WORKER_BYTES
    if mem_available and need > 0.9 * mem_available:
        # a connection costs both its sockets and its share of the two workers holding them;
        # each destination has at least one accepting worker whatever the connections
        per_conn = 2 * socket_bytes + 2 * WORKER_BYTES / lay.per_worker
        room = int((0.9 * mem_available - len(lay.destinations) * WORKER_BYTES) / per_conn)
        raise UsageError(
            f"--conns {lay.conns:,} needs ~{need / 2**30:.1f} GiB (both ends of "
            f"each connection and {lay.workers} workers), more than 90 % of the "
            f"{mem_available / 2**30:.1f} GiB available",
            f"at most ~{room:,} connections here"
            if room > 0
            else "fewer --destinations: each has accepting workers of its own",
        )


def check_buffers(lay: Layout, send: int, c: dict[str, float], facts) -> None:
    """Refuse a --send whose buffered bytes would push the host's TCP memory past tcp_mem
    pressure (global: the probe must not squeeze the host's own connections)."""
    from tunekit import capacity
    from tunekit.profiles import Workload

    tcp_mem = facts.ints(R.TCP_MEM.name)
    if not send or not tcp_mem or len(tcp_mem) != 3:
        return
    pages = capacity.buffer_pages(Workload(connections=1, bytes_buffered=send), facts, c)
    need = pages * lay.conns
    if need > 0.8 * tcp_mem[1]:
        room = int(0.8 * tcp_mem[1] // pages)
        raise UsageError(
            f"--send {send:,} x {lay.conns:,} connections needs ~{need:,} pages of "
            f"TCP memory, more than 80 % of this host's tcp_mem pressure "
            f"({tcp_mem[1]:,} pages, a global setting the probe does not change)",
            f"at most ~{room:,} connections with --send {send}",
        )


def same_settings_estimate(
    lay: Layout, facts, c: dict[str, float], nofile_hard: int, send: int = 0
):
    """The capacity model's view of this probe: a client of K sources x D destinations in
    as many processes as there are connecting workers, each with the workers' open-files
    limit and reserve. `facts` is a HostFacts of the starting namespace (not changed)."""
    from dataclasses import replace

    from tunekit import capacity
    from tunekit.profiles import Workload

    facts = replace(facts, nofile=(lay.nofile, nofile_hard), nofile_of="each probe worker")
    workload = Workload(
        role="client",
        connections=lay.conns,
        rate=0,
        source_ips=len(lay.sources),
        destinations=len(lay.destinations),
        processes=len(lay.connectors),
        accept_pause_ms=0,
        bytes_buffered=send,
    )
    return capacity.estimate(
        workload, facts, {**c, "fd_reserve": WORKER_RESERVE_FDS + len(lay.destinations)}
    )


# --- what stopped it ---------------------------------------------------------------

# errno name -> (the key that sets the limit, what it means)
ERRNO_LIMITS: dict[str, tuple[str, str]] = {
    "EMFILE": (R.NOFILE_SOFT.name, "the worker reached its open-files limit (RLIMIT_NOFILE)"),
    "ENFILE": (R.FILE_MAX.name, "the system-wide open-files table is full (fs.file-max)"),
    "EADDRNOTAVAIL": (
        R.PORT_RANGE.name,
        "no free ephemeral port for this source address and destination",
    ),
    "EADDRINUSE": (
        R.PORT_RANGE.name,
        "no free ephemeral port for this source address and destination",
    ),
    "ENOBUFS": ("memory", "the kernel could not allocate socket memory"),
    "ENOMEM": ("memory", "the kernel could not allocate socket memory"),
}

# symptom counter -> (key, meaning). TcpExt counters are per network namespace
# (/proc/net/netstat); conntrack_drop sums the drop column of /proc/net/stat/nf_conntrack.
COUNTER_LIMITS: dict[str, tuple[str, str]] = {
    "ListenOverflows": (
        R.SOMAXCONN.name,
        "the accept queue overflowed: the listen backlog, capped by "
        "net.core.somaxconn, was full while accepting lagged",
    ),
    "ListenDrops": (R.SOMAXCONN.name, "SYNs dropped at a full listen queue"),
    # The SYN queue is full past min(listen backlog, somaxconn) (inet_csk_reqsk_queue_is_full);
    # the SYN is dropped instead of answered with a cookie only when tcp_syncookies = 0
    # (net/ipv4/tcp_input.c tcp_conn_request). tcp_max_syn_backlog is not what filled.
    "TCPReqQFullDrop": (
        R.SOMAXCONN.name,
        "SYNs dropped at a full SYN queue (min(listen backlog, somaxconn)) "
        "because tcp_syncookies is 0",
    ),
    "TCPMemoryPressures": (
        R.TCP_MEM.name,
        "TCP buffer memory reached tcp_mem's pressure threshold",
    ),
    "conntrack_drop": (
        R.CONNTRACK_MAX.name,
        "the conntrack table was full: new flows were dropped",
    ),
}


@dataclass
class Failure:
    kind: str  # an errno name, "timeout", a counter name, or "worker_died"
    key: str | None  # the limit it maps to
    detail: str
    at_connections: int  # connections established when it was seen
    seconds: float  # since the first connect
    count: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def from_errno(name: str, op: str, at: int, seconds: float, limit: int | None = None) -> Failure:
    key, meaning = ERRNO_LIMITS.get(name, (None, "unexpected error"))
    detail = f"{op}() failed with {name}: {meaning}"
    if limit is not None and name == "EMFILE":
        detail += f" ({limit:,})"
    return Failure(name, key, detail, at, seconds)


def from_counters(
    before: dict[str, int], after: dict[str, int], at: int, seconds: float
) -> list[Failure]:
    """One failure per symptom counter that grew between two readings."""
    out = []
    for name, (key, meaning) in COUNTER_LIMITS.items():
        grown = after.get(name, 0) - before.get(name, 0)
        if grown > 0:
            out.append(Failure(name, key, f"{name} +{grown:,}: {meaning}", at, seconds, grown))
    return out


def explain_timeout(
    events: list[Failure], at: int, seconds: float, timeout: float, pending: int = 1
) -> Failure:
    """Connections that did not complete are blamed on the latest symptom seen, if any."""
    causes = [e for e in events if e.kind in COUNTER_LIMITS]
    cause = causes[-1] if causes else None
    detail = f"{pending:,} connection(s) not established within {timeout:g} s"
    detail += f"; cause: {cause.detail}" if cause else " (no symptom counter grew)"
    return Failure("timeout", cause.key if cause else None, detail, at, seconds, pending)


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
    failure = out.failure
    agrees = None  # did the probe stop where the model said it would?
    if predicted is not None or (failure is not None and failure.key is not None):
        agrees = bool(failure and predicted is not None and failure.key == binding.key)
    memory = None
    if mem is not None:
        memory = {
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
    from tunekit.documents import Probe

    return Probe.model_validate(
        {
            "connections": lay.conns,
            "complete": (
                failure is None and out.established >= lay.conns and out.held >= lay.conns
            ),
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
            "failure": failure.to_dict() if failure else None,
            "events": [e.to_dict() for e in out.events],
            "memory": memory,
            "estimate": {
                "binding": asdict(binding) if binding else None,
                "predicted_stop": predicted,
                "agrees": agrees,
                "limits": [asdict(lim) for lim in est.limits[:4]],
            },
            "constants": {
                k: c[k] for k in ("socket_bytes", "conntrack_entry_bytes", "buffer_factor")
            },
            "buffers_set": out.buffers,
            "calibration": None,
        }
    )
