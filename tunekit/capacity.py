"""The capacity model: what a workload needs, what the live settings allow, and the
targets derived from a workload. Pure functions over data; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from tunekit import registry as R
from tunekit import values
from tunekit.facts import HostFacts
from tunekit.profiles import Profile, Target, Workload
from tunekit.registry import CONNTRACK_SYSCTL, IP_SYSCTL, KERNEL_DOCS_FS, KERNEL_DOCS_NET

FULL_PORT_RANGE = (1024, 65535)  # widest range that leaves the privileged ports alone


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str


# Every constant the model uses, with where it comes from. Override with --const NAME=VALUE.
CONSTANTS: dict[str, Constant] = {
    "socket_bytes": Constant(
        4200,
        "bytes",
        "kernel slab per idle established TCP socket, measured with tunekit probe on 6.18 "
        "x86-64 (.venv/bin/python bench/probe.py): 3,983 B at 50k connections, 4,205 at 200k, "
        "4,203-4,209 at 1M (TCP 2,368 + sock_inode_cache 832 + dentry 192 + filp 192 "
        "+ bind buckets 128 + LSM blobs)",
    ),
    "skb_overhead_bytes": Constant(
        896,
        "bytes",
        "truesize an skb adds to the bytes it carries, measured with `tunekit probe --send` on "
        "6.18 loopback: 3,200 B queued cost 1 page per connection, 3,300 B cost 2, so the "
        "overhead is 797-896 B (bench/send.py)",
    ),
    "skb_payload_bytes": Constant(
        32768,
        "bytes",
        "bytes one queued skb carries on loopback: 32 KiB sent made 2 skb heads per connection, "
        "64 KiB 3 (skbuff_small_head growth, tunekit probe --send on 6.18)",
    ),
    "buffer_factor": Constant(
        1.0,
        "x",
        "correction on the modelled tcp_mem pages: measured / modelled, written by "
        "`tunekit probe --send BYTES --calibrate`",
    ),
    "conntrack_entry_bytes": Constant(
        256,
        "bytes",
        "nf_conntrack slab object size, /proc/slabinfo on 6.18 (older: 300-320); "
        "plain tracking: NAT, accounting and timestamp extensions add more",
    ),
    "conntrack_bucket_bytes": Constant(8, "bytes", "one hlist_nulls_head pointer per bucket"),
    "tw_bytes": Constant(256, "bytes", "tw_sock_TCP slab object size, /proc/slabinfo on 6.18"),
    "syn_bytes": Constant(
        320, "bytes", "request_sock_TCP slab object size, /proc/slabinfo on 6.18"
    ),
    "time_wait_seconds": Constant(60, "s", "TCP_TIMEWAIT_LEN, include/net/tcp.h (fixed)"),
    "orphan_seconds": Constant(
        1,
        "s",
        "an orphan waits in FIN_WAIT1/CLOSING/LAST_ACK about an RTT for its FIN to be "
        "ACKed; 1 s covers one retransmission at the initial RTO (RFC 6298). Dead "
        "peers hold one far longer: tcp_orphan_retries (0 means 8) backed-off retries",
    ),
    "conntrack_tw_seconds": Constant(
        120, "s", "nf_conntrack_tcp_timeout_time_wait default; the live value wins when readable"
    ),
    "handshake_seconds": Constant(
        1, "s", "TCP_TIMEOUT_INIT: a request whose SYN-ACK is lost waits 1 s in SYN_RECV (RFC 6298)"
    ),
    "fd_reserve": Constant(
        1024,
        "descriptors",
        "descriptors a process holds besides connections (listeners, logs, epoll, libraries): "
        "the traditional default soft limit",
    ),
    "headroom": Constant(1.25, "x", "margin on system-wide tables: other processes, bursts"),
    "tcp_mem_max_fraction": Constant(
        0.5,
        "x",
        "largest share of RAM tunekit lets TCP buffers take (tcp_mem max): the rest "
        "backs the sockets' slab, the application, page cache and the kernel. The "
        "kernel's boot default is 9.4 % (net/ipv4/tcp.c tcp_init_mem: max = 2 x 3/4 x "
        "nr_free_buffer_pages/16)",
    ),
    "burst_seconds": Constant(0.1, "s", "packet burst the per-CPU backlog must absorb"),
    "packets_per_handshake": Constant(3, "packets", "SYN, ACK, first data segment"),
    "conntrack_per_bucket": Constant(
        1,
        "entries",
        "nf_conntrack_max per bucket, the kernel's default ratio: each entry is "
        "hashed twice (original and reply), so chains average 2 "
        "(net/netfilter/nf_conntrack_core.c nf_conntrack_init_start, max_factor)",
    ),
}


def constants(overrides: dict[str, float] | None = None) -> dict[str, float]:
    values = {name: c.value for name, c in CONSTANTS.items()}
    for name, value in (overrides or {}).items():
        if name not in CONSTANTS:
            from tunekit.errors import UsageError

            raise UsageError(f"unknown constant {name!r}", f"known: {', '.join(CONSTANTS)}")
        values[name] = value
    return values


def _live_seconds(facts: HostFacts, key: str, default: float) -> float:
    live = facts.int_value(key)
    return float(live) if live and live > 0 else default


@dataclass
class Need:
    name: str
    value: int
    unit: str
    detail: str


@dataclass
class Limit:
    """The number of connections one live setting allows, and the key that sets it."""

    name: str
    key: str | None
    allows: int
    detail: str


@dataclass
class Estimate:
    connections: int
    role: str
    rate: int
    needs: list[Need] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)  # ascending: the first one binds
    rate_limits: list[Limit] = field(default_factory=list)  # caps on churn, not on count
    constants: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unfit: list[str] = field(default_factory=list)  # why the workload cannot fit this host

    @property
    def binding(self) -> Limit | None:
        return self.limits[0] if self.limits else None

    @property
    def capacity(self) -> int | None:
        return self.binding.allows if self.binding else None

    def need(self, name: str) -> int:
        return next(n.value for n in self.needs if n.name == name)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["capacity"] = self.capacity
        out["binding"] = asdict(self.binding) if self.binding else None
        return out


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


def estimate(w: Workload, facts: HostFacts, c: dict[str, float]) -> Estimate:
    n, rate = w.connections, w.rate
    est = Estimate(connections=n, role=w.role, rate=rate, constants=c)
    add = lambda name, value, unit, detail: est.needs.append(  # noqa: E731
        Need(name, int(math.ceil(value)), unit, detail)
    )
    ct_tw = _live_seconds(facts, R.CONNTRACK_TW_TIMEOUT.name, c["conntrack_tw_seconds"])
    ct_entries = n + rate * ct_tw
    memory = 0.0

    if w.role in ("server", "client"):
        per_proc = math.ceil(n / w.processes) + c["fd_reserve"]
        add(
            "fds_per_process",
            per_proc,
            "descriptors",
            f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve",
        )
        add(
            "fds_system",
            n + w.processes * c["fd_reserve"],
            "file handles",
            "one per connection plus each process's reserve",
        )
        pages = buffer_pages(w, facts, c)
        kernel = n * c["socket_bytes"]
        buffers = n * pages * facts.page_size
        app = n * w.app_bytes
        local = w.closes == "local"
        tw = rate * c["time_wait_seconds"] if local else 0
        syn = rate * c["handshake_seconds"]
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
        memory = kernel + buffers + app + tw * c["tw_bytes"] + syn * c["syn_bytes"]
        cap = tcp_mem_cap(facts, c)
        triple, fits = tcp_mem_triple(n * pages, cap, c)
        if not fits:
            est.unfit.append(
                f"TCP buffers for {n:,} connections need {n * pages:,} pages "
                f"({n * pages * facts.page_size / 2**30:.1f} GiB) under tcp_mem min, so "
                f"pressure would be {tcp_mem_triple(n * pages, None, c)[0][1]:,} pages: more than "
                f"{c['tcp_mem_max_fraction']:.0%} of this host's "
                f"{(facts.mem_total or 0) / 2**30:.1f} GiB ({cap:,} pages), which tunekit will not "
                "give TCP buffers"
            )
        if w.role == "client":
            _client_needs(w, facts, est, add)
        if w.role == "server" and w.listen_backlog is None:
            est.notes.append(
                "the application's listen() backlog is unknown: the accept queue is "
                "min(backlog, somaxconn). See it as Send-Q of the listener in `ss -lnt`, "
                "and give it as workload listen_backlog"
            )
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

    est.limits = sorted(_limits(w, facts, c, ct_tw), key=lambda lim: lim.allows)
    est.rate_limits = _rate_limits(w, facts, c)
    if facts.mem_total and memory > facts.mem_total:
        est.unfit.append(
            f"needs {memory / 2**30:.1f} GiB, more than this host's "
            f"{facts.mem_total / 2**30:.1f} GiB of RAM"
        )
    return est


def _client_needs(w: Workload, facts: HostFacts, est: Estimate, add) -> None:
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


def _limits(w: Workload, facts: HostFacts, c: dict[str, float], ct_tw: float) -> list[Limit]:
    out: list[Limit] = []
    reserve = int(c["fd_reserve"])
    if w.role in ("server", "client"):
        if facts.nofile:
            soft, hard = facts.nofile
            if facts.nofile_is_workload:
                out.append(
                    Limit(
                        "open files per process (RLIMIT_NOFILE soft)",
                        R.NOFILE_SOFT.name,
                        max(0, soft - reserve) * w.processes,
                        f"({soft:,} - {reserve} reserve) x {w.processes} "
                        f"process(es), {facts.nofile_of}",
                    )
                )
            out.append(
                Limit(
                    "open files per process (RLIMIT_NOFILE hard)",
                    R.NOFILE_HARD.name,
                    max(0, hard - reserve) * w.processes,
                    f"({hard:,} - {reserve} reserve) x {w.processes} process(es), "
                    f"{facts.nofile_of}; a program raises its soft limit up to it",
                )
            )
        nr_open = facts.int_value(R.NR_OPEN.name)
        if nr_open:
            out.append(
                Limit(
                    "per-process ceiling (fs.nr_open)",
                    R.NR_OPEN.name,
                    max(0, nr_open - reserve) * w.processes,
                    f"({nr_open:,} - {reserve}) x {w.processes} process(es)",
                )
            )
        file_max = facts.int_value(R.FILE_MAX.name)
        if file_max:
            used = facts.counters.get("files_allocated", 0)
            out.append(
                Limit(
                    "system-wide open files (fs.file-max)",
                    R.FILE_MAX.name,
                    max(0, file_max - used),
                    f"{file_max:,} - {used:,} in use",
                )
            )
        if w.role == "client":
            usable = facts.usable_ports()
            if usable is not None:
                ips = source_ips(w, facts)
                out.append(
                    Limit(
                        "ephemeral ports (ip_local_port_range)",
                        R.PORT_RANGE.name,
                        usable * ips * w.destinations,
                        f"{usable:,} usable ports x {ips} source IP(s) x "
                        f"{w.destinations} destination(s)",
                    )
                )
        pages = buffer_pages(w, facts, c)
        per_conn = c["socket_bytes"] + pages * facts.page_size + w.app_bytes
        if facts.mem_available:
            out.append(
                Limit(
                    "memory (MemAvailable)",
                    None,
                    int(facts.mem_available // per_conn),
                    f"{facts.mem_available / 2**30:.1f} GiB / {per_conn:,.0f} B per "
                    "connection (kernel + buffers + app)",
                )
            )
        tcp_mem = facts.ints(R.TCP_MEM.name)
        if tcp_mem and len(tcp_mem) == 3 and pages:
            out.append(
                Limit(
                    "TCP buffer memory (tcp_mem max)",
                    R.TCP_MEM.name,
                    tcp_mem[2] // pages,
                    f"{tcp_mem[2]:,} pages / {pages} page(s) per connection",
                )
            )
        cap = tcp_mem_cap(facts, c)
        if cap is not None and pages:
            out.append(
                Limit(
                    "TCP buffer memory this host can back",
                    R.TCP_MEM.name,
                    int(cap / (PRESSURE_OVER_MIN * c["headroom"]) // pages),
                    f"tcp_mem at most {c['tcp_mem_max_fraction']:.0%} of RAM "
                    f"({cap:,} pages) with the need under min = 3/4 pressure and "
                    f"x{c['headroom']:g} headroom; no tuning lifts it",
                )
            )
    else:
        ct_max = facts.int_value(R.CONNTRACK_MAX.name)
        if ct_max is not None:
            churn = int(w.rate * ct_tw)
            out.append(
                Limit(
                    "conntrack table (nf_conntrack_max)",
                    R.CONNTRACK_MAX.name,
                    max(0, ct_max - churn),
                    f"{ct_max:,} - {churn:,} closed flows held {ct_tw:.0f} s",
                )
            )
        if facts.mem_available:
            out.append(
                Limit(
                    "memory (MemAvailable)",
                    None,
                    int(facts.mem_available // c["conntrack_entry_bytes"]),
                    f"{facts.mem_available / 2**30:.1f} GiB / "
                    f"{c['conntrack_entry_bytes']:.0f} B per entry",
                )
            )
    return out


def _rate_limits(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Limit]:
    """Caps on the rate of new connections (per second) that live settings allow."""
    out: list[Limit] = []
    if w.role == "host":
        return out
    tw = facts.int_value(R.TW_BUCKETS.name)
    if tw is not None and w.closes == "local":
        out.append(
            Limit(
                "closes/s before TIME_WAIT overflows (tcp_max_tw_buckets)",
                R.TW_BUCKETS.name,
                int(tw / c["time_wait_seconds"]),
                f"{tw:,} / {c['time_wait_seconds']:.0f} s; beyond it closing sockets "
                "skip TIME_WAIT silently (TcpExt TCPTimeWaitOverflow)",
            )
        )
    if w.role == "server":
        somax = facts.int_value(R.SOMAXCONN.name)
        if somax is not None and w.accept_pause_ms:
            queue = min(somax, w.listen_backlog) if w.listen_backlog else somax
            out.append(
                Limit(
                    "accepts/s through an accept pause (min(listen backlog, somaxconn))",
                    R.SOMAXCONN.name,
                    int(queue * 1000 / w.accept_pause_ms),
                    f"{queue:,} / {w.accept_pause_ms} ms"
                    + (
                        ""
                        if w.listen_backlog
                        else " (application backlog unknown: assumed >= somaxconn)"
                    ),
                )
            )
        if facts.int_value(R.SYNCOOKIES.name) == 0:
            syn = facts.int_value(R.SYN_BACKLOG.name)
            if syn is not None and somax is not None:
                queue = min(somax, w.listen_backlog or somax, syn * 3 // 4)
                out.append(
                    Limit(
                        "handshakes/s with syncookies off (SYN queue)",
                        R.SYN_BACKLOG.name,
                        int(queue / c["handshake_seconds"]),
                        f"min(backlog, somaxconn, 3/4 x tcp_max_syn_backlog) = "
                        f"{queue:,} / {c['handshake_seconds']:.0f} s in SYN_RECV",
                    )
                )
    return out


# --- targets derived from a workload ------------------------------------------------


def _t(key: R.Key, value, reason: str, source: str, op: str = "at_least", index=None) -> Target:
    return Target(key=key.name, op=op, value=value, index=index, reason=reason, source=source)


def derive_targets(
    w: Workload, facts: HostFacts, c: dict[str, float], syncookies: int = 1
) -> list[Target]:
    """The targets a workload needs. `syncookies`: the value that will hold (pinned, else
    live): tcp_max_syn_backlog is a target only where the kernel reads it (cookies off)."""
    n, rate, head = w.connections, w.rate, c["headroom"]
    est = estimate(w, facts, c)
    out: list[Target] = []
    if w.role in ("server", "client"):
        per_proc = est.need("fds_per_process")
        system = math.ceil(est.need("fds_system") * head)
        out += [
            _t(
                R.FILE_MAX,
                system,
                f"{n:,} connections + reserve, x{head} headroom; above it: ENFILE",
                KERNEL_DOCS_FS,
            ),
            _t(
                R.NR_OPEN,
                per_proc,
                f"must allow RLIMIT_NOFILE of {per_proc:,} ({n:,} / {w.processes} process(es) + "
                "reserve)",
                KERNEL_DOCS_FS + "; kernel/sys.c",
            ),
            _t(
                R.NOFILE_HARD,
                per_proc,
                f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve; raising it "
                "needs CAP_SYS_RESOURCE",
                "getrlimit(2)",
            ),
            _t(
                R.NOFILE_SOFT,
                per_proc,
                "EMFILE on the next socket() or accept() above it; raised only where the "
                "workload runs (its unit, its process), 1024 elsewhere: select() breaks past "
                "descriptor 1023",
                "getrlimit(2); select(2); systemd NEWS v240",
            ),
        ]
        out += _tcp_mem_targets(w, facts, c, est)
        if w.bytes_buffered:
            want = buffer_truesize(w.bytes_buffered, c)
            out.append(
                _t(
                    R.TCP_RMEM,
                    want,
                    f"a socket that is not read keeps its default receive buffer: "
                    f"{w.bytes_buffered:,} B of data take {want:,} B of it (skb "
                    "truesize)",
                    IP_SYSCTL + " (tcp_rmem, tcp_moderate_rcvbuf)",
                    index=1,
                )
            )
        if rate and w.closes == "local":
            secs = c["time_wait_seconds"]
            tw = math.ceil(est.need("time_wait_sockets") * head)
            out.append(
                _t(
                    R.TW_BUCKETS,
                    tw,
                    f"{rate:,} closes/s x {secs:.0f} s TIME_WAIT, x{head}; above it closing "
                    "sockets skip TIME_WAIT silently (TcpExt TCPTimeWaitOverflow), and "
                    "orphans in FIN_WAIT2 count here too",
                    IP_SYSCTL + "; net/ipv4/tcp_minisocks.c tcp_time_wait",
                )
            )
            orphans = math.ceil(est.need("orphan_sockets") * head)
            out.append(
                _t(
                    R.MAX_ORPHANS,
                    orphans,
                    f"{rate:,} closes/s x {c['orphan_seconds']:g} s in FIN_WAIT1/LAST_ACK, "
                    f"x{head}; FIN_WAIT2 orphans are TIME_WAIT minisocks (tcp_fin_timeout "
                    "<= 60 s), not counted here; never lower it",
                    IP_SYSCTL + "; net/ipv4/tcp.c tcp_close",
                )
            )
    if w.role == "server":
        backlog = (
            f"; the application's own backlog ({w.listen_backlog:,}) caps it too"
            if w.listen_backlog
            else "; the application's listen() backlog caps it too (ss -lnt: Send-Q)"
        )
        out.append(
            _t(
                R.SOMAXCONN,
                max(4096, est.need("accept_backlog")),
                f"{rate:,}/s arriving during a {w.accept_pause_ms} ms accept pause "
                f"(kernel default since 5.4: 4096){backlog}",
                IP_SYSCTL + "; commit 19f92a030ca6",
            )
        )
        if syncookies == 0:
            out.append(
                _t(
                    R.SYN_BACKLOG,
                    max(1024, math.ceil(est.need("syn_recv") * 4 / 3)),
                    f"syncookies are off, so SYNs are dropped once the SYN queue holds "
                    f"3/4 of it: {rate:,} handshakes/s x {c['handshake_seconds']:.0f} s",
                    "net/ipv4/tcp_input.c tcp_conn_request",
                )
            )
    if w.role in ("server", "host") and rate:
        packets = math.ceil(rate * c["packets_per_handshake"] * c["burst_seconds"])
        out.append(
            _t(
                R.NETDEV_BACKLOG,
                max(1000, packets),
                f"{rate:,}/s x {c['packets_per_handshake']:.0f} packets in a "
                f"{c['burst_seconds']} s burst (default 1000)",
                KERNEL_DOCS_NET,
            )
        )
    if w.role == "client":
        out += _port_targets(w, facts)
    if w.role == "host":
        ct_max = math.ceil(est.need("conntrack_entries") * head)
        out += [
            _t(
                R.CONNTRACK_MAX,
                ct_max,
                f"{n:,} flows + closed flows held in TIME_WAIT, x{head}; when full new flows "
                "are dropped",
                CONNTRACK_SYSCTL,
            ),
            _t(
                R.CONNTRACK_BUCKETS,
                math.ceil(ct_max / c["conntrack_per_bucket"]),
                f"nf_conntrack_max / {c['conntrack_per_bucket']:g}, the kernel's default ratio "
                "(chains of ~2: each entry is hashed twice)",
                CONNTRACK_SYSCTL + "; net/netfilter/nf_conntrack_core.c",
            ),
        ]
    return out


def _tcp_mem_targets(
    w: Workload, facts: HostFacts, c: dict[str, float], est: Estimate
) -> list[Target]:
    """Size tcp_mem from the measured need, kept under min (under pressure TCP moderates
    until usage falls under min), in the kernel's shape (min = 3/4 pressure, max = 2 min);
    never a max above what this host can back."""
    out: list[Target] = []
    need = est.need("tcp_mem_pages")
    cap = tcp_mem_cap(facts, c)
    share = f"{c['tcp_mem_max_fraction']:.0%} of RAM"
    if need:
        triple, fits = tcp_mem_triple(need, cap, c)
        out.append(
            _t(
                R.TCP_MEM,
                triple,
                (
                    f"the need ({need:,} pages) does not fit: capped at {share}, see the "
                    "memory finding"
                    if not fits
                    else f"{w.connections:,} connections x {w.bytes_buffered:,} B buffered = "
                    f"{need:,} pages, x{c['headroom']:g} = min, so steady use stays under "
                    "min and leaves pressure mode; pressure = 4/3 min and max = 2 min (the "
                    f"kernel's own shape), max cut to {share}"
                ),
                IP_SYSCTL + " (tcp_mem); net/ipv4/tcp.c tcp_init_mem",
            )
        )
    if cap is not None:
        out.append(
            _t(
                R.TCP_MEM,
                cap,
                f"max at most {share} ({cap * facts.page_size / 2**30:.1f} GiB): above "
                "physical memory the limit never acts before the OOM killer does, and "
                "buffers must leave room for the sockets' slab and the application",
                IP_SYSCTL + " (tcp_mem); net/ipv4/tcp.c tcp_init_mem",
                op="at_most",
                index=2,
            )
        )
    return out


def _port_targets(w: Workload, facts: HostFacts) -> list[Target]:
    ips = source_ips(w, facts)
    per_ip = math.ceil(w.connections / (ips * w.destinations))
    lo_full, hi = FULL_PORT_RANGE
    lo = max(lo_full, hi - per_ip + 1)
    if lo % 2 == hi % 2:  # ends of different parity: connect() and bind(0) split the range
        lo -= 1
    lo = max(lo, lo_full)
    out = [
        _t(
            R.PORT_RANGE,
            [lo, hi],
            f"{per_ip:,} ports per source IP and destination ({w.connections:,} / {ips} "
            f"IP(s) x {w.destinations}); ends of different parity (4.6+)",
            IP_SYSCTL + "; ip(7)",
        )
    ]
    inside = [p for p in facts.listening or [] if lo <= p <= hi]
    if inside:
        ports = values.portset_text(values.merge([(p, p) for p in inside]))
        out.append(
            _t(
                R.RESERVED_PORTS,
                ports,
                f"the range {lo}-{hi} covers ports this host listens on ({ports}): "
                "reserved, connect() cannot take them from the services",
                IP_SYSCTL + " (ip_local_reserved_ports)",
            )
        )
    return out


def resolve_targets(profile: Profile, facts: HostFacts, c: dict[str, float]) -> list[Target]:
    """Derived targets, overridden by those pinned in the profile (same key and index)."""
    pinned = {(t.key, t.index) for t in profile.targets}
    cookies = next(
        (
            t.value
            for t in profile.targets
            if t.key == R.SYNCOOKIES.name and isinstance(t.value, int)
        ),
        None,
    )
    if cookies is None:
        cookies = facts.int_value(R.SYNCOOKIES.name)
    derived = [
        t
        for t in derive_targets(profile.workload, facts, c, 1 if cookies is None else cookies)
        if (t.key, t.index) not in pinned
    ]
    return derived + list(profile.targets)


def with_connections(profile: Profile, conns: int | None) -> Profile:
    """The profile rescaled to `conns` connections (validated like the TOML field)."""
    if conns is None:
        return profile
    workload = Workload.model_validate({**profile.workload.model_dump(), "connections": conns})
    return profile.model_copy(update={"workload": workload})
