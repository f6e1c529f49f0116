"""How many connections (and how many per second) each live setting allows: the limits
the estimate sorts, lowest first, so that the first one binds. Pure functions over data."""

from __future__ import annotations

from tunekit.knowledge import catalogue as K
from tunekit.model.capacity import (
    PRESSURE_OVER_MIN,
    Limit,
    buffer_pages,
    source_ips,
    tcp_mem_cap,
)
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Workload


def _limit(name: str, key: str | None, allows: int, detail: str) -> Limit:
    return Limit(name=name, key=key, allows=allows, detail=detail)


def limits(w: Workload, facts: HostFacts, c: dict[str, float], ct_tw: float) -> list[Limit]:
    """Every live limit on the connection count that can be read from `facts`."""
    if w.role == "host":
        return _conntrack_limits(w, facts, c, ct_tw)
    out = _descriptor_limits(w, facts, c)
    if w.role == "client":
        usable = facts.usable_ports()
        if usable is not None:
            ips = source_ips(w, facts)
            out.append(
                _limit(
                    "ephemeral ports (ip_local_port_range)",
                    K.PORT_RANGE.name,
                    usable * ips * w.destinations,
                    f"{usable:,} usable ports x {ips} source IP(s) x "
                    f"{w.destinations} destination(s)",
                )
            )
    return out + _memory_limits(w, facts, c)


def _descriptor_limits(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Limit]:
    """Open files: the process's RLIMIT_NOFILE, fs.nr_open over it, fs.file-max for all."""
    out: list[Limit] = []
    reserve = int(c["fd_reserve"])
    if facts.nofile:
        soft, hard = facts.nofile
        if facts.nofile_is_workload:
            out.append(
                _limit(
                    "open files per process (RLIMIT_NOFILE soft)",
                    K.NOFILE_SOFT.name,
                    max(0, soft - reserve) * w.processes,
                    f"({soft:,} - {reserve} reserve) x {w.processes} "
                    f"process(es), {facts.nofile_of}",
                )
            )
        out.append(
            _limit(
                "open files per process (RLIMIT_NOFILE hard)",
                K.NOFILE_HARD.name,
                max(0, hard - reserve) * w.processes,
                f"({hard:,} - {reserve} reserve) x {w.processes} process(es), "
                f"{facts.nofile_of}; a program raises its soft limit up to it",
            )
        )
    nr_open = facts.int_value(K.NR_OPEN.name)
    if nr_open:
        out.append(
            _limit(
                f"per-process ceiling ({K.NR_OPEN.name})",
                K.NR_OPEN.name,
                max(0, nr_open - reserve) * w.processes,
                f"({nr_open:,} - {reserve}) x {w.processes} process(es)",
            )
        )
    file_max = facts.int_value(K.FILE_MAX.name)
    if file_max:
        used = facts.counters.get("files_allocated", 0)
        out.append(
            _limit(
                f"system-wide open files ({K.FILE_MAX.name})",
                K.FILE_MAX.name,
                max(0, file_max - used),
                f"{file_max:,} - {used:,} in use",
            )
        )
    return out


def _memory_limits(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Limit]:
    """Memory: what is available, tcp_mem's live max, and what tunekit lets TCP take."""
    out: list[Limit] = []
    pages = buffer_pages(w, facts, c)
    per_conn = c["socket_bytes"] + pages * facts.page_size + w.app_bytes
    if facts.mem_available:
        out.append(
            _limit(
                "memory (MemAvailable)",
                None,
                int(facts.mem_available // per_conn),
                f"{facts.mem_available / 2**30:.1f} GiB / {per_conn:,.0f} B per "
                "connection (kernel + buffers + app)",
            )
        )
    tcp_mem = facts.ints(K.TCP_MEM.name)
    if tcp_mem and len(tcp_mem) == 3 and pages:
        out.append(
            _limit(
                "TCP buffer memory (tcp_mem max)",
                K.TCP_MEM.name,
                tcp_mem[2] // pages,
                f"{tcp_mem[2]:,} pages / {pages} page(s) per connection",
            )
        )
    cap = tcp_mem_cap(facts, c)
    if cap is not None and pages:
        out.append(
            _limit(
                "TCP buffer memory this host can back",
                K.TCP_MEM.name,
                int(cap / (PRESSURE_OVER_MIN * c["headroom"]) // pages),
                f"tcp_mem at most {c['tcp_mem_max_fraction']:.0%} of RAM "
                f"({cap:,} pages, tunekit's policy) with the need under min = 3/4 pressure "
                f"and x{c['headroom']:g} headroom; a policy, not a kernel limit "
                "(`estimate --const tcp_mem_max_fraction=F` tries another)",
            )
        )
    return out


def _conntrack_limits(
    w: Workload, facts: HostFacts, c: dict[str, float], ct_tw: float
) -> list[Limit]:
    out: list[Limit] = []
    ct_max = facts.int_value(K.CONNTRACK_MAX.name)
    if ct_max is not None:
        churn = int(w.rate * ct_tw)
        out.append(
            _limit(
                "conntrack table (nf_conntrack_max)",
                K.CONNTRACK_MAX.name,
                max(0, ct_max - churn),
                f"{ct_max:,} - {churn:,} closed flows held {ct_tw:.0f} s",
            )
        )
    if facts.mem_available:
        out.append(
            _limit(
                "memory (MemAvailable)",
                None,
                int(facts.mem_available // c["conntrack_entry_bytes"]),
                f"{facts.mem_available / 2**30:.1f} GiB / "
                f"{c['conntrack_entry_bytes']:.0f} B per entry",
            )
        )
    return out


def rate_limits(w: Workload, facts: HostFacts, c: dict[str, float]) -> list[Limit]:
    """Caps on the rate of new connections (per second) that live settings allow."""
    out: list[Limit] = []
    if w.role == "host":
        return out
    tw = facts.int_value(K.TW_BUCKETS.name)
    if tw is not None and w.closes == "local":
        out.append(
            _limit(
                "closes/s before TIME_WAIT overflows (tcp_max_tw_buckets)",
                K.TW_BUCKETS.name,
                int(tw / c["time_wait_seconds"]),
                f"{tw:,} / {c['time_wait_seconds']:.0f} s; beyond it closing sockets "
                "skip TIME_WAIT silently (TcpExt TCPTimeWaitOverflow)",
            )
        )
    if w.role == "server":
        somax = facts.int_value(K.SOMAXCONN.name)
        if somax is not None and w.accept_pause_ms:
            queue = min(somax, w.listen_backlog) if w.listen_backlog else somax
            out.append(
                _limit(
                    "accepts/s through an accept pause (min(listen backlog, somaxconn))",
                    K.SOMAXCONN.name,
                    int(queue * 1000 / w.accept_pause_ms),
                    f"{queue:,} / {w.accept_pause_ms} ms"
                    + (
                        ""
                        if w.listen_backlog
                        else " (application backlog unknown: assumed >= somaxconn)"
                    ),
                )
            )
        if facts.int_value(K.SYNCOOKIES.name) == 0:
            syn = facts.int_value(K.SYN_BACKLOG.name)
            if syn is not None and somax is not None:
                queue = min(somax, w.listen_backlog or somax, syn * 3 // 4)
                out.append(
                    _limit(
                        "handshakes/s with syncookies off (SYN queue)",
                        K.SYN_BACKLOG.name,
                        int(queue / c["handshake_seconds"]),
                        f"min(backlog, somaxconn, 3/4 x tcp_max_syn_backlog) = "
                        f"{queue:,} / {c['handshake_seconds']:.0f} s in SYN_RECV",
                    )
                )
    return out
