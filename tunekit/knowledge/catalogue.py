"""The one catalogue: every key tunekit knows, and everything it knows about each.

check, plan, apply, lint, probe and the reports read these entries; no module outside
knowledge/ names a key (tests/knowledge/test_catalogue.py enforces it). An entry says
where the key lives, its shape and unit, its scope, the bounds the kernel accepts, its
boot default where that is a constant, the direction in which it gives capacity, the
module that provides it, how apply writes and persists it, the counters that grow when
its limit is hit, and what it does (reason) with where that was read (source).

Scope and `in_child` were measured on kernel 6.18 inside a fresh network namespace
(`unshare -n`): a key absent there is global; net.core.{r,w}mem_{default,max} and
nf_conntrack_{max,buckets} are visible there but read-only (sysctl_net_core.c makes the
buffer keys read-only in every namespace but the first); the rest under net/ are the
namespace's own. tests/knowledge/test_catalogue.py re-measures every net key.

`kubernetes_safe` copies the kubelet's safe set (kubernetes pkg/kubelet/sysctl/
safe_sysctls.go and the kernel versions in pkg/util/kernel/constants.go, read 2026-12):
`export kubernetes` puts those keys in a pod's securityContext as safe, the other
per-namespace ones as needing --allowed-unsafe-sysctls, and the global ones on the node.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

from tunekit.errors import KeyNameError
from tunekit.knowledge import defaults as D
from tunekit.knowledge.keys import (
    CONNTRACK_SYSCTL,
    IP_SYSCTL,
    KERNEL_DOCS_FS,
    KERNEL_DOCS_KERNEL,
    KERNEL_DOCS_NET,
    KERNEL_DOCS_VM,
    Key,
    Scope,
    Shape,
    Symptom,
    Usage,
    split_name,
)

# Where status reads a listener's accept queue and backlog (host/sockets.py).
_LISTENER_DIAG = (
    "inet_diag of the LISTEN sockets: idiag_rqueue is the accept queue (sk_ack_backlog), "
    "idiag_wqueue the backlog (sk_max_ack_backlog) (net/ipv4/tcp_diag.c tcp_diag_get_info), "
    "what `ss -lnt` prints as Recv-Q and Send-Q; the backlog is clamped to somaxconn in "
    "net/socket.c __sys_listen_socket, and the queue is full past it (include/net/sock.h "
    "sk_acceptq_is_full)"
)

_KEYS: list[Key] = []


def _key(name: str, shape: Shape, unit: str, scope: Scope, reason: str, source: str, **kw) -> Key:
    key = Key(name, shape, unit, scope, reason, source, **kw)
    _KEYS.append(key)
    return key


# --- the keys the capacity model sizes ---------------------------------------------------

FILE_MAX = _key(
    "fs.file-max",
    "int",
    "file handles",
    "global",
    "system-wide cap on open files; above it every open() and accept() fails with ENFILE "
    "(CAP_SYS_ADMIN may exceed it: alloc_empty_file)",
    KERNEL_DOCS_FS + "; fs/file_table.c alloc_empty_file",
    minimum=0,
    maximum=2**63 - 1,  # proc_doulongvec_minmax up to LONG_MAX (fs/file_table.c fs_stat_sysctls)
    direction="up",
    errnos=(("ENFILE", "the system-wide open-files table is full (fs.file-max)"),),
    boot=D.file_max,
    in_use=(
        "file-handles",
        "every open() and socket() of a process without CAP_SYS_ADMIN fails with ENFILE "
        "(fs/file_table.c alloc_empty_file)",
    ),
    messages=(
        (
            "VFS: file-max limit",
            "an open(), socket() or accept() failed with ENFILE: fs.file-max was reached "
            "(fs/file_table.c alloc_empty_file)",
        ),
    ),
    usage=Usage(
        "file handles",
        "file handles allocated on the host: every open file, socket, pipe and epoll "
        "instance of every process",
        "/proc/sys/fs/file-nr, its first field (fs/file_table.c get_nr_files)",
        table="file-nr",
        field="allocated",
        metric="file_handles",
        node_exporter=("node_filefd_allocated", "node_filefd_maximum"),
        need="fds_system",
    ),
)
NR_OPEN = _key(
    "fs.nr_open",
    "int",
    "file descriptors",
    "global",
    "ceiling for any process's RLIMIT_NOFILE; a hard limit above it is refused with EPERM",
    KERNEL_DOCS_FS + "; kernel/sys.c do_prlimit; fs/file.c sysctl_nr_open_min/_max",
    # fs/file.c: sysctl_nr_open_min = BITS_PER_LONG, sysctl_nr_open_max = INT_MAX rounded
    # down to a multiple of BITS_PER_LONG; measured on 6.18: 2147483585 gives EINVAL.
    minimum=64,
    maximum=2147483584,
    default="1048576",
    direction="up",
    order=10,
    boot=D.nr_open,
    in_use=(
        "descriptors",
        "no process grows its descriptor table past it (EMFILE, fs/file.c expand_files), "
        "and setrlimit refuses a hard limit above it (EPERM)",
    ),
)
FILE_NR = _key(
    "fs.file-nr",
    "ints",
    "file handles",
    "global",
    "allocated file handles, free ones (always 0 since 2.6), and file-max: read-only",
    KERNEL_DOCS_FS,
    kind="input",
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
    direction="up",
    errnos=(("EMFILE", "the process reached its open-files limit (RLIMIT_NOFILE)"),),
    usage=Usage(
        "open files",
        "descriptors each process holds open, against its own soft limit",
        "stat(/proc/PID/fd).st_size, the count of open descriptors on 6.2+ (fs/proc/fd.c "
        "proc_fd_getattr), a listing of /proc/PID/fd where it is 0 (older kernels); the soft "
        "limit from /proc/PID/limits",
        per="process",
        metric="process_open_fds",
        need="fds_per_process",
    ),
)
NOFILE_HARD = _key(
    "rlimit.nofile.hard",
    "int",
    "file descriptors",
    "process",
    "ceiling for the soft limit, which a program may raise itself; raising the hard limit "
    "needs CAP_SYS_RESOURCE, and it cannot pass fs.nr_open",
    "getrlimit(2); capabilities(7); kernel/sys.c do_prlimit",
    kind="rlimit",
    persist="limits",
    order=90,
    minimum=0,
    maximum=2147483584,  # fs.nr_open's largest value: no kernel accepts more
    direction="up",
)
SOMAXCONN = _key(
    "net.core.somaxconn",
    "int",
    "connections",
    "netns",
    "silent cap on every listen() backlog, which bounds both the accept queue and the SYN "
    "queue (inet_csk_reqsk_queue_is_full, in every syncookies mode); a full accept queue "
    "drops (TcpExt ListenOverflows)",
    IP_SYSCTL + "; net/socket.c __sys_listen_socket; net/ipv4/tcp_input.c tcp_conn_request",
    minimum=0,
    maximum=2147483647,
    default="4096",
    direction="up",
    symptoms=(
        Symptom(
            "ListenOverflows",
            "TcpExt",
            "the accept queue overflowed: the listen backlog, capped by net.core.somaxconn, "
            "was full while accepting lagged",
            metric="tcp_listen_overflows",
            node_exporter="node_netstat_TcpExt_ListenOverflows",
        ),
        Symptom(
            "ListenDrops",
            "TcpExt",
            "SYNs or handshakes dropped at a listener",
            metric="tcp_listen_drops",
            node_exporter="node_netstat_TcpExt_ListenDrops",
        ),
        # The SYN queue is full past min(listen backlog, somaxconn); the SYN is dropped
        # instead of answered with a cookie only when tcp_syncookies = 0.
        Symptom(
            "TCPReqQFullDrop",
            "TcpExt",
            "SYNs dropped at a full SYN queue (min(listen backlog, somaxconn)) because "
            "tcp_syncookies is 0",
            metric="tcp_syn_queue_full_drops",
        ),
    ),
    boot=D.somaxconn,
    messages=(
        (
            "Possible SYN flooding on port",
            "a listener's SYN queue (min(listen backlog, somaxconn)) was full: cookies were "
            "sent, or SYNs dropped when tcp_syncookies is 0 (net/ipv4/tcp_input.c "
            "tcp_syn_flood_action, once per listener)",
        ),
    ),
    usage=Usage(
        "listen queue",
        "connections the kernel completed that wait in a listener's accept queue for "
        "accept(), against that listener's backlog: min(the backlog passed to listen(), "
        "net.core.somaxconn)",
        _LISTENER_DIAG,
        per="listener",
        metric="listen_queue_connections",
        need="accept_backlog",
        beyond="the application's own listen() backlog is below net.core.somaxconn: raise the "
        "backlog it passes to listen() (nginx: listen ... backlog=N), or accept faster",
    ),
)
SYN_BACKLOG = _key(
    "net.ipv4.tcp_max_syn_backlog",
    "int",
    "requests",
    "netns",
    "read only while tcp_syncookies = 0: SYNs from unproven peers are dropped once the SYN "
    "queue is 3/4 of it; with syncookies on it does nothing",
    "net/ipv4/tcp_input.c tcp_conn_request",
    direction="up",
    boot=D.syn_backlog,
)
SYNCOOKIES = _key(
    "net.ipv4.tcp_syncookies",
    "int",
    "mode",
    "netns",
    "SYN-flood fallback when the SYN queue (min(listen backlog, somaxconn)) is full: 1 sends "
    "cookies instead of dropping; 0 drops; 2 sends cookies to every SYN",
    IP_SYSCTL + "; net/ipv4/tcp_input.c tcp_conn_request",
    # a u8 (proc_dou8vec_minmax): 0-255 accepted (measured), 3 and up act as 1
    minimum=0,
    maximum=255,
    default="1",
    kubernetes_safe="",
)
NETDEV_BACKLOG = _key(
    "net.core.netdev_max_backlog",
    "int",
    "packets",
    "global",
    "per-CPU input queue (loopback, veth, RPS) when packets arrive faster than the stack "
    "takes them",
    KERNEL_DOCS_NET,
    default="1000",
    direction="up",
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
    default="32768 60999",
    direction="up",
    parity=True,
    errnos=(
        ("EADDRNOTAVAIL", "no free ephemeral port for this source address and destination"),
        ("EADDRINUSE", "no free ephemeral port for this source address and destination"),
    ),
    kubernetes_safe="",
    usage=Usage(
        "ephemeral ports",
        "sockets on a local port inside the range, per (source IP, destination ip:port), in "
        "every state but LISTEN (TIME_WAIT keeps its port), against the range's usable width "
        "(net.ipv4.ip_local_reserved_ports taken out); sockets on a listening port (the "
        "accepted ones) are not counted",
        "inet_diag of every TCP state, filtered in the kernel to local ports inside the range "
        "(INET_DIAG_BC_S_GE and S_LE bytecode, net/ipv4/inet_diag.c inet_diag_bc_run)",
        per="destination",
        metric="ephemeral_ports",
        need="ports_per_source_ip",
        beyond="the range is already the widest: add source addresses (bind() before "
        "connect(), with IP_BIND_ADDRESS_NO_PORT) or destinations",
    ),
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
    default="",
    kubernetes_safe="3.16",
)
TCP_MEM = _key(
    "net.ipv4.tcp_mem",
    "triple",
    "pages",
    "global",
    "min/pressure/max memory for all TCP socket buffers together, in pages; above pressure TCP "
    "moderates until usage falls under min; above max: 'TCP: out of memory -- consider tuning "
    "tcp_mem'",
    IP_SYSCTL + "; net/ipv4/tcp.c tcp_init_mem",
    direction="up",
    symptoms=(
        Symptom(
            "TCPMemoryPressures",
            "TcpExt",
            "TCP buffer memory reached tcp_mem's pressure threshold",
            metric="tcp_memory_pressures",
        ),
        Symptom(
            "TCPAbortOnMemory",
            "TcpExt",
            "connections reset because TCP memory was above tcp_mem max (or too many orphans)",
            metric="tcp_aborts_on_memory",
        ),
    ),
    boot=D.tcp_mem,
    messages=(
        (
            "out of memory -- consider tuning tcp_mem",
            "a socket was reset: TCP memory was above tcp_mem max (net/ipv4/tcp.c tcp_check_oom)",
        ),
    ),
    usage=Usage(
        "TCP memory",
        "pages of socket buffer memory charged to TCP by every socket of the host",
        "/proc/net/sockstat, TCP: mem (net/ipv4/proc.c sockstat_seq_show, "
        "proto_memory_allocated); compared with tcp_mem in net/core/sock.c "
        "__sk_mem_raise_allocated",
        table="TCP",
        field="mem",
        index=2,
        near_index=1,
        metric="tcp_memory_bytes",
        node_exporter=("node_sockstat_TCP_mem_bytes", None),
        need="tcp_mem_pages",
        elements=("min", "pressure", "max"),
    ),
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
    kubernetes_safe="",
    boot=D.tcp_rmem,
)
TCP_WMEM = _key(
    "net.ipv4.tcp_wmem",
    "triple",
    "bytes",
    "netns",
    "per-socket send buffer min/default/max in bytes",
    IP_SYSCTL,
    minimum=1,
    kubernetes_safe="",
    boot=D.tcp_wmem,
)
TW_BUCKETS = _key(
    "net.ipv4.tcp_max_tw_buckets",
    "int",
    "sockets",
    "netns",
    "TIME_WAIT (and FIN_WAIT2 orphan) minisockets held at once; above it a closing socket "
    "skips TIME_WAIT silently, counted in TcpExt TCPTimeWaitOverflow",
    IP_SYSCTL + "; net/ipv4/tcp_minisocks.c tcp_time_wait",
    direction="up",
    symptoms=(
        Symptom(
            "TCPTimeWaitOverflow",
            "TcpExt",
            "closing sockets skipped TIME_WAIT: tcp_max_tw_buckets was full",
            metric="tcp_time_wait_overflows",
        ),
    ),
    boot=D.tw_buckets,
    usage=Usage(
        "TIME_WAIT",
        "TIME_WAIT minisockets of this network namespace (orphans waiting in FIN_WAIT2 as "
        "minisockets included)",
        "/proc/net/sockstat, TCP: tw (tcp_death_row.tw_refcount, net/ipv4/proc.c "
        "sockstat_seq_show); compared in net/ipv4/tcp_minisocks.c tcp_time_wait",
        table="TCP",
        field="tw",
        metric="tcp_time_wait_sockets",
        node_exporter=("node_sockstat_TCP_tw", None),
        need="time_wait_sockets",
    ),
    never_lower='ip-sysctl, tcp_max_tw_buckets: "you _must_ not lower the limit artificially, but '
    'rather increase it"; above it a closing socket skips TIME_WAIT (tcp_minisocks.c)',
)
MAX_ORPHANS = _key(
    "net.ipv4.tcp_max_orphans",
    "int",
    "sockets",
    "global",
    "sockets closed by the application still in FIN_WAIT1/CLOSING/LAST_ACK; above it they are "
    "reset ('too many orphaned sockets'). Each may hold up to ~64 KB; the docs say raise it, "
    "never lower it",
    IP_SYSCTL,
    direction="up",
    boot=D.max_orphans,
    messages=(
        (
            "too many orphaned sockets",
            "an orphan was reset: more orphans than tcp_max_orphans (net/ipv4/tcp.c "
            "tcp_check_oom; counted in TcpExt TCPAbortOnMemory)",
        ),
    ),
    usage=Usage(
        "orphans",
        "orphaned sockets (closed by their application, still in FIN_WAIT1, CLOSING or "
        "LAST_ACK) of every network namespace",
        "/proc/net/sockstat, TCP: orphan (tcp_orphan_count_sum); compared with "
        "tcp_max_orphans in net/ipv4/tcp.c tcp_too_many_orphans",
        table="TCP",
        field="orphan",
        metric="tcp_orphan_sockets",
        node_exporter=("node_sockstat_TCP_orphan", None),
        need="orphan_sockets",
    ),
    never_lower='ip-sysctl, tcp_max_orphans: "you _must_ not rely on this or lower the limit '
    'artificially, but rather increase it"; above it orphans are reset and their last data '
    "is lost",
)
TW_REUSE = _key(
    "net.ipv4.tcp_tw_reuse",
    "int",
    "mode",
    "netns",
    "lets connect() reuse a TIME_WAIT port (1 = all, 2 = loopback only); outgoing only; "
    "works only with timestamps (tcp_twsk_unique)",
    IP_SYSCTL + "; net/ipv4/tcp_ipv4.c tcp_twsk_unique",
    minimum=0,
    maximum=2,
    default="2",
    advised=(
        2,
        2,
        'ip-sysctl, tcp_tw_reuse: "It should not be changed without advice/request of '
        'technical experts"',
    ),
)
FIN_TIMEOUT = _key(
    "net.ipv4.tcp_fin_timeout",
    "int",
    "seconds",
    "netns",
    "how long an orphaned socket waits in FIN_WAIT2 for the peer's FIN; not TIME_WAIT",
    IP_SYSCTL + "; net/ipv4/tcp.c tcp_close",
    default="60",
    socket_max=(120, "include/net/tcp.h TCP_FIN_TIMEOUT_MAX; net/ipv4/tcp.c TCP_LINGER2"),
    kubernetes_safe="4.6",
)
CONNTRACK_MAX = _key(
    "net.netfilter.nf_conntrack_max",
    "int",
    "entries",
    "global",
    "conntrack table capacity; when full: 'nf_conntrack: table full, dropping packet'",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    in_child="read-only",
    order=30,
    direction="up",
    symptoms=(
        Symptom(
            "conntrack_drop",
            "conntrack",
            "the conntrack table was full: new flows were dropped",
            metric="conntrack_drops",
            node_exporter="node_nf_conntrack_stat_drop",
        ),
        Symptom(
            "conntrack_early_drop",
            "conntrack",
            "the conntrack table was full: unassured entries were evicted for new flows",
            metric="conntrack_early_drops",
            node_exporter="node_nf_conntrack_stat_early_drop",
        ),
    ),
    boot=D.conntrack_buckets,
    messages=(
        (
            "nf_conntrack: table full, dropping packet",
            "a new flow was dropped: the conntrack table was full "
            "(net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc)",
        ),
    ),
    usage=Usage(
        "conntrack entries",
        "flows tracked by netfilter in this network namespace (the table and its max are "
        "the host's)",
        "/proc/sys/net/netfilter/nf_conntrack_count (net/netfilter/nf_conntrack_standalone.c)",
        table="conntrack",
        field="conntrack_count",
        metric="conntrack_entries",
        node_exporter=("node_nf_conntrack_entries", "node_nf_conntrack_entries_limit"),
        need="conntrack_entries",
    ),
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
    in_child="read-only",
    order=20,
    minimum=1,
    direction="up",
    write_path="sys/module/nf_conntrack/parameters/hashsize",
    persist="modprobe",
    param="hashsize",
    boot=D.conntrack_buckets,
)
CONNTRACK_TW_TIMEOUT = _key(
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
    "int",
    "seconds",
    "netns",
    "how long conntrack keeps a closed TCP flow",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    default="120",
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
    KERNEL_DOCS_KERNEL,
    kind="input",
)
UNPRIVILEGED_PORT_START = _key(
    "net.ipv4.ip_unprivileged_port_start",
    "int",
    "port",
    "netns",
    "the first port an unprivileged process may bind; ip_local_port_range must start at or "
    "above it",
    IP_SYSCTL + "; net/ipv4/sysctl_net_ipv4.c ipv4_local_port_range",
    minimum=0,
    maximum=65535,
    default="1024",
    kubernetes_safe="",
)
TIMESTAMPS = _key(
    "net.ipv4.tcp_timestamps",
    "int",
    "mode",
    "netns",
    "TCP timestamps (RFC 7323): PAWS and RTT samples; tcp_tw_reuse needs them",
    IP_SYSCTL + "; net/ipv4/tcp_ipv4.c tcp_twsk_unique",
    default="1",
    off_harm="turns off PAWS and RTT samples (RFC 7323), and tcp_tw_reuse with them: a "
    "TIME_WAIT socket is reused only if it saw a timestamp (net/ipv4/tcp_ipv4.c "
    "tcp_twsk_unique)",
)
KEEPALIVE_TIME = _key(
    "net.ipv4.tcp_keepalive_time",
    "int",
    "seconds",
    "netns",
    "idle time before the first keepalive probe on a socket that asked for keepalives",
    IP_SYSCTL,
    default="7200",
    socket_max=(32767, "include/net/tcp.h MAX_TCP_KEEPIDLE; net/ipv4/tcp.c tcp_sock_set_keepidle"),
    kubernetes_safe="4.5",
)

# --- keys the tuning guides carry, known to lint --------------------------------------------


# The congestion controls Linux registers (the `.name` of each tcp_congestion_ops in
# net/ipv4/tcp_*.c, Linux 6.12; "bbr2" and "bbr3" are Google's out-of-tree branches) and
# the qdiscs (`.id` of each Qdisc_ops in net/sched/sch_*.c). A write of any other name
# fails: tcp_ca_find_autoload / qdisc_lookup_default find nothing, after request_module.
# TuneD's [vm] options and the sysctls its plug-in writes (tuned/plugins/plugin_vm.py):
# (the key, the ratio a `%` value sets instead; "" where a % means nothing)
TUNED_VM = {
    "dirty_bytes": ("vm.dirty_bytes", "vm.dirty_ratio"),
    "dirty_background_bytes": ("vm.dirty_background_bytes", "vm.dirty_background_ratio"),
    "dirty_ratio": ("vm.dirty_ratio", ""),
    "dirty_background_ratio": ("vm.dirty_background_ratio", ""),
}
# sysfs files whose boot value the source fixes: path -> (value, or {build option: value}
# for a Kconfig choice, the kernel command-line parameter that overrides it, the source).
# A file that shows choices ("always [madvise] never") holds the bracketed one.
_THP_SOURCE = (
    "mm/huge_memory.c transparent_hugepage_flags (the Kconfig choice, mm/Kconfig "
    '"Transparent Hugepage Support sysfs defaults") and setup_transparent_hugepage'
)
_SCHED_SOURCE = (
    "kernel/sched/fair.c, kernel/sched/core.c (Linux 6.12), shown in debugfs by "
    "kernel/sched/debug.c sched_init_debug"
)
SYSFS_DEFAULTS: dict[str, tuple[str | dict[str, str], str, str]] = {
    "/sys/kernel/mm/transparent_hugepage/enabled": (
        {
            "TRANSPARENT_HUGEPAGE_ALWAYS": "always",
            "TRANSPARENT_HUGEPAGE_MADVISE": "madvise",
            "TRANSPARENT_HUGEPAGE_NEVER": "never",
        },
        "transparent_hugepage",
        _THP_SOURCE,
    ),
    "/sys/kernel/mm/transparent_hugepage/defrag": (
        "madvise",
        "",
        "mm/huge_memory.c transparent_hugepage_flags (TRANSPARENT_HUGEPAGE_DEFRAG_REQ_MADV_FLAG)",
    ),
    "/sys/kernel/mm/transparent_hugepage/khugepaged/defrag": (
        "1",
        "",
        "mm/huge_memory.c transparent_hugepage_flags (TRANSPARENT_HUGEPAGE_DEFRAG_KHUGEPAGED_FLAG)",
    ),
    "/sys/kernel/debug/sched/migration_cost_ns": (
        "500000",
        "",
        "sysctl_sched_migration_cost = 500000UL; " + _SCHED_SOURCE,
    ),
    "/sys/kernel/debug/sched/nr_migrate": (
        {"PREEMPT_RT": "8", "": "32"},
        "",
        "SCHED_NR_MIGRATE_BREAK (kernel/sched/sched.h: 8 with PREEMPT_RT, else 32); "
        + _SCHED_SOURCE,
    ),
    "/sys/kernel/debug/sched/tunable_scaling": (
        "1",
        "",
        "sysctl_sched_tunable_scaling = SCHED_TUNABLESCALING_LOG; " + _SCHED_SOURCE,
    ),
}
# where the running kernel lists the names it has now (built in or loaded)
AVAILABLE_NAMES = {"net.ipv4.tcp_congestion_control": "net.ipv4.tcp_available_congestion_control"}
CONGESTION_CONTROLS = (
    "bbr", "bic", "cdg", "cubic", "dctcp", "dctcp-reno", "highspeed", "htcp", "hybla",
    "illinois", "lp", "nv", "reno", "scalable", "vegas", "veno", "westwood", "yeah",
)  # fmt: skip
QDISCS = (
    "bfifo", "blackhole", "cake", "cbs", "choke", "clsact", "codel", "drr", "etf", "ets",
    "fq", "fq_codel", "fq_pie", "gred", "hfsc", "hhf", "htb", "ingress", "mq", "mqprio",
    "multiq", "netem", "noop", "noqueue", "pfifo", "pfifo_fast", "pfifo_head_drop", "pie",
    "plug", "prio", "qfq", "red", "sfb", "sfq", "skbprio", "taprio", "tbf",
)  # fmt: skip


def _guide(name: str, shape: Shape, unit: str, scope: Scope, reason: str, source: str, **kw):
    return _key(name, shape, unit, scope, reason, source, **kw)


_guide(
    "fs.inotify.max_user_watches",
    "int",
    "watches",
    "global",
    "inotify watches one user may hold",
    "Documentation/filesystems/inotify.rst; " + KERNEL_DOCS_FS,
    direction="up",
    boot=D.inotify_watches,
)
_guide(
    "fs.inotify.max_user_instances",
    "int",
    "instances",
    "global",
    "inotify instances one user may create",
    KERNEL_DOCS_FS,
    default="128",
    direction="up",
)
_guide(
    "fs.aio-max-nr",
    "int",
    "requests",
    "global",
    "system-wide cap on outstanding asynchronous I/O requests",
    KERNEL_DOCS_FS,
    default="65536",
    direction="up",
)
_guide(
    "fs.epoll.max_user_watches",
    "int",
    "watches",
    "global",
    "descriptors one user may register across all epoll instances (sized from RAM at boot)",
    KERNEL_DOCS_FS + " (epoll)",
    direction="up",
    boot=D.epoll_watches,
)
_guide(
    "kernel.pid_max",
    "int",
    "pids",
    "global",
    "largest process id, and so the number of processes and threads at once",
    KERNEL_DOCS_KERNEL
    + "; include/linux/threads.h PID_MAX_LIMIT; kernel/pid.c pid_max_min (RESERVED_PIDS + 1,"
    " raised to 8 per possible CPU past 37 CPUs: the least taken)",
    minimum=301,
    maximum=4194304,
    direction="up",
    boot=D.pid_max,
)
THREADS_MAX = _guide(
    "kernel.threads-max",
    "int",
    "threads",
    "global",
    "system-wide cap on threads (fork() fails with EAGAIN above it); sized from RAM at boot",
    KERNEL_DOCS_KERNEL + "; kernel/fork.c set_max_threads",
    direction="up",
    boot=D.threads_max,
    in_use=("threads", "every fork() and clone() fails with EAGAIN (kernel/fork.c copy_process)"),
)
_guide(
    "vm.max_map_count",
    "int",
    "mappings",
    "global",
    "memory map areas one process may have",
    KERNEL_DOCS_VM,
    default="65530",
    direction="up",
)
_guide(
    "vm.swappiness",
    "int",
    "",
    "global",
    "how eagerly anonymous memory is swapped",
    KERNEL_DOCS_VM + "; mm/vmscan.c vm_swappiness",
    default="60",
    mode_costs=(
        (
            0,
            'vm.rst, swappiness: "At 0, the kernel will not initiate swap until the amount '
            'of free and file-backed pages is less than the high watermark in a zone": the '
            "page cache is reclaimed down to that watermark before one idle anonymous page "
            "is swapped (mm/vmscan.c get_scan_count scans file pages only), so file I/O "
            "thrashes first",
        ),
    ),
)
_BG_HALVED = (
    "the kernel uses half of the writers' threshold for background writeback instead",
    "mm/page-writeback.c domain_dirty_limits (`if (bg_thresh >= thresh) bg_thresh = thresh / 2`)",
)
for _name, _default, _what, _where, _below in (
    ("dirty_ratio", "20", "percent of memory dirty before writers block", "vm_dirty_ratio", None),
    (
        "dirty_background_ratio",
        "10",
        "percent of memory dirty before background writeback starts",
        "dirty_background_ratio",
        ("vm.dirty_ratio", *_BG_HALVED),
    ),
):
    _guide(
        f"vm.{_name}",
        "int",
        "percent",
        "global",
        _what,
        KERNEL_DOCS_VM + f"; mm/page-writeback.c {_where}",
        default=_default,
        below_other=_below,
    )
_guide(
    "vm.page-cluster",
    "int",
    "log2 pages",
    "global",
    "pages read from swap in one go, as a power of two",
    KERNEL_DOCS_VM + "; mm/swap.c swap_setup",
    default="3",  # 2 below 16 MiB of RAM (swap_setup): every host tunekit is for has more
    minimum=0,
)
_guide(
    "vm.vfs_cache_pressure",
    "int",
    "",
    "global",
    "how eagerly dentries and inodes are reclaimed against the page cache",
    KERNEL_DOCS_VM + "; fs/dcache.c sysctl_vfs_cache_pressure",
    default="100",
    advised=(
        1,
        999,
        'vm.rst, vfs_cache_pressure: at 0 "the kernel will never reclaim dentries and '
        "inodes due to memory pressure and this can easily lead to out-of-memory "
        'conditions"; "Increasing vfs_cache_pressure significantly beyond 100 may have '
        "negative performance impact ... With vfs_cache_pressure=1000, it will look for "
        'ten times more freeable objects than there are"',
    ),
)
_guide(
    "kernel.sched_rt_runtime_us",
    "int",
    "microseconds",
    "global",
    "how much of each sched_rt_period_us real-time tasks may run, leaving the rest to others",
    KERNEL_DOCS_KERNEL + "; Documentation/scheduler/sched-rt-group.rst; kernel/sched/rt.c",
    default="950000",
    advised=(
        0,
        None,
        "sched-rt-group.rst 2.2: the defaults leave 0.05 s of each second to other tasks "
        '"so that a run-away real-time tasks will not lock up the machine"; -1 means no '
        "limit (runtime == period)",
    ),
)
_guide(
    "fs.suid_dumpable",
    "int",
    "mode",
    "global",
    "whether a setuid program may dump core",
    KERNEL_DOCS_FS + "; fs/exec.c suid_dumpable",
    default="0",
)
_guide(
    "kernel.randomize_va_space",
    "int",
    "mode",
    "global",
    "address-space layout randomisation: 2 randomises the heap (brk) too, 1 only stack, "
    "mmap and VDSO, 0 none",
    KERNEL_DOCS_KERNEL + "; mm/memory.c randomize_va_space (2; 1 with CONFIG_COMPAT_BRK)",
    default="2",
)
# System V IPC limits: include/uapi/linux/{sem,shm,msg}.h, the defaults since 3.16-3.19
_guide(
    "kernel.sem",
    "ints",
    "",
    "global",
    "SEMMSL SEMMNS SEMOPM SEMMNI: semaphores per set, in all, per semop(), sets",
    KERNEL_DOCS_KERNEL + "; include/uapi/linux/sem.h",
    default="32000 1024000000 500 32000",
    direction="up",
)
for _name, _default, _unit, _what in (
    ("shmmax", str(2**64 - 1 - (1 << 24)), "bytes", "largest System V shared memory segment"),
    ("shmall", str(2**64 - 1 - (1 << 24)), "pages", "System V shared memory in all"),
    ("shmmni", "4096", "segments", "System V shared memory segments system-wide"),
    ("msgmnb", "16384", "bytes", "default size of a System V message queue"),
    ("msgmax", "8192", "bytes", "largest System V message"),
    ("msgmni", "32000", "queues", "System V message queues system-wide"),
):
    _guide(
        f"kernel.{_name}",
        "int",
        _unit,
        "global",
        _what,
        KERNEL_DOCS_KERNEL + " (" + _name + "); include/uapi/linux/shm.h, msg.h",
        default=_default,
        direction="up",
    )
_guide(
    "vm.min_free_kbytes",
    "int",
    "KiB",
    "global",
    "memory the kernel keeps free for atomic allocations (sized from RAM at boot); less "
    "leaves interrupts and reclaim without a reserve",
    KERNEL_DOCS_VM + "; mm/page_alloc.c calculate_min_free_kbytes",
    direction="up",
    boot=D.min_free_kbytes,
    advised=(
        1024,
        None,
        'vm.rst, min_free_kbytes: "if you set this to lower than 1024KB, your system will '
        'become subtly broken, and prone to deadlock under high loads"',
    ),
)
_guide(
    "vm.overcommit_memory",
    "int",
    "mode",
    "global",
    "the kernel's overcommit policy",
    KERNEL_DOCS_VM + "; Documentation/mm/overcommit-accounting.rst",
    default="0",
    mode_costs=(
        (
            1,
            'vm.rst: "the kernel pretends there is always enough memory until it actually '
            'runs out": no allocation fails, the OOM killer acts instead',
        ),
        (
            2,
            'vm.rst: a "never overcommit" policy: an allocation past CommitLimit (swap plus '
            "overcommit_ratio % of RAM) fails with ENOMEM, also for a program that would never "
            "touch the memory (a large fork())",
        ),
    ),
)
_guide(
    "vm.zone_reclaim_mode",
    "int",
    "mode",
    "global",
    "whether a NUMA node reclaims its own memory before allocating from another",
    KERNEL_DOCS_VM,
    default="0",
    mode_costs=tuple(
        (
            _n,
            'vm.rst, zone_reclaim_mode: "For file servers or workloads that benefit from '
            "having their data cached, zone_reclaim_mode should be left disabled as the "
            'caching effect is likely to be more important than data locality"'
            + (
                "; bit 2 writes dirty pages out, bit 4 swaps, to stay on the node" if _n > 1 else ""
            ),
        )
        for _n in range(1, 8)
    ),
)
_guide(
    "vm.oom_kill_allocating_task",
    "int",
    "mode",
    "global",
    "whether the OOM killer kills the task that triggered it instead of choosing one",
    KERNEL_DOCS_VM,
    default="0",
    mode_costs=(
        (
            1,
            'vm.rst, oom_kill_allocating_task: "the OOM killer simply kills the task that '
            'triggered the out-of-memory condition" instead of the "rogue memory-hogging '
            'task that frees up a large amount of memory": whichever process allocates at '
            "that moment dies (sshd, an agent), not necessarily the one holding the memory",
        ),
    ),
)
# the switches that make the kernel panic on a condition it survives by default: the host
# stops (or reboots, with kernel.panic > 0); Documentation/admin-guide/sysctl/
for _name, _when, _docs in (
    ("vm.panic_on_oom", "out of memory, instead of killing one process", "vm.rst, panic_on_oom"),
    ("kernel.panic_on_oops", "an oops or BUG", "kernel.rst, panic_on_oops"),
    ("kernel.panic_on_warn", "every WARN()", "kernel.rst, panic_on_warn"),
    (
        "kernel.hung_task_panic",
        "a task blocked past hung_task_timeout_secs",
        "kernel.rst, hung_task_panic",
    ),
    ("kernel.softlockup_panic", "a soft lockup", "kernel.rst, softlockup_panic"),
    ("kernel.hardlockup_panic", "a hard lockup", "kernel.rst, hardlockup_panic"),
    ("kernel.panic_on_rcu_stall", "an RCU stall", "kernel.rst, panic_on_rcu_stall"),
    ("kernel.panic_on_io_nmi", "an NMI from an I/O error", "kernel.rst, panic_on_io_nmi"),
    ("kernel.unknown_nmi_panic", "an unknown NMI", "kernel.rst, unknown_nmi_panic"),
):
    _guide(
        _name,
        "int",
        "mode",
        "global",
        f"whether the kernel panics on {_when}",
        f"Documentation/admin-guide/sysctl/{_docs}",
        mode_costs=tuple(
            (
                _n,
                f"{_docs}: the kernel panics on {_when}, which it survives at 0 (the default "
                "unless the build says otherwise): the whole host stops, or reboots with "
                "kernel.panic > 0; a choice for a cluster that fails over, or to take a crash "
                "dump",
            )
            for _n in (1, 2)
        ),
    )
for _name, _unit, _what in (
    ("overcommit_ratio", "percent", "of RAM (plus swap) that may be committed"),
    ("overcommit_kbytes", "KiB", "that may be committed (plus swap); 0: overcommit_ratio"),
):
    _guide(
        f"vm.{_name}",
        "int",
        _unit,
        "global",
        f"the commit limit under overcommit_memory = 2: the memory {_what}",
        KERNEL_DOCS_VM + "; mm/util.c vm_commit_limit",
        default="50" if _name == "overcommit_ratio" else "0",
        needs=(
            "vm.overcommit_memory",
            (2,),
            "mm/util.c __vm_enough_memory: only OVERCOMMIT_NEVER enforces vm_commit_limit; "
            "/proc/meminfo's CommitLimit shows it in every mode",
        ),
    )
_guide(
    "net.core.netdev_budget",
    "int",
    "packets",
    "global",
    "packets one NAPI softirq run may take from all devices",
    KERNEL_DOCS_NET,
    default="300",
)
_guide(
    "net.core.rmem_default",
    "int",
    "bytes",
    "global",
    "receive buffer every non-TCP socket (UDP, unix, netlink) starts with; TCP starts from "
    "tcp_rmem[1] instead",
    KERNEL_DOCS_NET + "; " + IP_SYSCTL + " (tcp_rmem); net/core/sysctl_net_core.c",
    in_child="read-only",
    default="212992",  # SK_RMEM_DEFAULT: 256 packets of 256 B truesize (sock.h)
)
_guide(
    "net.core.wmem_default",
    "int",
    "bytes",
    "global",
    "send buffer every non-TCP socket starts with; TCP starts from tcp_wmem[1] instead",
    KERNEL_DOCS_NET + "; " + IP_SYSCTL + " (tcp_wmem); net/core/sysctl_net_core.c",
    in_child="read-only",
    default="212992",  # SK_RMEM_DEFAULT: 256 packets of 256 B truesize (sock.h)
)
RMEM_MAX = _guide(
    "net.core.rmem_max",
    "int",
    "bytes",
    "global",
    "largest receive buffer a program may ask for with SO_RCVBUF",
    KERNEL_DOCS_NET + "; net/core/sysctl_net_core.c",
    in_child="read-only",
    direction="up",
    boot=D.core_buffer_max,
)
_guide(
    "net.core.wmem_max",
    "int",
    "bytes",
    "global",
    "largest send buffer a program may ask for with SO_SNDBUF",
    KERNEL_DOCS_NET + "; net/core/sysctl_net_core.c",
    in_child="read-only",
    direction="up",
    boot=D.core_buffer_max,
)
_guide(
    "net.core.optmem_max",
    "int",
    "bytes",
    "netns",
    "ancillary (cmsg) and option memory per socket; TCP tx zerocopy also uses it as a limit",
    KERNEL_DOCS_NET + " (optmem_max)",
    minimum=0,
    direction="up",
    boot=D.optmem_max,
)
_guide(
    "net.core.default_qdisc",
    "string",
    "",
    "global",
    "queueing discipline new network devices get",
    KERNEL_DOCS_NET,
    choices=(QDISCS, "net/sched/sch_api.c qdisc_set_default (-ENOENT for a name no qdisc has)"),
)
_guide(
    "net.core.busy_poll",
    "int",
    "microseconds",
    "global",
    "busy-poll time for poll() and select() on sockets that allow it",
    KERNEL_DOCS_NET,
    default="0",
)
_guide(
    "net.core.busy_read",
    "int",
    "microseconds",
    "global",
    "busy-poll time for a blocking read on sockets that allow it",
    KERNEL_DOCS_NET,
    default="0",
)
_guide(
    "net.ipv4.ip_forward",
    "int",
    "mode",
    "netns",
    "forward packets between interfaces (a router)",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.ip_nonlocal_bind",
    "int",
    "mode",
    "netns",
    "let processes bind addresses that are not (yet) local",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.udp_mem",
    "triple",
    "pages",
    "global",
    "min/pressure/max memory for all UDP sockets together, in pages",
    IP_SYSCTL,
    direction="up",
    boot=D.udp_mem,
)
_guide(
    "net.ipv4.udp_rmem_min",
    "int",
    "bytes",
    "netns",
    "receive buffer each UDP socket keeps even under UDP memory pressure",
    IP_SYSCTL,
    default="4096",
)
_guide(
    "net.ipv4.udp_wmem_min",
    "int",
    "bytes",
    "netns",
    "kept for compatibility: the kernel no longer uses it (ip-sysctl: 'UDP does not have "
    "tx memory accounting and this tunable has no effect')",
    IP_SYSCTL + " (udp_wmem_min)",
    default="4096",
    no_effect='ip-sysctl, udp_wmem_min: "UDP does not have tx memory accounting and this '
    'tunable has no effect."',
)
_guide(
    "net.ipv4.tcp_synack_retries",
    "int",
    "retransmissions",
    "netns",
    "SYN-ACK retransmissions for a passive connection before the request is dropped "
    "(5: about 31 s at the initial 1 s timeout)",
    IP_SYSCTL,
    minimum=0,
    maximum=255,
    default="5",
)
_guide(
    "net.ipv4.tcp_syn_retries",
    "int",
    "retransmissions",
    "netns",
    "SYN retransmissions for an active connection before connect() gives up",
    IP_SYSCTL + "; net/ipv4/sysctl_net_ipv4.c tcp_syn_retries_min/max",
    minimum=1,
    maximum=127,
    default="6",
)
_guide(
    "net.ipv4.tcp_orphan_retries",
    "int",
    "retransmissions",
    "netns",
    "retransmissions before an orphaned socket is killed; 0 means 8 for one that sent "
    "anything recently (tcp_orphan_retries)",
    IP_SYSCTL + "; net/ipv4/tcp_timer.c tcp_orphan_retries",
    minimum=0,
    maximum=255,
    default="0",
)
_guide(
    "net.ipv4.tcp_keepalive_intvl",
    "int",
    "seconds",
    "netns",
    "interval between keepalive probes",
    IP_SYSCTL,
    default="75",
    socket_max=(
        32767,
        "include/net/tcp.h MAX_TCP_KEEPINTVL; net/ipv4/tcp.c tcp_sock_set_keepintvl",
    ),
    kubernetes_safe="4.5",
)
_guide(
    "net.ipv4.tcp_keepalive_probes",
    "int",
    "probes",
    "netns",
    "unanswered keepalive probes before the connection is dropped",
    IP_SYSCTL,
    default="9",
    kubernetes_safe="4.5",
)
_guide(
    "net.ipv4.tcp_retries1",
    "int",
    "retransmissions",
    "netns",
    "retransmissions before TCP asks the network layer to check the route",
    IP_SYSCTL,
    default="3",
    advised=(
        3,
        None,
        'ip-sysctl, tcp_retries1: "RFC 1122 recommends at least 3 retransmissions, which '
        'is the default."',
    ),
)
_guide(
    "net.ipv4.tcp_retries2",
    "int",
    "retransmissions",
    "netns",
    "retransmissions before an established connection is given up (15: 924.6 s); RFC 1122 "
    "asks for at least 100 s (8)",
    IP_SYSCTL,
    minimum=0,
    maximum=255,
    default="15",
)
_guide(
    "net.ipv4.tcp_window_scaling",
    "int",
    "mode",
    "netns",
    "window scaling (RFC 7323): without it no connection has more than 64 KiB in flight",
    IP_SYSCTL,
    default="1",
    off_harm="without window scaling (RFC 7323 section 2) no connection has more than 64 KiB "
    "in flight: one connection moves at most 64 KiB per round trip (5 Mbit/s at 100 ms)",
)
_guide(
    "net.ipv4.tcp_sack",
    "int",
    "mode",
    "netns",
    "selective acknowledgements (RFC 2018): recover several losses in one round trip",
    IP_SYSCTL,
    default="1",
    off_harm="without selective acknowledgements (RFC 2018) a sender learns of one lost "
    "segment per round trip, so a window with several losses takes several round trips to "
    "repair; on by default (tcp_sk_init)",
)
_guide(
    "net.ipv4.tcp_dsack",
    "int",
    "mode",
    "netns",
    "duplicate SACKs (RFC 2883)",
    IP_SYSCTL,
    default="1",
    needs=(
        "net.ipv4.tcp_sack",
        (1,),
        "net/ipv4/tcp_input.c tcp_dsack_set: tcp_is_sack(tp) && sysctl_tcp_dsack",
    ),
)
_guide(
    "net.ipv4.tcp_fack",
    "int",
    "mode",
    "netns",
    "a legacy option with no effect",
    IP_SYSCTL,
    no_effect='ip-sysctl, tcp_fack: "This is a legacy option, it has no effect anymore."',
    no_effect_since="4.15",
)
_guide(
    "net.ipv4.tcp_low_latency",
    "int",
    "mode",
    "global",
    "a legacy option with no effect",
    IP_SYSCTL,
    no_effect='ip-sysctl, tcp_low_latency: "This is a legacy option, it has no effect anymore."',
    no_effect_since="4.14",
)
_guide(
    "net.ipv4.tcp_adv_win_scale",
    "int",
    "",
    "netns",
    "share of the receive buffer counted as overhead; obsolete since 6.6",
    IP_SYSCTL,
    default="1",
    no_effect='ip-sysctl, tcp_adv_win_scale: "Obsolete since linux-6.6": the receive window '
    "is computed from the measured skb overhead",
    no_effect_since="6.6",
)
_guide(
    "net.ipv4.tcp_moderate_rcvbuf",
    "int",
    "mode",
    "netns",
    "receive-buffer autotuning",
    IP_SYSCTL,
    default="1",
)
_guide(
    "net.ipv4.tcp_slow_start_after_idle",
    "int",
    "mode",
    "netns",
    "reset the congestion window after an idle period (RFC 2861)",
    IP_SYSCTL,
    default="1",
)
_guide(
    "net.ipv4.tcp_no_metrics_save",
    "int",
    "mode",
    "netns",
    "do not cache a closed connection's metrics for the next one to the same host",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.tcp_abort_on_overflow",
    "int",
    "mode",
    "netns",
    "reset instead of dropping when the accept queue is full",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.tcp_rfc1337",
    "int",
    "mode",
    "netns",
    "drop RSTs for sockets in TIME_WAIT (RFC 1337)",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.tcp_fastopen",
    "int",
    "mode",
    "netns",
    "TCP Fast Open bits: 1 client, 2 server",
    IP_SYSCTL,
    default="1",
)
_guide(
    "net.ipv4.tcp_mtu_probing",
    "int",
    "mode",
    "netns",
    "packetization-layer path MTU discovery (RFC 4821)",
    IP_SYSCTL,
    default="0",
)
_guide(
    "net.ipv4.tcp_congestion_control",
    "string",
    "",
    "netns",
    "congestion control for new connections; a child namespace may choose only an allowed "
    "algorithm",
    IP_SYSCTL + "; net/ipv4/tcp_cong.c tcp_set_default_congestion_control",
    choices=(CONGESTION_CONTROLS, "net/ipv4/tcp_cong.c tcp_set_default_congestion_control"),
)
_guide(
    "net.ipv4.tcp_notsent_lowat",
    "int",
    "bytes",
    "netns",
    "unsent bytes in a socket's write queue above which it is not writable",
    IP_SYSCTL,
)
_guide(
    "net.ipv4.tcp_autocorking",
    "int",
    "mode",
    "netns",
    "coalesce small writes while a packet is still queued",
    IP_SYSCTL,
    default="1",
)
_guide("net.ipv4.tcp_ecn", "int", "mode", "netns", "Explicit Congestion Notification", IP_SYSCTL)
_guide(
    "net.ipv4.ip_no_pmtu_disc",
    "int",
    "mode",
    "netns",
    "Path MTU Discovery off: new sockets send without DF, ICMP frag-needed handled per mode",
    IP_SYSCTL + "; net/ipv4/af_inet.c inet_create; net/ipv4/icmp.c icmp_unreach",
    default="0",
    mode_costs=tuple(
        (
            _n,
            "ip-sysctl.rst, ip_no_pmtu_disc: Path MTU Discovery off: every new socket sends "
            "without DF (af_inet.c inet_create: IP_PMTUDISC_DONT), so routers fragment, and "
            + _what,
        )
        for _n, _what in (
            (
                1,
                'a fragmentation-needed ICMP drops the path MTU to min_pmtu ("You will need '
                'to raise min_pmtu ... if you want to avoid locally generated fragments")',
            ),
            (2, "incoming Path MTU Discovery messages are discarded"),
            (
                3,
                'the hardened mode "should not be enabled globally ... If enabled globally '
                'this mode could break other protocols"',
            ),
        )
    ),
)
_guide(
    "net.ipv4.tcp_challenge_ack_limit",
    "int",
    "ACKs per second",
    "netns",
    "a per-namespace limit on RFC 5961 challenge ACKs; unlimited by default since 6.0",
    IP_SYSCTL + "; net/ipv4/tcp_ipv4.c tcp_sk_init",
    default="2147483647",
    advised=(
        2147483647,
        None,
        'ip-sysctl.rst, tcp_challenge_ack_limit: "this per netns rate limit can allow some '
        "side channel attacks and probably should not be enabled. TCP stack implements per "
        'TCP socket limits anyway. Default: INT_MAX (unlimited)"',
    ),
)
_guide(
    "net.ipv4.tcp_frto",
    "int",
    "mode",
    "netns",
    "F-RTO spurious-timeout detection",
    IP_SYSCTL + "; net/ipv4/tcp_input.c tcp_enter_loss",
    default="2",
    mode_costs=(
        (
            0,
            'ip-sysctl.rst, tcp_frto: "F-RTO is an enhanced recovery algorithm for TCP '
            "retransmission timeouts. It is particularly beneficial in networks where the RTT "
            'fluctuates (e.g., wireless)": without it a spurious timeout (a delay spike, no '
            "loss) collapses the window and resends what was already delivered "
            "(tcp_enter_loss sets tp->frto only when the sysctl is on)",
        ),
    ),
)
_guide(
    "net.ipv4.tcp_reordering",
    "int",
    "packets",
    "netns",
    "initial reordering level of packets in a TCP stream",
    IP_SYSCTL,
    default="3",
)
_guide(
    "net.ipv4.tcp_limit_output_bytes",
    "int",
    "bytes",
    "netns",
    "bytes one flow may have queued below TCP (qdisc, device): TCP small queues",
    IP_SYSCTL,
)
_guide(
    "net.ipv4.route.max_size",
    "int",
    "routes",
    "global",
    "size of the IPv4 route cache, which does not exist since 3.6",
    IP_SYSCTL + " (route/max_size)",
    no_effect='ip-sysctl, route/max_size: "From linux kernel 3.6 onwards, this is deprecated '
    'for ipv4 as route cache is no longer used."; net/ipv4/route.c reads ip_rt_max_size '
    "nowhere but its sysctl",
    no_effect_since="3.6",
)
# The other knobs of the IPv4 route cache, removed in 3.6: net/ipv4/route.c keeps them in
# its sysctl table and reads none of them (ipv4_dst_ops has no .gc, so gc_thresh is never
# compared either: net/core/dst.c dst_alloc), but gc_timeout, which now only times out next
# hops learned from ICMP redirects (__ip_do_redirect).
for _name in ("gc_thresh", "gc_interval", "gc_min_interval", "gc_min_interval_ms", "gc_elasticity"):
    _guide(
        f"net.ipv4.route.{_name}",
        "int",
        "",
        "global",
        "a knob of the IPv4 route cache, which does not exist since 3.6",
        "net/ipv4/route.c (ipv4_route_table)",
        no_effect="net/ipv4/route.c: the IPv4 route cache is gone since 3.6 and nothing reads "
        f"{_name} but its sysctl (ipv4_dst_ops has no garbage collector)",
        no_effect_since="3.6",
    )
# the fragment queues' low threshold: obsolete for eviction since 4.17 (ip-sysctl), but
# still high_thresh's lower bound (extra1), so a high_thresh below it is refused
for _name, _where in (
    ("net.ipv4.ipfrag_low_thresh", "net/ipv4/ip_fragment.c ipv4_frags_init_net"),
    ("net.ipv6.ip6frag_low_thresh", "net/ipv6/reassembly.c ipv6_frags_init_net"),
):
    _guide(
        _name,
        "int",
        "bytes",
        "netns",
        "the fragment queues' old eviction threshold, now only the high one's lower bound",
        IP_SYSCTL + "; " + _where,
        default="3145728",  # 3 * 1024 * 1024; IPV6_FRAG_LOW_THRESH (include/net/ipv6.h)
    )
# keys ip-sysctl calls obsolete whose value the source reads nowhere but in their sysctl:
# xfrm's gc_thresh (its dst_ops have no .gc, so dst_alloc never compares it:
# net/core/dst.c). Not the fragment queues' low_thresh, obsolete too: it is still the
# lower bound (extra1) of high_thresh, whose write below it fails (measured)
for _name, _since, _where, _also in (
    ("net.ipv4.xfrm4_gc_thresh", "4.14", "net/ipv4/xfrm4_policy.c", " (its dst_ops have no .gc)"),
    ("net.ipv6.xfrm6_gc_thresh", "4.14", "net/ipv6/xfrm6_policy.c", " (its dst_ops have no .gc)"),
):
    _guide(
        _name,
        "int",
        "",
        "netns",
        "a threshold the kernel no longer consults",
        IP_SYSCTL + "; " + _where,
        no_effect=f'ip-sysctl: "(Obsolete since linux-{_since})"; {_where} keeps it for its '
        f"sysctl{_also} and nothing else reads it",
        no_effect_since=_since,
    )
# the neighbour tables' gc_interval: net/core/neighbour.c keeps tbl->gc_interval for its
# sysctl and netlink (neightbl_fill_info) and schedules garbage collection from
# base_reachable_time (neigh_periodic_work); nothing reads it
for _family in ("ipv4", "ipv6"):
    _guide(
        f"net.{_family}.neigh.default.gc_interval",
        "int",
        "seconds",
        "global",
        "once how often the neighbour table's garbage collector ran",
        "net/core/neighbour.c (neigh_sysctl_register, neigh_periodic_work)",
        no_effect="net/core/neighbour.c stores gc_interval and reports it over netlink, but "
        "the garbage collector is scheduled from base_reachable_time / 2 "
        "(neigh_periodic_work) and the forced collection from gc_thresh1-3: nothing reads it",
    )
_guide(
    "net.ipv6.route.max_size",
    "int",
    "routes",
    "netns",
    "once the most IPv6 route entries (dst) before allocation failed; no longer checked",
    "net/ipv6/route.c (ipv6_route_table_template)",
    no_effect="net/ipv6/route.c stores ip6_rt_max_size (INT_MAX by default) and reads it "
    "nowhere: ip6_dst_gc no longer compares the entry count with it (read in Linux 6.12)",
    no_effect_since="6.12",
)
_guide(
    "net.ipv4.route.gc_timeout",
    "int",
    "seconds",
    "global",
    "since 3.6 (no route cache) only how long a next hop learned from an ICMP redirect is kept",
    "net/ipv4/route.c __ip_do_redirect",
    no_effect="net/ipv4/route.c: with no route cache since 3.6, gc_timeout only sets how long "
    "a next hop learned from an ICMP redirect is kept (__ip_do_redirect); it bounds no cache "
    "and frees no memory",
    no_effect_since="3.6",
)
# the same defaults in arp_tbl (net/ipv4/arp.c) and nd_tbl (net/ipv6/ndisc.c), read in 6.12
for (_family, _table), (_n, _default) in itertools.product(
    (("ipv4", "ARP"), ("ipv6", "neighbour discovery")), ((1, "128"), (2, "512"), (3, "1024"))
):
    _guide(
        f"net.{_family}.neigh.default.gc_thresh{_n}",
        "int",
        "entries",
        "global",
        f"neighbour ({_table}) table thresholds: below 1 nothing is collected, above 2 "
        "entries older than 5 s go, 3 is the hard maximum",
        IP_SYSCTL + " (neigh/default/gc_thresh1-3)",
        default=_default,
        direction="up" if _n == 3 else None,
    )
for _state, _default in (("established", "432000"), ("close_wait", "60"), ("fin_wait", "120")):
    _guide(
        f"net.netfilter.nf_conntrack_tcp_timeout_{_state}",
        "int",
        "seconds",
        "netns",
        f"how long conntrack keeps an idle TCP flow in {_state.upper()}",
        CONNTRACK_SYSCTL,
        module="nf_conntrack",
        default=_default,
    )
_guide(
    "net.netfilter.nf_conntrack_udp_timeout",
    "int",
    "seconds",
    "netns",
    "how long conntrack keeps a UDP flow that saw no reply",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    default="30",
)
_guide(
    "net.netfilter.nf_conntrack_tcp_loose",
    "int",
    "mode",
    "netns",
    "pick up already established TCP flows",
    CONNTRACK_SYSCTL,
    module="nf_conntrack",
    default="1",
)
_guide(
    "net.unix.max_dgram_qlen",
    "int",
    "datagrams",
    "netns",
    "datagrams a unix socket queues before senders block",
    KERNEL_DOCS_NET,
    direction="up",
    boot=D.unix_dgram_qlen,
)

# net.ipv4.conf.{all,default}.X: the kernel's own table (net/ipv4/devinet.c ipv4_devconf
# and ipv4_devconf_dflt: every entry 0 but these), and how the kernel combines `all` with
# each interface's value (include/linux/inetdevice.h IN_DEV_*). A new interface copies
# `default`; `all` is not copied to interfaces (devinet_conf_proc).
_DEVCONF_ONE = {"accept_redirects", "send_redirects", "secure_redirects", "shared_media"}
_DEVCONF_ONE |= {"arp_evict_nocarrier"}
_DEVCONF = {  # mc_forwarding is left out: the kernel makes it read-only (0444)
    "forwarding": "",
    "proxy_arp": "or",
    "accept_redirects": "or",  # when not forwarding; `and` on a router (IN_DEV_RX_REDIRECTS)
    "secure_redirects": "or",
    "send_redirects": "or",
    "shared_media": "or",
    "rp_filter": "max",
    "accept_source_route": "and",
    "bootp_relay": "and",
    "log_martians": "or",
    "arp_filter": "or",
    "arp_announce": "max",
    "arp_ignore": "max",
    "arp_accept": "max",
    "arp_notify": "max",
    "accept_local": "or",
    "src_valid_mark": "or",
    "route_localnet": "or",
    "promote_secondaries": "",
    "disable_xfrm": "",
    "disable_policy": "",
    "arp_evict_nocarrier": "and",
    "bc_forwarding": "and",
    "proxy_arp_pvlan": "or",
    "ignore_routes_with_linkdown": "or",
    "drop_gratuitous_arp": "or",
    "drop_unicast_in_l2_multicast": "or",
    "medium_id": "",
    "tag": "",
    "force_igmp_version": "",  # igmp.c: all's OR the interface's, per version
    "igmpv2_unsolicited_report_interval": "",
    "igmpv3_unsolicited_report_interval": "",
}
# the entries the tables give a value other than 0 (devinet.c ipv4_devconf, _dflt)
_DEVCONF_START = {
    "igmpv2_unsolicited_report_interval": "10000",
    "igmpv3_unsolicited_report_interval": "1000",
}
# values with a cost worth a warning (rule mode-cost)
_DEVCONF_COSTS = {
    "route_localnet": (
        (
            1,
            'ip-sysctl.rst, route_localnet: "Do not consider loopback addresses as martian '
            'source or destination while routing": a packet to 127.0.0.0/8 that arrives on the '
            "interface is routed in (net/ipv4/route.c ip_route_input_slow no longer drops it), "
            "so a service bound to 127.0.0.1 can be reached by a neighbour on the link",
        ),
    ),
}
for _name, _combine in _DEVCONF.items():
    for _which in ("all", "default"):
        _one = _name in _DEVCONF_ONE or (_which == "default" and _name == "accept_source_route")
        _guide(
            f"net.ipv4.conf.{_which}.{_name}",
            "int",
            "mode",
            "netns",
            f"IPv4 {_name.replace('_', ' ')}, "
            + ("for every interface with its own value" if _which == "all" else "for new ones"),
            IP_SYSCTL
            + " (conf/interface/*); net/ipv4/devinet.c ipv4_devconf"
            + ("_dflt" if _which == "default" else ""),
            default=_DEVCONF_START.get(_name, "1" if _one else "0"),
            conf_combine=_combine,
            mode_costs=_DEVCONF_COSTS.get(_name, ()),
        )
_guide(
    "net.ipv4.route.flush",
    "int",
    "",
    "netns",  # in ipv4_route_netns_table, write-only (0200)
    "a write-only trigger: writing it bumps the route generation once",
    "net/ipv4/route.c ipv4_sysctl_rtcache_flush",
    no_effect="net/ipv4/route.c: route.flush is a write-only trigger (mode 0200) that bumps "
    "the route generation once; the IPv4 route cache it flushed is gone since 3.6, and "
    "nothing persists",
    no_effect_since="3.6",
)
_guide(
    "net.ipv6.route.flush",
    "int",
    "",
    "netns",  # in ipv6_route_table_template, write-only (0200)
    "a write-only trigger: writing it runs the IPv6 route garbage collector once",
    "net/ipv6/route.c ipv6_sysctl_rtcache_flush",
    no_effect="net/ipv6/route.c: route.flush is a write-only trigger (mode 0200) that runs "
    "fib6_run_gc once when written; it is an action, not a setting, and nothing persists",
)

KEYS: dict[str, Key] = {k.name: k for k in _KEYS}

# The limits every process starts with (include/asm-generic/resource.h INIT_RLIMITS), in
# limits.conf's units (KiB for sizes, minutes for cpu): item -> (soft, hard). Those that
# systemd or the RAM change for a login session (nofile, nproc, memlock, sigpending) are
# not here.
RLIMIT_DEFAULTS = {
    "cpu": ("unlimited", "unlimited"),
    "fsize": ("unlimited", "unlimited"),
    "data": ("unlimited", "unlimited"),
    "stack": ("8192", "unlimited"),  # _STK_LIM, 8 MiB (include/uapi/linux/resource.h)
    "core": ("0", "unlimited"),
    "rss": ("unlimited", "unlimited"),
    "as": ("unlimited", "unlimited"),
    "locks": ("unlimited", "unlimited"),
    "msgqueue": ("819200", "819200"),  # MQ_BYTES_MAX (include/uapi/linux/mqueue.h)
    # soft INR_OPEN_CUR (include/uapi/linux/fs.h); the hard one is INR_OPEN_MAX 4096 from the
    # kernel but 524288 under systemd >= 240 (DefaultLimitNOFILE=1024:524288): not known here
    "nofile": ("1024", ""),
    "nice": ("0", "0"),
    "rtprio": ("0", "0"),
}
# The limits whose lowering takes away what processes already have: (soft, hard) every
# process starts with, in limits.conf's unit, and where that is read. "threads/2": half
# the boot threads-max, as fork_init gives init (kernel/fork.c: RLIMIT_NPROC and
# RLIMIT_SIGPENDING = max_threads/2). nofile's hard limit is INR_OPEN_MAX (4096) from the
# kernel, more under systemd (524288): 4096 is the least a process starts with.
LIMIT_FLOORS = {
    "nofile": (1024, 4096, "include/uapi/linux/fs.h INR_OPEN_CUR, INR_OPEN_MAX"),
    "nproc": ("threads/2", "threads/2", "kernel/fork.c fork_init (max_threads/2)"),
    "sigpending": ("threads/2", "threads/2", "kernel/fork.c fork_init (max_threads/2)"),
    "memlock": (8192, 8192, "include/uapi/linux/resource.h MLOCK_LIMIT, 8 MiB since 5.16"),
    "msgqueue": (819200, 819200, "include/uapi/linux/mqueue.h MQ_BYTES_MAX"),
}
# ulimit's options and the limits.conf items they set (bash(1) ulimit)
ULIMIT_ITEMS = {
    "c": "core",
    "d": "data",
    "e": "nice",
    "f": "fsize",
    "i": "sigpending",
    "l": "memlock",
    "m": "rss",
    "n": "nofile",
    "q": "msgqueue",
    "r": "rtprio",
    "s": "stack",
    "t": "cpu",
    "u": "nproc",
    "v": "as",
    "x": "locks",
}

# What a new network namespace copies from the initial one rather than taking the
# kernel's default (so its value there says nothing of the default): IPv4's conf/all and
# conf/default while net.core.devconf_inherit_init_net is 0 (net.rst; devinet.c
# devinet_init_net), tcp_rmem, tcp_wmem and the congestion control (tcp_ipv4.c
# tcp_sk_init), and net.core's host-wide keys, visible read-only there.
FRESH_NS_COPIES = (
    "net.ipv4.conf.",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_congestion_control",
    "net.core.",
)

# Names the kernel still accepts for the same file (nf_conntrack_standalone.c registers
# net.nf_conntrack_max in the initial namespace).
# names of one variable: net.ipv4.ip_forward is conf.all.forwarding (net/ipv4/devinet.c:
# its ctl_table's .data is the "all" devconf's IPV4_DEVCONF_FORWARDING)
ALIASES = {
    "net.nf_conntrack_max": CONNTRACK_MAX.name,
    "net.ipv4.conf.all.forwarding": "net.ipv4.ip_forward",
}

# Keys that exist only while a module is loaded: absent now is not "dead" (prefix -> module).
MODULE_PREFIXES = {
    "net.netfilter.": "nf_conntrack",
    "net.nf_conntrack_max": "nf_conntrack",
    "net.ipv4.netfilter.": "nf_conntrack",
    "net.bridge.": "br_netfilter",
    "net.ipv4.vs.": "ip_vs",
}
# Files of a filesystem mounted under /proc/sys, not sysctls: there once it is mounted
# (fs/binfmt_misc.c's "status" and "register"; systemd mounts it on first use,
# proc-sys-fs-binfmt_misc.automount), so absent now is not "dead"
MOUNTED_PREFIXES = ("fs.binfmt_misc.",)
# The conntrack module and the names it had before (ip_conntrack; nf_conntrack_ipv4, merged
# into nf_conntrack in 4.19): modprobe.d lines about them are tunekit's business.
CONNTRACK_MODULES = ("nf_conntrack", "ip_conntrack", "nf_conntrack_ipv4")
# A device's own keys (eth0, a VLAN): absent until the device appears, then udev applies them.
DEVICE_KEY = re.compile(r"^net\.ipv[46]\.(conf|neigh)\.(?!all\.|default\.)[^.]+\.")
# Keys that only a running kernel prints: their presence makes a file a `sysctl -a` dump.
SNAPSHOT_MARKERS = frozenset(
    {FILE_NR.name, "fs.inode-nr", OSRELEASE.name, "kernel.ostype", "kernel.random.uuid"}
)


# A write of the first key is also a write of the same value to every key the pattern
# matches (the default and each interface): its handler copies it, on every write, or
# (True) only when the write changes the value: IPv4's devinet_sysctl_forward copies
# forwarding to default and the interfaces under `if (write && *valp != val)`.
WRITES_ALSO: dict[str, tuple[str, str, bool]] = {
    "net.ipv6.conf.all.forwarding": (
        "net.ipv6.conf.*.forwarding",
        "net/ipv6/addrconf.c addrconf_fixup_forwarding (devconf_dflt, addrconf_forward_change)",
        False,
    ),
    "net.ipv6.conf.all.disable_ipv6": (
        "net.ipv6.conf.*.disable_ipv6",
        "net/ipv6/addrconf.c addrconf_disable_ipv6 (devconf_dflt, addrconf_disable_change)",
        False,
    ),
    "net.ipv4.ip_forward": (
        "net.ipv4.conf.*.forwarding",
        "net/ipv4/devinet.c devinet_sysctl_forward, inet_forward_change (on a change only)",
        True,
    ),
}


# A write of the key sets the other to 0: the two say the same limit in two units, and the
# one written last is the one in force (the earlier line's value is gone). The dirty pair
# zeroes only when the write changes the value; the others on every write that succeeds.
ZEROES = {
    "vm.dirty_bytes": ("vm.dirty_ratio", True, "mm/page-writeback.c dirty_bytes_handler"),
    "vm.dirty_ratio": ("vm.dirty_bytes", True, "mm/page-writeback.c dirty_ratio_handler"),
    "vm.dirty_background_bytes": (
        "vm.dirty_background_ratio",
        False,
        "mm/page-writeback.c dirty_background_bytes_handler",
    ),
    "vm.dirty_background_ratio": (
        "vm.dirty_background_bytes",
        False,
        "mm/page-writeback.c dirty_background_ratio_handler",
    ),
    "vm.overcommit_kbytes": ("vm.overcommit_ratio", False, "mm/util.c overcommit_kbytes_handler"),
    "vm.overcommit_ratio": ("vm.overcommit_kbytes", False, "mm/util.c overcommit_ratio_handler"),
}


# What a container runtime may set (runc libcontainer/configs/validate/validator.go
# sysctl(), which Docker, containerd and CRI-O run): the IPC namespace's keys, fs.mqueue.*,
# net.* (in a network namespace of the container's own) and kernel.domainname (UTS).
RUNTIME_IPC = frozenset(
    "kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall kernel.shmmax "
    "kernel.shmmni kernel.shm_rmid_forced".split()
)


def ipc_namespaced(name: str) -> bool:
    """A key of the IPC namespace, as runc counts them."""
    return name in RUNTIME_IPC or name.startswith("fs.mqueue.")


def runtime_namespaced(name: str) -> bool:
    """Does runc let a container set this key (its own namespace holds it)?"""
    return ipc_namespaced(name) or name.startswith("net.") or name == "kernel.domainname"


def conf_combine(name: str) -> str:
    """How the kernel combines conf.all.X with an interface's own X, for any
    net.ipv4.conf.IFACE.X ("" if it is no such key)."""
    parts = name.split(".")
    if len(parts) != 5 or parts[:3] != ["net", "ipv4", "conf"]:
        return ""
    entry = KEYS.get(f"net.ipv4.conf.all.{parts[4]}")
    return entry.conf_combine if entry is not None else ""


def symptoms() -> dict[str, tuple[Key, Symptom]]:
    """Every symptom counter, by name, with the key whose limit it shows was hit."""
    return {s.counter: (k, s) for k in _KEYS for s in k.symptoms}


def with_usage() -> list[Key]:
    """The keys whose limit `status` compares with what counts against it now."""
    return [k for k in _KEYS if k.usage is not None]


def messages() -> list[tuple[Key, str, str]]:
    """Every kernel log line that shows a limit was hit: (key, text, meaning)."""
    return [(k, text, meaning) for k in _KEYS for text, meaning in k.messages]


def errnos() -> dict[str, tuple[Key, str]]:
    """Every errno that means a limit was hit, with the key that sets the limit."""
    return {e: (k, meaning) for k in _KEYS for e, meaning in k.errnos}


def lookup(name: str) -> Key:
    """The entry for `name` (dotted or slash form, or an alias); a generic entry for a
    sysctl tunekit has no knowledge of. Raises KeyNameError for a name that is not a path."""
    if name in KEYS:
        return KEYS[name]
    if name in ALIASES:
        return KEYS[ALIASES[name]]
    if name.startswith("rlimit."):
        raise KeyNameError(f"unknown limit {name!r}; known: {NOFILE_SOFT.name}, {NOFILE_HARD.name}")
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


def canonical(name: str) -> str:
    """The catalogue's name for `name` as written (aliases resolved, '/' to '.')."""
    return ALIASES.get(name, name)


def generic_shape(key: Key, value) -> Key:
    """A generic entry shaped by a target's value: text is a string, a number an int."""
    if key.known:
        return key
    shape: Shape = (
        "string" if isinstance(value, str) else ("int" if isinstance(value, int) else "ints")
    )
    return replace(key, shape=shape)


def read_by_default() -> list[Key]:
    """The sysctls a host's facts always include: every catalogued key the capacity model,
    check or apply may need (the lint-only keys are read by lint, on demand)."""
    return [k for k in _MODEL_KEYS if k.kind != "rlimit"]


def targetable() -> list[Key]:
    return [k for k in _MODEL_KEYS if k.kind != "input"]


def module_keys() -> dict[str, list[Key]]:
    """The catalogued keys each kernel module provides."""
    out: dict[str, list[Key]] = {}
    for k in _KEYS:
        if k.module:
            out.setdefault(k.module, []).append(k)
    return out


# The keys the capacity model, check and apply work with (read into every HostFacts).
_MODEL_KEYS = [
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
