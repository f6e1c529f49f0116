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
MAX_WORKERS = 10_000


@dataclass
class Ramp:
    """probe --ramp STEP/SECONDS: open `step` more connections, hold them `seconds`, and
    so on up to N: each plateau is a level the server held (or did not) for a while."""

    step: int
    seconds: float


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
    # probe --target: the (source, destination) of each connection's round robin, where
    # they are not every source with every destination (each target from its route's
    # source); None: every source with every destination
    pairs: list[tuple[str, tuple[str, int]]] | None = None

    @property
    def workers(self) -> int:
        return len(self.connectors) + self.acceptors

    @property
    def reserve(self) -> int:
        """Descriptors a worker keeps for itself: its own, and the listeners an acceptor
        inherits (none in target mode, where nothing listens)."""
        return WORKER_RESERVE_FDS + (len(self.destinations) if self.acceptors else 0)

    def all_pairs(self) -> list[tuple[str, tuple[str, int]]]:
        if self.pairs is not None:
            return self.pairs
        return [(s, d) for s in self.sources for d in self.destinations]

    @property
    def source_count(self) -> int:
        """Source addresses per destination, as the port limit counts them."""
        return len(self.all_pairs()) // len(self.destinations) if self.pairs else len(self.sources)


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
    processes: int | None = None,
) -> Layout:
    """How N connections are spread: K source addresses x D destinations, and enough
    worker processes that none needs more descriptors than its hard limit allows
    (`processes` connecting workers instead, if given: a client of that many processes,
    whose workers meet RLIMIT_NOFILE if their share does not fit).

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
    _check_nofile(nofile, WORKER_RESERVE_FDS + d, nofile_hard)
    # an acceptor serves one destination, which receives N/D of the connections
    acceptors = d * math.ceil(math.ceil(conns / d) / per_worker)
    return Layout(
        conns=conns,
        sources=[str(FIRST_SOURCE + i) for i in range(source_ips)],
        destinations=[(DESTINATION_IP, p) for p in listen_ports(d, port_range, reserved)],
        connectors=shares(conns, math.ceil(conns / per_worker) if processes is None else processes),
        acceptors=acceptors,
        per_worker=per_worker,
        nofile=nofile or nofile_hard,
    )


def _check_nofile(nofile: int | None, reserve: int, nofile_hard: int) -> None:
    if nofile is not None and not reserve < nofile <= nofile_hard:
        raise UsageError(
            f"--nofile {nofile}: expected {reserve + 1} to the hard limit {nofile_hard}"
        )


def shares(conns: int, workers: int) -> list[int]:
    """N connections over W workers, as evenly as whole numbers go."""
    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--processes {workers}: expected 1 to {MAX_WORKERS:,}")
    share, extra = divmod(conns, workers)
    return [share + (1 if i < extra else 0) for i in range(min(workers, conns))]


def target_layout(
    conns: int,
    sources: list[str],
    pairs: list[tuple[str, tuple[str, int]]],
    nofile_hard: int,
    nofile: int | None = None,
    processes: int | None = None,
) -> Layout:
    """probe --target: connecting workers only (the server is the user's), each within
    its hard open-files limit, cycling over the (source, destination) pairs."""
    per_worker = nofile_hard - WORKER_RESERVE_FDS
    if per_worker < 1:
        raise UsageError(
            f"the open-files hard limit ({nofile_hard}) leaves no room for connections in a worker",
            "raise it: ulimit -Hn, or run as root",
        )
    _check_nofile(nofile, WORKER_RESERVE_FDS, nofile_hard)
    destinations = list(dict.fromkeys(d for _, d in pairs))
    return Layout(
        conns=conns,
        sources=sources or list(dict.fromkeys(s for s, _ in pairs)),
        destinations=destinations,
        connectors=shares(conns, math.ceil(conns / per_worker) if processes is None else processes),
        acceptors=0,
        per_worker=per_worker,
        nofile=nofile or nofile_hard,
        pairs=None if sources else pairs,
    )


def layout_for(
    facts,
    conns: int,
    nofile_hard: int,
    source_ips: int | None = None,
    destinations: int | None = None,
    nofile: int | None = None,
    processes: int | None = None,
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
        processes,
    )


def check_memory(lay: Layout, socket_bytes: float, mem_available: int | None) -> None:
    """Refuse a probe whose sockets (both ends of each connection are on this host, unless
    it loads a --target) and workers would not fit in 90 % of MemAvailable."""
    ends = 2 if lay.acceptors else 1
    need = ends * lay.conns * socket_bytes + lay.workers * WORKER_BYTES
    if mem_available and need > 0.9 * mem_available:
        # a connection costs its sockets and its share of the workers holding them; each
        # destination has at least one accepting worker whatever the connections
        per_conn = ends * (socket_bytes + WORKER_BYTES / lay.per_worker)
        listeners = len(lay.destinations) if lay.acceptors else 0
        room = int((0.9 * mem_available - listeners * WORKER_BYTES) / per_conn)
        raise UsageError(
            f"--conns {lay.conns:,} needs ~{need / 2**30:.1f} GiB ("
            + ("both ends of each connection" if lay.acceptors else "the client sockets")
            + f" and {lay.workers} workers), more than 90 % of the "
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
    limit (soft and hard: they raise the soft one themselves) and reserve. `facts` is a
    HostFacts of the starting namespace (not changed).

    On loopback both ends of every connection are on this host: each takes two of the
    system's file handles and two sockets' memory, so those two limits allow half."""
    from dataclasses import replace

    from tunekit.model import capacity
    from tunekit.model.profiles import Workload

    facts = replace(
        facts,
        nofile=(lay.nofile, nofile_hard),
        nofile_of="each probe worker",
        nofile_is_workload=True,
    )
    workload = Workload(
        role="client",
        connections=lay.conns,
        rate=0,
        source_ips=lay.source_count,
        destinations=len(lay.destinations),
        processes=len(lay.connectors),
        accept_pause_ms=0,
        bytes_buffered=send,
    )
    est = capacity.estimate(workload, facts, {**c, "fd_reserve": lay.reserve})
    if lay.acceptors:
        est.limits = sorted((_both_ends(lim) for lim in est.limits), key=lambda x: x.allows)
    return est


def _both_ends(lim):
    """A system-wide limit shared by both ends of each connection allows half as many."""
    if lim.key == K.FILE_MAX.name or (lim.key is None and "memory" in lim.name):
        return lim.model_copy(
            update={
                "allows": lim.allows // 2,
                "detail": lim.detail + "; both ends of each connection are on this host: / 2",
            }
        )
    return lim


def with_ports_in_use(est, lay: Layout, usable: int | None, used: dict | None):
    """The estimate's port limit less the ports already taken toward the targets (an
    earlier run's TIME_WAIT lasts 60 s). Connections go round robin over the pairs, so the
    climb stops when the fullest pair runs out: pairs x (usable - the most in use)."""
    if not used or not usable or not any(used.values()):
        return est
    most = max(used.values())
    pairs = len(lay.all_pairs())

    def less(lim):
        if lim.key != K.PORT_RANGE.name:
            return lim
        return lim.model_copy(
            update={
                "allows": pairs * max(0, usable - most),
                "detail": f"{pairs} pair(s) x ({usable:,} usable - {most:,} already in use "
                f"in the fullest pair; {sum(used.values()):,} in use toward the targets)",
            }
        )

    est.limits = sorted((less(lim) for lim in est.limits), key=lambda x: x.allows)
    return est
