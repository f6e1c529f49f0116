"""The probe's layout, as pure functions over data: source addresses, destination ports,
and worker processes within RLIMIT_NOFILE; and the checks that refuse a probe the host
cannot take.

loadgen.py (with netns.py and workers.py) opens the connections for real; verdicts.py maps
what went wrong to the limit that caused it and compares the cost with the estimate.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from tunekit.errors import UsageError
from tunekit.knowledge import catalogue as K
from tunekit.model import values

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
    rng = facts.ints(K.PORT_RANGE.name) or [32768, 60999]  # kernel default
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
    from tunekit.model import capacity
    from tunekit.model.profiles import Workload

    tcp_mem = facts.ints(K.TCP_MEM.name)
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

    from tunekit.model import capacity
    from tunekit.model.profiles import Workload

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
