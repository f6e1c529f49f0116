"""The targets a workload needs, derived by the capacity model, and the profile's pinned
targets over them. Pure functions over data.
"""

from __future__ import annotations

import math

from tunekit.errors import UsageError
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import CONNTRACK_SYSCTL, IP_SYSCTL, KERNEL_DOCS_FS, KERNEL_DOCS_NET, Key
from tunekit.model import values
from tunekit.model.capacity import (
    FULL_PORT_RANGE,
    Estimate,
    buffer_truesize,
    estimate,
    source_ips,
    tcp_mem_cap,
    tcp_mem_triple,
)
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Profile, Target, Workload


def _t(key: Key, value, reason: str, source: str, op: str = "at_least", index=None) -> Target:
    """A derived target, checked like a pinned one: a workload (or a --const) that needs a
    value no kernel accepts is refused with the key and the value, not a stack of errors."""
    from pydantic import ValidationError

    try:
        return Target(key=key.name, op=op, value=value, index=index, reason=reason, source=source)
    except ValidationError as err:
        why = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(
            f"this workload needs {key.name} = {value}: {why}",
            "fewer connections per process (workload processes), or other constants",
        ) from None


def derive_targets(
    w: Workload, facts: HostFacts, c: dict[str, float], syncookies: int = 1
) -> list[Target]:
    """The targets a workload needs. `syncookies`: the value that will hold (pinned, else
    live): tcp_max_syn_backlog is a target only where the kernel reads it (cookies off)."""
    est = estimate(w, facts, c)
    out: list[Target] = []
    if w.role in ("server", "client"):
        out += _descriptor_targets(w, c, est)
        out += _tcp_mem_targets(w, facts, c, est)
        out += _buffer_targets(w, c)
        out += _churn_targets(w, c, est)
    if w.role == "server":
        out += _listen_targets(w, c, est, syncookies)
    if w.role in ("server", "host") and w.rate:
        packets = math.ceil(w.rate * c["packets_per_handshake"] * c["burst_seconds"])
        out.append(
            _t(
                K.NETDEV_BACKLOG,
                max(1000, packets),
                f"{w.rate:,}/s x {c['packets_per_handshake']:.0f} packets in a "
                f"{c['burst_seconds']} s burst (default 1000)",
                KERNEL_DOCS_NET,
            )
        )
    if w.role == "client":
        out += _port_targets(w, facts)
    if w.role == "host":
        out += _conntrack_targets(w, c, est)
    return out


def _descriptor_targets(w: Workload, c: dict[str, float], est: Estimate) -> list[Target]:
    n, head = w.connections, c["headroom"]
    per_proc = est.need("fds_per_process")
    system = math.ceil(est.need("fds_system") * head)
    return [
        _t(
            K.FILE_MAX,
            system,
            f"{n:,} connections + reserve, x{head} headroom; above it: ENFILE",
            KERNEL_DOCS_FS,
        ),
        _t(
            K.NR_OPEN,
            per_proc,
            f"must allow RLIMIT_NOFILE of {per_proc:,} ({n:,} / {w.processes} process(es) + "
            "reserve)",
            KERNEL_DOCS_FS + "; kernel/sys.c",
        ),
        _t(
            K.NOFILE_HARD,
            per_proc,
            f"{n:,} / {w.processes} process(es) + {c['fd_reserve']:.0f} reserve; raising it "
            "needs CAP_SYS_RESOURCE",
            "getrlimit(2)",
        ),
        _t(
            K.NOFILE_SOFT,
            per_proc,
            "EMFILE on the next socket() or accept() above it; raised only where the "
            "workload runs (its unit, its process), 1024 elsewhere: select() breaks past "
            "descriptor 1023",
            "getrlimit(2); select(2); systemd NEWS v240",
        ),
    ]


def _buffer_targets(w: Workload, c: dict[str, float]) -> list[Target]:
    if not w.bytes_buffered:
        return []
    want = buffer_truesize(w.bytes_buffered, c)
    return [
        _t(
            K.TCP_RMEM,
            want,
            f"a socket that is not read keeps its default receive buffer: "
            f"{w.bytes_buffered:,} B of data take {want:,} B of it (skb truesize)",
            IP_SYSCTL + " (tcp_rmem, tcp_moderate_rcvbuf)",
            index=1,
        )
    ]


def _churn_targets(w: Workload, c: dict[str, float], est: Estimate) -> list[Target]:
    """TIME_WAIT and orphans, which only the side that closes first holds."""
    rate, head = w.rate, c["headroom"]
    if not rate or w.closes != "local":
        return []
    secs = c["time_wait_seconds"]
    return [
        _t(
            K.TW_BUCKETS,
            math.ceil(est.need("time_wait_sockets") * head),
            f"{rate:,} closes/s x {secs:.0f} s TIME_WAIT, x{head}; above it closing "
            "sockets skip TIME_WAIT silently (TcpExt TCPTimeWaitOverflow), and "
            "orphans in FIN_WAIT2 count here too",
            IP_SYSCTL + "; net/ipv4/tcp_minisocks.c tcp_time_wait",
        ),
        _t(
            K.MAX_ORPHANS,
            math.ceil(est.need("orphan_sockets") * head),
            f"{rate:,} closes/s x {c['orphan_seconds']:g} s in FIN_WAIT1/LAST_ACK, "
            f"x{head}; FIN_WAIT2 orphans are TIME_WAIT minisocks (tcp_fin_timeout "
            "<= 60 s), not counted here; never lower it",
            IP_SYSCTL + "; net/ipv4/tcp.c tcp_close",
        ),
    ]


def _listen_targets(
    w: Workload, c: dict[str, float], est: Estimate, syncookies: int
) -> list[Target]:
    rate = w.rate
    backlog = (
        f"; the application's own backlog ({w.listen_backlog:,}) caps it too"
        if w.listen_backlog
        else "; the application's listen() backlog caps it too (ss -lnt: Send-Q)"
    )
    out = [
        _t(
            K.SOMAXCONN,
            max(4096, est.need("accept_backlog")),
            f"{rate:,}/s arriving during a {w.accept_pause_ms} ms accept pause "
            f"(kernel default since 5.4: 4096){backlog}",
            IP_SYSCTL + "; commit 19f92a030ca6",
        )
    ]
    if syncookies == 0:
        out.append(
            _t(
                K.SYN_BACKLOG,
                max(1024, math.ceil(est.need("syn_recv") * 4 / 3)),
                f"syncookies are off, so SYNs are dropped once the SYN queue holds "
                f"3/4 of it: {rate:,} handshakes/s x {c['handshake_seconds']:.0f} s",
                "net/ipv4/tcp_input.c tcp_conn_request",
            )
        )
    return out


def _conntrack_targets(w: Workload, c: dict[str, float], est: Estimate) -> list[Target]:
    head = c["headroom"]
    ct_max = math.ceil(est.need("conntrack_entries") * head)
    return [
        _t(
            K.CONNTRACK_MAX,
            ct_max,
            f"{w.connections:,} flows + closed flows held in TIME_WAIT, x{head}; when full "
            "new flows are dropped",
            CONNTRACK_SYSCTL,
        ),
        _t(
            K.CONNTRACK_BUCKETS,
            math.ceil(ct_max / c["conntrack_per_bucket"]),
            f"nf_conntrack_max / {c['conntrack_per_bucket']:g}, the kernel's default ratio "
            "(chains of ~2: each entry is hashed twice)",
            CONNTRACK_SYSCTL + "; net/netfilter/nf_conntrack_core.c",
        ),
    ]


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
                K.TCP_MEM,
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
                K.TCP_MEM,
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
    # ends of different parity: with one parity a port is never picked and the kernel
    # warns (inet_hashtables.c __inet_hash_connect: remaining &= ~1; sysctl_net_ipv4.c)
    if lo % 2 == hi % 2:
        lo -= 1
    lo = max(lo, lo_full)
    out = [
        _t(
            K.PORT_RANGE,
            [lo, hi],
            f"{per_ip:,} ports per source IP and destination ({w.connections:,} / {ips} "
            f"IP(s) x {w.destinations}); ends of different parity, as the kernel prefers",
            IP_SYSCTL + "; ip(7)",
        )
    ]
    inside = [p for p in facts.listening or [] if lo <= p <= hi]
    if inside:
        ports = values.portset_text(values.merge([(p, p) for p in inside]))
        out.append(
            _t(
                K.RESERVED_PORTS,
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
            if t.key == K.SYNCOOKIES.name and isinstance(t.value, int)
        ),
        None,
    )
    if cookies is None:
        cookies = facts.int_value(K.SYNCOOKIES.name)
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
