"""The capacity model: what a workload needs, and how many connections each live setting
allows. Pure functions over data; no I/O. The targets derived from a workload are
targets.py; the constants constants.py.
"""

from __future__ import annotations

import math

from pydantic import computed_field

from tunekit.knowledge import catalogue as K
from tunekit.model.base import Model
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Workload

FULL_PORT_RANGE = (1024, 65535)  # widest range that leaves the privileged ports alone


def _live_seconds(facts: HostFacts, key: str, default: float) -> float:
    live = facts.int_value(key)
    return float(live) if live and live > 0 else default


class Need(Model):
    """One thing the workload needs, with its unit and how it was computed."""

    name: str
    value: int
    unit: str
    detail: str


class Limit(Model):
    """The number of connections (or per second) one live setting allows, and its key."""

    name: str
    key: str | None
    allows: int
    detail: str


class Estimate(Model):
    connections: int
    role: str
    rate: int
    needs: list[Need] = []
    limits: list[Limit] = []  # ascending: the first one binds
    rate_limits: list[Limit] = []  # caps on churn, not on count
    constants: dict[str, float] = {}
    notes: list[str] = []
    unfit: list[str] = []  # why the workload cannot fit this host (what no setting lifts)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def binding(self) -> Limit | None:
        return self.limits[0] if self.limits else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def capacity(self) -> int | None:
        return self.binding.allows if self.binding else None

    def need(self, name: str) -> int:
        return next(n.value for n in self.needs if n.name == name)


def source_ips(w: Workload, facts: HostFacts) -> int:
    if w.source_ips:
        return w.source_ips
    return max(1, len(facts.addresses or []))


def buffer_truesize(nbytes: int, c: dict[str, float]) -> int:
    """Bytes `nbytes` of queued data are charged as: the payload plus each skb's overhead
    (skb truesize, what sk_rmem_alloc and tcp_mem count)."""
    if not nbytes:
        return 0
    skbs = nbytes // int(c["skb_payload_bytes"]) + 1
    return int(nbytes + skbs * c["skb_overhead_bytes"])


def buffer_pages(w: Workload, facts: HostFacts, c: dict[str, float]) -> int:
    """tcp_mem pages one connection's buffered bytes are charged: skb truesize, rounded up
    to whole pages per socket (sk_forward_alloc), times the calibrated correction."""
    if not w.bytes_buffered:
        return 0
    pages = math.ceil(buffer_truesize(w.bytes_buffered, c) / facts.page_size)
    return max(1, math.ceil(pages * c["buffer_factor"] - 0.05))


def tcp_mem_cap(facts: HostFacts, c: dict[str, float]) -> int | None:
    """Most pages tunekit lets tcp_mem's max reach on this host; None if memory is unknown."""
    if not facts.mem_total:
        return None
    return int(facts.mem_total * c["tcp_mem_max_fraction"] // facts.page_size)


PRESSURE_OVER_MIN = 4 / 3  # the kernel's boot shape: min = 3/4 pressure (tcp_init_mem)


def tcp_mem_triple(need: int, cap: int | None, c: dict[str, float]) -> tuple[list[int], bool]:
    """tcp_mem for a steady need of `need` pages, and whether it fits under `cap`.

    Under pressure TCP moderates until usage falls under min (ip-sysctl.rst), so the need,
    with headroom, is min; pressure and max follow the kernel's shape (4/3 min, 2 min), max
    cut to the cap. It does not fit when even pressure would pass the cap: then the triple
    is the cap's, in the kernel's shape, and the caller says so."""
    low = math.ceil(need * c["headroom"])
    triple = [low, math.ceil(low * PRESSURE_OVER_MIN), 2 * low]
    if cap is None or triple[2] <= cap:
        return triple, True
    if triple[1] <= cap:
        return [triple[0], triple[1], cap], True
    return [cap // 2, math.ceil(cap / 2 * PRESSURE_OVER_MIN), cap], False


class _Needs:
    """The estimate's needs as they are added: a name, a value (rounded up), its unit and
    how it was computed."""

    def __init__(self, est: Estimate):
        self.est = est

    def __call__(self, name: str, value: float, unit: str, detail: str) -> None:
        self.est.needs.append(Need(name=name, value=math.ceil(value), unit=unit, detail=detail))


def estimate(w: Workload, facts: HostFacts, c: dict[str, float]) -> Estimate:
    """What the workload needs, and what each live setting allows (lowest first)."""
    from tunekit.model import limits

    est = Estimate(connections=w.connections, role=w.role, rate=w.rate, constants=c)
    add = _Needs(est)
    ct_tw = _live_seconds(facts, K.CONNTRACK_TW_TIMEOUT.name, c["conntrack_tw_seconds"])
    memory = 0.0
    if w.role in ("server", "client"):
        _descriptor_needs(w, c, add)
        memory = _socket_needs(w, facts, c, est, add)
        if w.role == "client":
            _client_needs(w, facts, est, add)
        if w.role == "server" and w.listen_backlog is None:
            est.notes.append(
                "the application's listen() backlog is unknown: the accept queue is "
                "min(backlog, somaxconn). See it as Send-Q of the listener in `ss -lnt`, "
                "and give it as workload listen_backlog"
            )
    _conntrack_needs(w, c, ct_tw, add)
    if w.role == "host":
        memory = est.need("conntrack_bytes")
    add(
        "memory_total",
        memory,
        "bytes",
        "kernel + buffers + app + TIME_WAIT + SYN_RECV"
        if w.role != "host"
        else "conntrack entries and buckets",
    )
    est.limits = sorted(limits.limits(w, facts, c, ct_tw), key=lambda lim: lim.allows)
    est.rate_limits = limits.rate_limits(w, facts, c)
    if facts.mem_total and memory > facts.mem_total:
        est.unfit.append(
            f"needs {memory / 2**30:.1f} GiB, more than this host's "
            f"{facts.mem_total / 2**30:.1f} GiB of RAM"
        )
    return est


def _descriptor_needs(w: Workload, c: dict[str, float], add: _Needs) -> None:
    n = w.connections
    add(
        "fds_per_process",
        math.ceil(n / w.processes) + c["fd_reserve"],
        "descriptors",
        f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve",
    )
    add(
        "fds_system",
        n + w.processes * c["fd_reserve"],
        "file handles",
        "one per connection plus each process's reserve",
    )


def _socket_needs(
    w: Workload, facts: HostFacts, c: dict[str, float], est: Estimate, add: _Needs
) -> float:
    """Kernel and application memory of the sockets, their buffers and their churn; the
    bytes in all, and an `unfit` line when the buffers cannot fit under tunekit's cap."""
    n = w.connections
    pages = buffer_pages(w, facts, c)
    kernel = n * c["socket_bytes"]
    buffers = n * pages * facts.page_size
    app = n * w.app_bytes
    add("kernel_socket_bytes", kernel, "bytes", f"{n:,} x {c['socket_bytes']:.0f} B slab")
    add(
        "buffer_bytes",
        buffers,
        "bytes",
        f"{n:,} x {w.bytes_buffered:,} B buffered, charged as {pages} page(s) each",
    )
    add("app_bytes", app, "bytes", f"{n:,} x {w.app_bytes:,} B")
    add(
        "tcp_mem_pages",
        n * pages,
        "pages",
        f"{n:,} x {pages} page(s): {w.bytes_buffered:,} B + skb overhead = "
        f"{buffer_truesize(w.bytes_buffered, c):,} B truesize, rounded up to "
        f"{facts.page_size} B pages per socket",
    )
    tw, syn = _churn_needs(w, c, add)
    _tcp_mem_fit(n, n * pages, facts, c, est)
    return kernel + buffers + app + tw * c["tw_bytes"] + syn * c["syn_bytes"]


def _churn_needs(w: Workload, c: dict[str, float], add: _Needs) -> tuple[float, float]:
    """TIME_WAIT, orphans, SYN_RECV and the accept backlog that the connection rate keeps:
    (TIME_WAIT sockets, SYN_RECV requests)."""
    rate, local = w.rate, w.closes == "local"
    tw = rate * c["time_wait_seconds"] if local else 0
    syn = rate * c["handshake_seconds"]
    add(
        "time_wait_sockets",
        tw,
        "sockets",
        f"{rate:,} closes/s x {c['time_wait_seconds']:.0f} s"
        if local
        else "none: the peer closes first and holds TIME_WAIT (workload closes = remote)",
    )
    add("time_wait_bytes", tw * c["tw_bytes"], "bytes", f"x {c['tw_bytes']:.0f} B each")
    add(
        "orphan_sockets",
        rate * c["orphan_seconds"] if local else 0,
        "sockets",
        f"{rate:,} closes/s x {c['orphan_seconds']:g} s in FIN_WAIT1/LAST_ACK"
        if local
        else "none: this host does not close first",
    )
    add(
        "syn_recv",
        syn,
        "requests",
        f"{rate:,}/s x {c['handshake_seconds']:.0f} s in "
        "SYN_RECV (bounded by the listen backlog; with syncookies on, overflow gets cookies)",
    )
    add("syn_recv_bytes", syn * c["syn_bytes"], "bytes", f"x {c['syn_bytes']:.0f} B each")
    add(
        "accept_backlog",
        rate * w.accept_pause_ms / 1000,
        "connections",
        f"{rate:,}/s x {w.accept_pause_ms} ms accept pause",
    )
    return tw, syn


def _tcp_mem_fit(n: int, need: int, facts: HostFacts, c: dict[str, float], est: Estimate) -> None:
    cap = tcp_mem_cap(facts, c)
    _, fits = tcp_mem_triple(need, cap, c)
    if not fits:
        est.unfit.append(
            f"TCP buffers for {n:,} connections need {need:,} pages "
            f"({need * facts.page_size / 2**30:.1f} GiB) under tcp_mem min, so "
            f"pressure would be {tcp_mem_triple(need, None, c)[0][1]:,} pages: more than "
            f"{c['tcp_mem_max_fraction']:.0%} of this host's "
            f"{(facts.mem_total or 0) / 2**30:.1f} GiB ({cap:,} pages), which tunekit will not "
            "give TCP buffers (a policy of tunekit's, not a kernel limit)"
        )


def _conntrack_needs(w: Workload, c: dict[str, float], ct_tw: float, add: _Needs) -> None:
    n, rate = w.connections, w.rate
    ct_entries = n + rate * ct_tw
    add(
        "conntrack_entries",
        ct_entries,
        "entries",
        f"{n:,} flows + {rate:,}/s x {ct_tw:.0f} s in TIME_WAIT"
        + ("" if w.role == "host" else " (only if a stateful firewall tracks them)"),
    )
    buckets = ct_entries / c["conntrack_per_bucket"]
    add(
        "conntrack_bytes",
        ct_entries * c["conntrack_entry_bytes"] + buckets * c["conntrack_bucket_bytes"],
        "bytes",
        f"x {c['conntrack_entry_bytes']:.0f} B per entry (plain tracking: NAT, accounting and "
        "timestamp extensions are extra) + buckets",
    )
    add(
        "conntrack_buckets",
        buckets,
        "buckets",
        f"entries / {c['conntrack_per_bucket']:g} (the kernel's default ratio)",
    )


def _client_needs(w: Workload, facts: HostFacts, est: Estimate, add: _Needs) -> None:
    n = w.connections
    ips = source_ips(w, facts)
    add(
        "ports_per_source_ip",
        n / (ips * w.destinations),
        "ports",
        f"{n:,} / ({ips} source IP(s) x {w.destinations} destination(s))",
    )
    usable = facts.usable_ports()
    full = FULL_PORT_RANGE[1] - FULL_PORT_RANGE[0] + 1
    if usable:
        add(
            "source_ips_needed",
            n / (usable * w.destinations),
            "addresses",
            f"with the live range ({usable:,} usable ports)",
        )
    add(
        "source_ips_needed_full_range",
        n / (full * w.destinations),
        "addresses",
        f"with the widest range {FULL_PORT_RANGE[0]}-{FULL_PORT_RANGE[1]} ({full:,} ports)",
    )
    per_pair = n / (ips * w.destinations)
    if usable and per_pair > usable / 2:
        fast = math.ceil(n / (usable * 0.3 * w.destinations))
        est.notes.append(
            f"{per_pair:,.0f} ports per source IP and destination is over half of the "
            f"{usable:,} usable: connect()'s port search slows sharply as they fill "
            f"(15x at 53 % with tunekit probe on 6.18); {fast} source IPs keep each "
            "under 30 %"
        )
