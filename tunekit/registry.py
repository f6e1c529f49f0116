"""Every knob tunekit knows, in one table. Nothing else hard-codes a path.

Scope was measured on kernel 6.18 inside a fresh network namespace (`unshare -n`):
tcp_mem, tcp_max_orphans and netdev_max_backlog are absent there (global keys),
nf_conntrack_max is present but read-only, the rest are per namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shape = Literal["int", "triple", "range"]
Scope = Literal["global", "netns", "process"]
Kind = Literal["sysctl", "rlimit"]

KERNEL_DOCS_FS = "Documentation/admin-guide/sysctl/fs.rst"
KERNEL_DOCS_NET = "Documentation/admin-guide/sysctl/net.rst"
IP_SYSCTL = "Documentation/networking/ip-sysctl.rst"
CONNTRACK_SYSCTL = "Documentation/networking/nf_conntrack-sysctl.rst"


@dataclass(frozen=True)
class Key:
    name: str
    shape: Shape
    unit: str
    scope: Scope
    reason: str
    source: str
    kind: Kind = "sysctl"
    module: str | None = None  # kernel module that provides the key
    maximum: int | None = None  # largest value the kernel accepts, where known

    @property
    def proc_path(self) -> str:
        """Path relative to the root, e.g. proc/sys/net/core/somaxconn."""
        return "proc/sys/" + self.name.replace(".", "/")


_KEYS = [
    Key("fs.file-max", "int", "file handles", "global",
        "system-wide cap on open files; above it every open() and accept() fails with ENFILE",
        KERNEL_DOCS_FS),
    Key("fs.nr_open", "int", "file descriptors", "global",
        "ceiling for any process's RLIMIT_NOFILE; a hard limit above it is refused with EPERM",
        KERNEL_DOCS_FS + "; kernel/sys.c do_prlimit",
        # Measured on 6.18: 2147483585 is rejected with EINVAL (older kernels: 1073741816).
        maximum=2147483584),
    Key("rlimit.nofile.soft", "int", "file descriptors", "process",
        "open files one process may hold; the next socket() or accept() fails with EMFILE",
        "getrlimit(2); kernel/sys.c", kind="rlimit"),
    Key("rlimit.nofile.hard", "int", "file descriptors", "process",
        "ceiling for the soft limit; raising it needs CAP_SYS_RESOURCE",
        "getrlimit(2); capabilities(7)", kind="rlimit"),
    Key("net.core.somaxconn", "int", "connections", "netns",
        "silent cap on every listen() backlog; a full accept queue drops new connections "
        "(TcpExt ListenOverflows)", IP_SYSCTL + "; net/socket.c"),
    Key("net.ipv4.tcp_max_syn_backlog", "int", "requests", "netns",
        "half-open (SYN_RECV) requests per listener, ~320 bytes each; ignored while syncookies "
        "are in use", IP_SYSCTL),
    Key("net.ipv4.tcp_syncookies", "int", "mode", "netns",
        "SYN-flood fallback when the SYN queue overflows; 0 removes it", IP_SYSCTL),
    Key("net.core.netdev_max_backlog", "int", "packets", "global",
        "per-CPU input queue (loopback, veth, RPS) when packets arrive faster than the stack "
        "takes them", KERNEL_DOCS_NET),
    Key("net.ipv4.ip_local_port_range", "range", "ports", "netns",
        "ephemeral ports for connect(); one source IP reaches one destination ip:port at most "
        "(width - reserved) times", IP_SYSCTL + "; ip(7)"),
    Key("net.ipv4.tcp_mem", "triple", "pages", "global",
        "min/pressure/max memory for all TCP socket buffers together, in pages; above max: "
        "'TCP: out of memory -- consider tuning tcp_mem'", IP_SYSCTL + "; net/ipv4/tcp.c"),
    Key("net.ipv4.tcp_rmem", "triple", "bytes", "netns",
        "per-socket receive buffer min/default/max in bytes", IP_SYSCTL),
    Key("net.ipv4.tcp_wmem", "triple", "bytes", "netns",
        "per-socket send buffer min/default/max in bytes", IP_SYSCTL),
    Key("net.ipv4.tcp_max_tw_buckets", "int", "sockets", "netns",
        "TIME_WAIT sockets held at once; above it they are destroyed early with a warning",
        IP_SYSCTL),
    Key("net.ipv4.tcp_max_orphans", "int", "sockets", "global",
        "sockets closed by the application but not yet by TCP; above it they are reset. "
        "The docs say raise it, never lower it", IP_SYSCTL),
    Key("net.ipv4.tcp_tw_reuse", "int", "mode", "netns",
        "lets connect() reuse a TIME_WAIT port (1 = all, 2 = loopback only); outgoing only",
        IP_SYSCTL),
    Key("net.netfilter.nf_conntrack_max", "int", "entries", "global",
        "conntrack table capacity; when full: 'nf_conntrack: table full, dropping packet'",
        CONNTRACK_SYSCTL, module="nf_conntrack"),
    Key("net.netfilter.nf_conntrack_buckets", "int", "buckets", "global",
        "conntrack hash buckets (the hashsize module parameter); written through "
        "/sys/module/nf_conntrack/parameters/hashsize", CONNTRACK_SYSCTL, module="nf_conntrack"),
]

KEYS: dict[str, Key] = {k.name: k for k in _KEYS}


def get(name: str) -> Key:
    return KEYS[name]
