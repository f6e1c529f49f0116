"""The capacity model: what a workload needs, what the live settings allow, and the
targets derived from a workload. Pure functions over data; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from tunekit.facts import HostFacts
from tunekit.profiles import Profile, Target, Workload
from tunekit.registry import IP_SYSCTL, KERNEL_DOCS_FS, CONNTRACK_SYSCTL, KERNEL_DOCS_NET

FULL_PORT_RANGE = (1024, 65535)  # widest range that leaves the privileged ports alone


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str


# Every constant the model uses, with where it comes from. Override with --const NAME=VALUE.
CONSTANTS: dict[str, Constant] = {
    "socket_bytes": Constant(
        4200, "bytes",
        "kernel slab per idle established TCP socket, measured with tunekit probe on 6.18 "
        "x86-64 (python3 bench/probe.py): 3,983 B at 50k connections, 4,205 at 200k, "
        "4,203-4,209 at 1M (TCP 2,368 + sock_inode_cache 832 + dentry 192 + filp 192 "
        "+ bind buckets 128 + LSM blobs)"),
    "conntrack_entry_bytes": Constant(
        256, "bytes", "nf_conntrack slab object size, /proc/slabinfo on 6.18 (older: 300-320)"),
    "conntrack_bucket_bytes": Constant(8, "bytes", "one hlist_nulls_head pointer per bucket"),
    "tw_bytes": Constant(256, "bytes", "tw_sock_TCP slab object size, /proc/slabinfo on 6.18"),
    "syn_bytes": Constant(320, "bytes", "request_sock_TCP slab object size, /proc/slabinfo on 6.18"),
    "time_wait_seconds": Constant(60, "s", "TCP_TIMEWAIT_LEN, include/net/tcp.h (fixed)"),
    "conntrack_tw_seconds": Constant(
        120, "s", "nf_conntrack_tcp_timeout_time_wait default; the live value wins when readable"),
    "fin_timeout_seconds": Constant(
        60, "s", "tcp_fin_timeout default, longest FIN_WAIT2 orphan; the live value wins"),
    "handshake_seconds": Constant(
        1, "s", "TCP_TIMEOUT_INIT: a request whose SYN-ACK is lost waits 1 s in SYN_RECV (RFC 6298)"),
    "fd_reserve": Constant(
        1024, "descriptors",
        "descriptors a process holds besides connections (listeners, logs, epoll, libraries): "
        "the traditional default soft limit"),
    "headroom": Constant(1.25, "x", "margin on system-wide tables: other processes, bursts"),
    "burst_seconds": Constant(0.1, "s", "packet burst the per-CPU backlog must absorb"),
    "packets_per_handshake": Constant(3, "packets", "SYN, ACK, first data segment"),
    "conntrack_per_bucket": Constant(
        4, "entries", "max/buckets ratio; each entry is hashed twice, so 4 gives chains of ~8; "
                      "the hashsize= default ratio is 8 (" + CONNTRACK_SYSCTL + ")"),
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


def estimate(w: Workload, facts: HostFacts, c: dict[str, float]) -> Estimate:
    n, rate = w.connections, w.rate
    est = Estimate(connections=n, role=w.role, rate=rate, constants=c)
    add = lambda name, value, unit, detail: est.needs.append(  # noqa: E731
        Need(name, int(math.ceil(value)), unit, detail))
    ct_tw = _live_seconds(facts, "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
                          c["conntrack_tw_seconds"])
    ct_entries = n + rate * ct_tw
    memory = 0.0

    if w.role in ("server", "client"):
        per_proc = math.ceil(n / w.processes) + c["fd_reserve"]
        add("fds_per_process", per_proc, "descriptors",
            f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve")
        add("fds_system", n + w.processes * c["fd_reserve"], "file handles",
            "one per connection plus each process's reserve")
        kernel = n * c["socket_bytes"]
        buffers = n * w.bytes_buffered
        app = n * w.app_bytes
        tw = rate * c["time_wait_seconds"]
        add("kernel_socket_bytes", kernel, "bytes", f"{n:,} x {c['socket_bytes']:.0f} B slab")
        add("buffer_bytes", buffers, "bytes", f"{n:,} x {w.bytes_buffered:,} B buffered")
        add("app_bytes", app, "bytes", f"{n:,} x {w.app_bytes:,} B")
        add("tcp_mem_pages", buffers / facts.page_size, "pages",
            f"buffered bytes / {facts.page_size} B pages (tcp_mem counts buffers, not slab)")
        add("time_wait_sockets", tw, "sockets", f"{rate:,}/s x {c['time_wait_seconds']:.0f} s")
        add("time_wait_bytes", tw * c["tw_bytes"], "bytes", f"x {c['tw_bytes']:.0f} B each")
        add("syn_backlog", rate * c["handshake_seconds"], "requests",
            f"{rate:,}/s x {c['handshake_seconds']:.0f} s in SYN_RECV")
        add("accept_backlog", rate * w.accept_pause_ms / 1000, "connections",
            f"{rate:,}/s x {w.accept_pause_ms} ms accept pause")
        memory = kernel + buffers + app + tw * c["tw_bytes"]
        if w.role == "client":
            ips = source_ips(w, facts)
            add("ports_per_source_ip", n / (ips * w.destinations), "ports",
                f"{n:,} / ({ips} source IP(s) x {w.destinations} destination(s))")
            usable = facts.usable_ports()
            full = FULL_PORT_RANGE[1] - FULL_PORT_RANGE[0] + 1
            if usable:
                add("source_ips_needed", n / (usable * w.destinations), "addresses",
                    f"with the live range ({usable:,} usable ports)")
            add("source_ips_needed_full_range", n / (full * w.destinations), "addresses",
                f"with the widest range {FULL_PORT_RANGE[0]}-{FULL_PORT_RANGE[1]} ({full:,} ports)")
            per_pair = n / (ips * w.destinations)
            if usable and per_pair > usable / 2:
                fast = math.ceil(n / (usable * 0.3 * w.destinations))
                est.notes.append(
                    f"{per_pair:,.0f} ports per source IP and destination is over half of the "
                    f"{usable:,} usable: connect()'s port search slows sharply as they fill "
                    f"(15x at 53 % with tunekit probe on 6.18); {fast} source IPs keep each "
                    "under 30 %")
    add("conntrack_entries", ct_entries, "entries",
        f"{n:,} flows + {rate:,}/s x {ct_tw:.0f} s in TIME_WAIT"
        + ("" if w.role == "host" else " (only if a stateful firewall tracks them)"))
    add("conntrack_bytes", ct_entries * c["conntrack_entry_bytes"]
        + ct_entries / c["conntrack_per_bucket"] * c["conntrack_bucket_bytes"], "bytes",
        f"x {c['conntrack_entry_bytes']:.0f} B per entry + buckets")
    add("conntrack_buckets", ct_entries / c["conntrack_per_bucket"], "buckets",
        f"entries / {c['conntrack_per_bucket']:.0f}")
    if w.role == "host":
        memory = est.need("conntrack_bytes")
    add("memory_total", memory, "bytes", "kernel + buffers + app + TIME_WAIT" if w.role != "host"
        else "conntrack entries and buckets")

    est.limits = sorted(_limits(w, facts, c, ct_tw), key=lambda lim: lim.allows)
    est.rate_limits = _rate_limits(w, facts, c)
    if facts.mem_total and memory > facts.mem_total:
        est.notes.append(f"needs {memory / 2**30:.1f} GiB, more than this host's "
                         f"{facts.mem_total / 2**30:.1f} GiB of RAM")
    return est


def _limits(w: Workload, facts: HostFacts, c: dict[str, float], ct_tw: float) -> list[Limit]:
    out: list[Limit] = []
    reserve = int(c["fd_reserve"])
    if w.role in ("server", "client"):
        if facts.nofile:
            soft, hard = facts.nofile
            out.append(Limit("open files per process (RLIMIT_NOFILE soft)", "rlimit.nofile.soft",
                             max(0, soft - reserve) * w.processes,
                             f"({soft:,} - {reserve} reserve) x {w.processes} process(es), "
                             f"{facts.nofile_of}"))
            out.append(Limit("open files per process (RLIMIT_NOFILE hard)", "rlimit.nofile.hard",
                             max(0, hard - reserve) * w.processes,
                             "the soft limit can be raised to it without privileges"))
        nr_open = facts.int_value("fs.nr_open")
        if nr_open:
            out.append(Limit("per-process ceiling (fs.nr_open)", "fs.nr_open",
                             max(0, nr_open - reserve) * w.processes,
                             f"({nr_open:,} - {reserve}) x {w.processes} process(es)"))
        file_max = facts.int_value("fs.file-max")
        if file_max:
            used = facts.counters.get("files_allocated", 0)
            out.append(Limit("system-wide open files (fs.file-max)", "fs.file-max",
                             max(0, file_max - used), f"{file_max:,} - {used:,} in use"))
        if w.role == "client":
            usable = facts.usable_ports()
            if usable is not None:
                ips = source_ips(w, facts)
                out.append(Limit("ephemeral ports (ip_local_port_range)",
                                 "net.ipv4.ip_local_port_range",
                                 usable * ips * w.destinations,
                                 f"{usable:,} usable ports x {ips} source IP(s) x "
                                 f"{w.destinations} destination(s)"))
        per_conn = c["socket_bytes"] + w.bytes_buffered + w.app_bytes
        if facts.mem_available:
            out.append(Limit("memory (MemAvailable)", None,
                             int(facts.mem_available // per_conn),
                             f"{facts.mem_available / 2**30:.1f} GiB / {per_conn:,.0f} B per "
                             "connection (kernel + buffered + app)"))
        tcp_mem = facts.ints("net.ipv4.tcp_mem")
        if tcp_mem and len(tcp_mem) == 3 and w.bytes_buffered > 0:
            out.append(Limit("TCP buffer memory (tcp_mem max)", "net.ipv4.tcp_mem",
                             tcp_mem[2] * facts.page_size // w.bytes_buffered,
                             f"{tcp_mem[2]:,} pages x {facts.page_size} B / "
                             f"{w.bytes_buffered:,} B buffered per connection"))
    else:
        ct_max = facts.int_value("net.netfilter.nf_conntrack_max")
        if ct_max is not None:
            churn = int(w.rate * ct_tw)
            out.append(Limit("conntrack table (nf_conntrack_max)", "net.netfilter.nf_conntrack_max",
                             max(0, ct_max - churn),
                             f"{ct_max:,} - {churn:,} closed flows held {ct_tw:.0f} s"))
        if facts.mem_available:
            out.append(Limit("memory (MemAvailable)", None,
                             int(facts.mem_available // c["conntrack_entry_bytes"]),
                             f"{facts.mem_available / 2**30:.1f} GiB / "
                             f"{c['conntrack_entry_bytes']:.0f} B per entry"))
    return out


def _rate_limits(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Limit]:
    """Caps on the rate of new connections (per second) that live settings allow."""
    out: list[Limit] = []
    if w.role == "host":
        return out
    tw = facts.int_value("net.ipv4.tcp_max_tw_buckets")
    if tw is not None:
        out.append(Limit("closes/s before TIME_WAIT overflows (tcp_max_tw_buckets)",
                         "net.ipv4.tcp_max_tw_buckets", int(tw / c["time_wait_seconds"]),
                         f"{tw:,} / {c['time_wait_seconds']:.0f} s"))
    if w.role == "server":
        somax = facts.int_value("net.core.somaxconn")
        if somax is not None and w.accept_pause_ms:
            out.append(Limit("accepts/s through an accept pause (somaxconn)", "net.core.somaxconn",
                             int(somax * 1000 / w.accept_pause_ms),
                             f"{somax:,} / {w.accept_pause_ms} ms"))
        syn = facts.int_value("net.ipv4.tcp_max_syn_backlog")
        if syn is not None:
            out.append(Limit("handshakes/s (tcp_max_syn_backlog)", "net.ipv4.tcp_max_syn_backlog",
                             int(syn / c["handshake_seconds"]),
                             f"{syn:,} / {c['handshake_seconds']:.0f} s"))
    return out


# --- targets derived from a workload ------------------------------------------------


def _t(key: str, value, reason: str, source: str, op: str = "at_least", index=None) -> Target:
    return Target(key=key, op=op, value=value, index=index, reason=reason, source=source)


def derive_targets(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Target]:
    n, rate, head = w.connections, w.rate, c["headroom"]
    est = estimate(w, facts, c)
    out: list[Target] = []
    if w.role in ("server", "client"):
        per_proc = est.need("fds_per_process")
        system = math.ceil(est.need("fds_system") * head)
        out += [
            _t("fs.file-max", system,
               f"{n:,} connections + reserve, x{head} headroom; above it: ENFILE", KERNEL_DOCS_FS),
            _t("fs.nr_open", per_proc,
               f"must allow RLIMIT_NOFILE of {per_proc:,} ({n:,} / {w.processes} process(es) + "
               "reserve)", KERNEL_DOCS_FS + "; kernel/sys.c"),
            _t("rlimit.nofile.hard", per_proc,
               f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve; raising it "
               "needs CAP_SYS_RESOURCE", "getrlimit(2)"),
            _t("rlimit.nofile.soft", per_proc,
               "EMFILE on the next socket() or accept() above it", "getrlimit(2)"),
        ]
        pages = est.need("tcp_mem_pages")
        if pages:
            out.append(_t("net.ipv4.tcp_mem",
                          [math.ceil(pages * 0.75), pages, math.ceil(pages * 1.5)],
                          f"{n:,} x {w.bytes_buffered:,} B buffered = {pages:,} pages at pressure; "
                          "min 3/4 and max 3/2 of it, the kernel's own boot-time shape",
                          IP_SYSCTL + "; net/ipv4/tcp.c tcp_init_mem"))
        if w.bytes_buffered:
            for key in ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"):
                out.append(_t(key, w.bytes_buffered,
                              f"a socket must be allowed to buffer the workload's "
                              f"{w.bytes_buffered:,} B", IP_SYSCTL, index=2))
        if rate:
            tw = math.ceil(est.need("time_wait_sockets") * head)
            out.append(_t("net.ipv4.tcp_max_tw_buckets", tw,
                          f"{rate:,} closes/s x 60 s TIME_WAIT, x{head}; above it TIME_WAIT is cut "
                          "short", IP_SYSCTL + "; include/net/tcp.h TCP_TIMEWAIT_LEN"))
            fin = _live_seconds(facts, "net.ipv4.tcp_fin_timeout", c["fin_timeout_seconds"])
            out.append(_t("net.ipv4.tcp_max_orphans", math.ceil(rate * fin),
                          f"{rate:,} closes/s x {fin:.0f} s tcp_fin_timeout, the longest an "
                          "orphan lingers", IP_SYSCTL))
    if w.role == "server":
        out += [
            _t("net.core.somaxconn", max(4096, est.need("accept_backlog")),
               f"{rate:,}/s arriving during a {w.accept_pause_ms} ms accept pause "
               "(kernel default since 5.4: 4096)", IP_SYSCTL + "; commit 19f92a030ca6"),
            _t("net.ipv4.tcp_max_syn_backlog", max(1024, est.need("syn_backlog")),
               f"{rate:,} handshakes/s x {c['handshake_seconds']:.0f} s in SYN_RECV", IP_SYSCTL),
        ]
    if w.role in ("server", "host") and rate:
        packets = math.ceil(rate * c["packets_per_handshake"] * c["burst_seconds"])
        out.append(_t("net.core.netdev_max_backlog", max(1000, packets),
                      f"{rate:,}/s x {c['packets_per_handshake']:.0f} packets in a "
                      f"{c['burst_seconds']} s burst (default 1000)", KERNEL_DOCS_NET))
    if w.role == "client":
        out.append(_port_range_target(w, facts))
    if w.role == "host":
        ct_max = math.ceil(est.need("conntrack_entries") * head)
        out += [
            _t("net.netfilter.nf_conntrack_max", ct_max,
               f"{n:,} flows + closed flows held in TIME_WAIT, x{head}; when full new flows "
               "are dropped", CONNTRACK_SYSCTL),
            _t("net.netfilter.nf_conntrack_buckets",
               math.ceil(ct_max / c["conntrack_per_bucket"]),
               f"nf_conntrack_max / {c['conntrack_per_bucket']:.0f}: short hash chains",
               CONNTRACK_SYSCTL),
        ]
    return out


def _port_range_target(w: Workload, facts: HostFacts) -> Target:
    per_ip = math.ceil(w.connections / (source_ips(w, facts) * w.destinations))
    lo_full, hi = FULL_PORT_RANGE
    lo = max(lo_full, hi - per_ip + 1)
    if lo % 2 == hi % 2:  # ends of different parity: connect() and bind(0) split the range
        lo -= 1
    lo = max(lo, lo_full)
    return _t("net.ipv4.ip_local_port_range", [lo, hi],
              f"{per_ip:,} ports per source IP and destination "
              f"({w.connections:,} / {source_ips(w, facts)} IP(s) x {w.destinations}); ends of "
              "different parity (4.6+)", IP_SYSCTL + "; ip(7)")


def resolve_targets(profile: Profile, facts: HostFacts, c: dict[str, float]) -> list[Target]:
    """Derived targets, overridden by those pinned in the profile (same key and index)."""
    pinned = {(t.key, t.index) for t in profile.targets}
    derived = [t for t in derive_targets(profile.workload, facts, c)
               if (t.key, t.index) not in pinned]
    return derived + list(profile.targets)


def with_connections(profile: Profile, conns: int | None) -> Profile:
    """The profile rescaled to `conns` connections (validated like the TOML field)."""
    if conns is None:
        return profile
    workload = Workload.model_validate({**profile.workload.model_dump(), "connections": conns})
    return profile.model_copy(update={"workload": workload})
