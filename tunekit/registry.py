"""Every knob tunekit knows, in one table, and a generic entry for any other sysctl.

A key's entry says everything special about it: where it lives, its shape and unit, its
scope, the bounds the kernel accepts, the module that provides it, in what order apply
writes it and how it is persisted. check, plan and apply ask the registry; no other module
names a key. The capacity model refers to keys through the constants defined here.

Scope was measured on kernel 6.18 inside a fresh network namespace (`unshare -n`):
tcp_mem, tcp_max_orphans and netdev_max_backlog are absent there (global keys),
nf_conntrack_max is present but read-only, the rest are per namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

# int: one integer. triple: min default max. range: low high. ints: any count of integers
# (generic keys). string: text compared as a whole (tcp_congestion_control = "bbr").
# portset: "8080,9000-9010", compared as a set of ports and never expanded.
Shape = Literal["int", "triple", "range", "ints", "string", "portset"]
Scope = Literal["global", "netns", "process", "unknown"]
Kind = Literal["sysctl", "rlimit", "input"]  # input: read for the model, never a target
Persist = Literal["sysctl.d", "modprobe", "limits"]

KERNEL_DOCS_FS = "Documentation/admin-guide/sysctl/fs.rst"
KERNEL_DOCS_NET = "Documentation/admin-guide/sysctl/net.rst"
IP_SYSCTL = "Documentation/networking/ip-sysctl.rst"
CONNTRACK_SYSCTL = "Documentation/networking/nf_conntrack-sysctl.rst"

_PART_RE = re.compile(r"^[A-Za-z0-9_:@+-][A-Za-z0-9_.:@+-]{0,63}$")
MAX_PARTS = 12


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
    minimum: int | None = None  # smallest value the kernel accepts, where known
    maximum: int | None = None  # largest value the kernel accepts, where known
    order: int = 50  # runtime write order, lower first
    write_path: str | None = None  # where the runtime value is written, if not its proc path
    persist: Persist = "sysctl.d"
    param: str | None = None  # module parameter name, for persist = "modprobe"
    parity: bool = False  # a range whose ends must differ in parity (connect() vs bind(0))
    known: bool = True  # False: a generic entry, shape inferred from the values
    path_parts: tuple[str, ...] = ()

    @property
    def proc_path(self) -> str:
        """Path relative to the root, e.g. proc/sys/net/core/somaxconn."""
        return "proc/sys/" + "/".join(self.path_parts or self.name.split("."))

    @property
    def runtime_path(self) -> str:
        return self.write_path or self.proc_path


def _key(name: str, shape: Shape, unit: str, scope: Scope, reason: str, source: str, **kw) -> Key:
    return Key(name, shape, unit, scope, reason, source, **kw)


# --- the keys tunekit has knowledge of --------------------------------------------------

FILE_MAX = _key(
    "fs.file-max",
    "int",
    "file handles",
    "global",
    "system-wide cap on open files; above it every open() and accept() fails with ENFILE",
    KERNEL_DOCS_FS,
)
NR_OPEN = _key(
    "fs.nr_open",
    "int",
    "file descriptors",
    "global",
    "ceiling for any process's RLIMIT_NOFILE; a hard limit above it is refused with EPERM",
    KERNEL_DOCS_FS + "; kernel/sys.c do_prlimit",
    # Measured on 6.18: 2147483585 is rejected with EINVAL (older kernels: 1073741816).
    minimum=1,
    maximum=2147483584,
    order=10,
)
NOFILE_SOFT = _key(
    "rlimit.nofile.soft",
    "int",
    "file descriptors",
    "process",
    "open files one process may hold; the next socket() or accept() fails with EMFILE. Kept "
    "at 1024 for everything but the workload: select() breaks on descriptors >= FD_SETSIZE",
    "getrlimit(2); select(2); systemd NEWS v240",
    kind="rlimit",
    persist="limits",
    order=91,
    minimum=0,
)
NOFILE_HARD = _key(
    "rlimit.nofile.hard",
    "int",
    "file descriptors",
    "process",
    "ceiling for the soft limit, which a program may raise itself; raising the hard limit "
    "needs CAP_SYS_RESOURCE",
    "getrlimit(2); capabilities(7)",
    kind="rlimit",
    persist="limits",
    order=90,
    minimum=0,
)
SOMAXCONN = _key(
    "net.core.somaxconn",
    "int",
    "connections",
    "netns",
    "silent cap on every listen() backlog, which bounds both the accept queue and (with "
    "syncookies on) the SYN queue; a full accept queue drops (TcpExt ListenOverflows)",
    IP_SYSCTL + "; net/socket.c; net/ipv4/tcp_input.c tcp_conn_request",
    minimum=0,
    maximum=2147483647,
)
SYN_BACKLOG = _key(
    "net.ipv4.tcp_max_syn_backlog",
    "int",
    "requests",
    "netns",
    "read only while tcp_syncookies = 0: SYNs from unproven peers are dropped once the SYN "
    "queue is 3/4 of it; with syncookies on it does nothing",
    "net/ipv4/tcp_input.c tcp_conn_request",
    minimum=0,
)
SYNCOOKIES = _key(
    "net.ipv4.tcp_syncookies",
    "int",
    "mode",
    "netns",
    "SYN-flood fallback when the SYN queue (min(listen backlog, somaxconn)) is full: 1 sends "
    "cookies instead of dropping; 0 drops; 2 sends cookies always (a testing mode)",
    IP_SYSCTL + "; net/ipv4/tcp_input.c tcp_conn_request",
    minimum=0,
    maximum=2,
)
NETDEV_BACKLOG = _key(
    "net.core.netdev_max_backlog",
    "int",
    "packets",
    "global",
    "per-CPU input queue (loopback, veth, RPS) when packets arrive faster than the stack "
    "takes them",
    KERNEL_DOCS_NET,
    minimum=0,
)
PORT_RANGE = _key(
    "net.ipv4.ip_local_port_range",
    "range",
    "ports",
    "netns",
    "ephemeral ports for connect(); one source IP reaches one destination ip:port at most "
    "(width - reserved) times",
    IP_SYSCTL + "; ip(7)",
    minimum=1,
    maximum=65535,
    parity=True,
)
RESERVED_PORTS = _key(
    "net.ipv4.ip_local_reserved_ports",
    "portset",
    "ports",
    "netns",
    "ports connect() and bind(0) never pick: the host's listening ports inside a wide "
    "ephemeral range belong here",
    IP_SYSCTL,
    minimum=1,
    maximum=65535,
)
TCP_MEM = _key(
    "net.ipv4.tcp_mem",
    "triple",
    "pages",
    "global",
    "min/pressure/max memory for all TCP socket buffers together, in pages; above pressure TCP "
    "moderates until usage falls under min; above max: 'TCP: out of memory -- consider tuning "
    "tcp_mem'",
    IP_SYSCTL + "; net/ipv4/tcp.c",
    minimum=0,
)
TCP_RMEM = _key(
    "net.ipv4.tcp_rmem",
    "triple",
    "bytes",
    "netns",
    "per-socket receive buffer min/default/max in bytes; a socket starts at the default and "
    "autotuning grows it only for a reader",
    IP_SYSCTL,
    minimum=1,
)
TCP_WMEM = _key(
    "net.ipv4.tcp_wmem",
    "triple",
    "bytes",
    "netns",
    "per-socket send buffer min/default/max in bytes",
    IP_SYSCTL,
    minimum=1,
)
TW_BUCKETS = _key(
    "net.ipv4.tcp_max_tw_buckets",
    "int",
    "sockets",
    "netns",
    "TIME_WAIT (and FIN_WAIT2 orphan) minisockets held at once; above it a closing socket "
    "skips TIME_WAIT silently, counted in TcpExt TCPTimeWaitOverflow",
    IP_SYSCTL + "; net/ipv4/tcp_minisocks.c tcp_time_wait",
    minimum=0,
)
MAX_ORPHANS = _key(
    "net.ipv4.tcp_max_orphans",
    "int",
    "sockets",
    "global",
    "sockets closed by the application still in FIN_WAIT1/CLOSING/LAST_ACK; above it they are "
    "reset. Each may hold up to ~64 KB; the docs say raise it, never lower it",
    IP_SYSCTL,
    minimum=0,
)
TW_REUSE = _key(
    "net.ipv4.tcp_tw_reuse",
    "int",
    "mode",
    "netns",
    "lets connect() reuse a TIME_WAIT port (1 = all, 2 = loopback only); outgoing only; "
    "needs tcp_timestamps",
    IP_SYSCTL,
    minimum=0,
    maximum=2,
)
FIN_TIMEOUT = _key(
    "net.ipv4.tcp_fin_timeout",
    "int",
    "seconds",
    "netns",
    "how long an orphaned socket waits in FIN_WAIT2 for the peer's FIN; not TIME_WAIT",
    IP_SYSCTL + "; net/ipv4/tcp.c tcp_close",
    minimum=0,
)
CONNTRACK_MAX = _key(
    "net.netfilter.nf_conntrack_max",
    "int",
    "entries",
    "global",
    "conntrack table capacity; when full: 'nf_conntrack: table full, dropping packet'",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    order=30,
    minimum=0,
)
CONNTRACK_BUCKETS = _key(
    "net.netfilter.nf_conntrack_buckets",
    "int",
    "buckets",
    "global",
    "conntrack hash buckets (the hashsize module parameter); written through "
    "/sys/module/nf_conntrack/parameters/hashsize",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    order=20,
    minimum=1,
    write_path="sys/module/nf_conntrack/parameters/hashsize",
    persist="modprobe",
    param="hashsize",
)

# Read for the capacity model; never a target of their own.
CONNTRACK_TW_TIMEOUT = _key(
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
    "int",
    "seconds",
    "netns",
    "how long conntrack keeps a closed TCP flow",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
)
CONNTRACK_COUNT = _key(
    "net.netfilter.nf_conntrack_count",
    "int",
    "entries",
    "netns",
    "flows tracked now",
    CONNTRACK_SYSCTL,
    kind="input",
    module="nf_conntrack",
)
OSRELEASE = _key(
    "kernel.osrelease",
    "string",
    "",
    "global",
    "kernel release",
    "Documentation/admin-guide/sysctl/kernel.rst",
    kind="input",
)

_KEYS = [
    FILE_MAX,
    NR_OPEN,
    NOFILE_SOFT,
    NOFILE_HARD,
    SOMAXCONN,
    SYN_BACKLOG,
    SYNCOOKIES,
    NETDEV_BACKLOG,
    PORT_RANGE,
    RESERVED_PORTS,
    TCP_MEM,
    TCP_RMEM,
    TCP_WMEM,
    TW_BUCKETS,
    MAX_ORPHANS,
    TW_REUSE,
    FIN_TIMEOUT,
    CONNTRACK_MAX,
    CONNTRACK_BUCKETS,
    CONNTRACK_TW_TIMEOUT,
    CONNTRACK_COUNT,
    OSRELEASE,
]
KEYS: dict[str, Key] = {k.name: k for k in _KEYS}

# Names the kernel still accepts for the same file (nf_conntrack_standalone.c registers
# net.nf_conntrack_max in the initial namespace).
ALIASES = {"net.nf_conntrack_max": CONNTRACK_MAX.name}


class KeyError_(ValueError):
    """A key name that is not a sysctl path: refused before anything is read or written."""


def split_name(name: str) -> tuple[str, ...]:
    """Components of a sysctl name in dotted (net.core.somaxconn) or slash
    (net/core/somaxconn, which allows dots in a component: eth0.100) form."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise KeyError_(f"{name!r} is not a sysctl name")
    text = name.strip("/") if "/" in name else name
    parts = tuple(text.split("/") if "/" in name else text.split("."))
    if (
        len(parts) < 2
        or len(parts) > MAX_PARTS
        or any(p in (".", "..") or not _PART_RE.match(p) for p in parts)
    ):
        raise KeyError_(
            f"{name!r} is not a sysctl name: components of letters, digits and "
            "_-:@+ (no '..', no empty part, no '/' escape)"
        )
    return parts


def lookup(name: str) -> Key:
    """The entry for `name` (dotted or slash form, or an alias); a generic entry for a
    sysctl tunekit has no knowledge of. Raises KeyError_ for a name that is not a path."""
    if name in KEYS:
        return KEYS[name]
    if name in ALIASES:
        return KEYS[ALIASES[name]]
    if name.startswith("rlimit."):
        raise KeyError_(f"unknown limit {name!r}; known: {NOFILE_SOFT.name}, {NOFILE_HARD.name}")
    parts = split_name(name)
    dotted = ".".join(parts)
    if any("." in p for p in parts):
        dotted = "/".join(parts)
    if dotted in KEYS:
        return KEYS[dotted]
    if dotted in ALIASES:
        return KEYS[ALIASES[dotted]]
    # fs, kernel, vm, dev and abi are never per network namespace; a net key's scope is
    # known only where it is read (present inside a child namespace: per namespace).
    scope: Scope = "unknown" if parts[0] == "net" else "global"
    return Key(
        dotted,
        "ints",
        "",
        scope,
        "set by the profile",
        "the profile",
        known=False,
        path_parts=parts,
    )


def generic_shape(key: Key, value) -> Key:
    """A generic entry shaped by a target's value: text is a string, a number an int."""
    if key.known:
        return key
    shape: Shape = (
        "string" if isinstance(value, str) else ("int" if isinstance(value, int) else "ints")
    )
    return replace(key, shape=shape)


def targetable() -> list[Key]:
    return [k for k in _KEYS if k.kind != "input"]
