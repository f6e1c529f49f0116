"""The capacity model's constants: every number the model uses that is not a setting,
each with its unit and where it comes from. Override with --const NAME=VALUE, or measure
them with `tunekit probe --calibrate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunekit.errors import UsageError


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


# The values each constant may take: beyond them the model's arithmetic means nothing (a
# payload under 512 B per skb, a headroom of 1e12, a fraction of RAM above 0.95). --const
# and a calibration are checked against them.
RANGES: dict[str, tuple[float, float]] = {
    "socket_bytes": (500, 1_000_000),
    "skb_overhead_bytes": (0, 65_536),
    "skb_payload_bytes": (512, 1 << 20),
    "buffer_factor": (0.1, 10),
    "conntrack_entry_bytes": (64, 65_536),
    "conntrack_bucket_bytes": (1, 64),
    "tw_bytes": (64, 65_536),
    "syn_bytes": (64, 65_536),
    "time_wait_seconds": (1, 600),
    "orphan_seconds": (0.001, 3600),
    "conntrack_tw_seconds": (1, 86_400),
    "handshake_seconds": (0.001, 600),
    "fd_reserve": (0, 1_000_000),
    "headroom": (1, 10),
    "tcp_mem_max_fraction": (0.01, 0.95),
    "burst_seconds": (0.001, 60),
    "packets_per_handshake": (1, 100),
    "conntrack_per_bucket": (0.125, 64),
}


def constants(overrides: dict[str, float] | None = None) -> dict[str, float]:
    values = {name: c.value for name, c in CONSTANTS.items()}
    for name, value in (overrides or {}).items():
        if name not in CONSTANTS:
            raise UsageError(f"unknown constant {name!r}", f"known: {', '.join(CONSTANTS)}")
        low, high = RANGES[name]
        if not low <= value <= high:
            raise UsageError(
                f"constant {name} = {value:g}: expected {low:,.10g} to {high:,.10g} "
                f"{CONSTANTS[name].unit}".rstrip()
            )
        values[name] = value
    return values
