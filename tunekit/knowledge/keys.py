"""What a catalogue entry is: the type of every fact tunekit knows about one key.

The entries themselves are in catalogue.py; this module holds their shape and the rules
for names, so that a reader sees what a key *can* say before reading what each one says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tunekit.errors import KeyNameError

if TYPE_CHECKING:
    from tunekit.knowledge.defaults import BootContext, BootDefault

# int: one integer. triple: min default max. range: low high. ints: any count of integers
# (generic keys). string: text compared as a whole (tcp_congestion_control = "bbr").
# portset: "8080,9000-9010", compared as a set of ports and never expanded.
Shape = Literal["int", "triple", "range", "ints", "string", "portset"]
# global: one for the host. netns: every network namespace has its own. process: a
# process's rlimit. unknown: a sysctl tunekit has no entry for, under net/.
Scope = Literal["global", "netns", "process", "unknown"]
# How a key shows inside a child network namespace (measured on 6.18 with `unshare -n`):
# its own writable copy, absent (tcp_mem), or visible and read-only (net.core.rmem_max,
# nf_conntrack_max): the host's value, which only the initial namespace may change.
InChild = Literal["own", "absent", "read-only"]
Kind = Literal["sysctl", "rlimit", "input"]  # input: read for the model, never a target
Persist = Literal["sysctl.d", "modprobe", "limits"]
# up: a larger value allows more (connections, files, entries); lowering it takes capacity
# away. None: a mode, a timeout or a default, where bigger is not "more".
Direction = Literal["up"] | None

KERNEL_DOCS_FS = "Documentation/admin-guide/sysctl/fs.rst"
KERNEL_DOCS_NET = "Documentation/admin-guide/sysctl/net.rst"
KERNEL_DOCS_KERNEL = "Documentation/admin-guide/sysctl/kernel.rst"
KERNEL_DOCS_VM = "Documentation/admin-guide/sysctl/vm.rst"
IP_SYSCTL = "Documentation/networking/ip-sysctl.rst"
CONNTRACK_SYSCTL = "Documentation/networking/nf_conntrack-sysctl.rst"

_PART_RE = re.compile(r"^[A-Za-z0-9_:@+-][A-Za-z0-9_.:@+-]{0,63}$")
MAX_PARTS = 12


@dataclass(frozen=True)
class Symptom:
    """A counter that grows when the key's limit was hit. `table` is TcpExt (per network
    namespace, /proc/net/netstat) or conntrack (a column of /proc/net/stat/nf_conntrack,
    summed over CPUs: conntrack_drop is its `drop` column). `metric` is the name status
    exports it under in Prometheus (tunekit_ prefix and _total added); `node_exporter`
    the name node_exporter exports it under by default, if it does (then status does not)."""

    counter: str
    table: Literal["TcpExt", "conntrack"]
    meaning: str
    metric: str = ""
    node_exporter: str | None = None


# What one status row compares with a limit: a count for the host or the namespace read
# from a table of counters (host/counters.py), or one per process, listener or
# destination (their readers: host/processes.py, host/sockets.py).
Per = Literal["host", "process", "listener", "destination"]


@dataclass(frozen=True)
class Usage:
    """What counts against a key's limit, and where `status` reads it.

    `table` and `field` name the reading in host/counters.py's tables for a count
    (per = "host": /proc/net/sockstat's "TCP" line, fs.file-nr, conntrack); `where` says
    the same for people, with its kernel source. `index` is the element of a triple that
    is the limit (tcp_mem: 2, max) and `near_index` the one past which usage is already
    near it (tcp_mem: 1, pressure). `metric` is the Prometheus name of the resource
    (status adds tunekit_, _limit, _ratio), `node_exporter` the names node_exporter
    already exports the used and the limit series under (not exported again). `need` is
    the capacity model's need that sizes it for a workload (a profile's load). `beyond`
    is the fix when raising the key is not the whole answer."""

    resource: str  # the row's name for people: "file handles", "listen queue"
    counts: str
    where: str
    per: Per = "host"
    table: str = ""
    field: str = ""
    index: int | None = None
    near_index: int | None = None
    metric: str = ""
    node_exporter: tuple[str | None, str | None] = (None, None)
    need: str | None = None
    beyond: str = ""
    elements: tuple[str, ...] = ()  # the names of a triple's elements (min, pressure, max)


@dataclass(frozen=True)
class Key:
    name: str
    shape: Shape
    unit: str
    scope: Scope
    reason: str  # what the key does, and what happens at its limit
    source: str  # where that was read
    kind: Kind = "sysctl"
    module: str | None = None  # kernel module that provides the key
    # The bounds the kernel enforces (a write outside them fails with EINVAL), where it
    # enforces any; None: no bound (a plain proc_dointvec takes any int).
    minimum: int | None = None
    maximum: int | None = None
    default: str | None = None  # the kernel's boot default where it is a constant
    # the boot value where it depends on RAM, CPUs, the release or systemd (defaults.py)
    boot: Callable[[BootContext], BootDefault] | None = None
    direction: Direction = None
    in_child: InChild | None = None  # None: follows from the scope
    order: int = 50  # runtime write order, lower first
    write_path: str | None = None  # where the runtime value is written, if not its proc path
    persist: Persist = "sysctl.d"
    param: str | None = None  # module parameter name, for persist = "modprobe"
    parity: bool = False  # a range whose ends should differ in parity
    symptoms: tuple[Symptom, ...] = ()
    errnos: tuple[tuple[str, str], ...] = ()  # (errno name, what it means) when it is hit
    # (text, what it means): kernel log lines printed when the limit is hit
    messages: tuple[tuple[str, str], ...] = ()
    usage: Usage | None = None  # what counts against the limit, for `status`
    # What lint knows of a line on this key, each with where it was read (rules.toml's
    # family rules read these, so a key's fact is stated once, here):
    off_harm: str = ""  # a feature on by default whose 0 makes every connection worse
    never_lower: str = ""  # the kernel documentation says the limit must not be lowered
    no_effect: str = ""  # the kernel reads it nowhere (or nowhere that matters) ...
    no_effect_since: str = ""  # ... from this release on ("": on every kernel)
    # how the kernel combines net.ipv4.conf.all.X with each interface's own X
    # (include/linux/inetdevice.h): "or", "and", "max"; "" for any other key
    conf_combine: str = ""
    # (other key, its values under which this one acts, where the kernel reads it so):
    # with the other at any other value the kernel never consults this key
    needs: tuple[str, tuple[int, ...], str] | None = None
    # (lowest, highest, what the documentation says): the range outside which the
    # kernel's own documentation warns (None: no bound on that side)
    advised: tuple[int | None, int | None, str] | None = None
    # (the names the kernel accepts, where they were read): a text key whose value must
    # name something the kernel registers (a congestion control, a qdisc); any other name
    # fails the write with ENOENT. Names the running kernel lists as available pass too.
    choices: tuple[tuple[str, ...], str] | None = None
    # (the most, in the key's unit, that a socket may ask for the same timer with
    # setsockopt, where that is read): a line past it and a whole multiple of 1000 whose
    # thousandth fits is a timer written in milliseconds
    socket_max: tuple[int, str] | None = None
    # (what counts against the limit on the running host, what fails past it): lint reads
    # the count (lint/host.py in_use) and names a line below it harmful
    in_use: tuple[str, str] | None = None
    # (other key, what the kernel does instead, where it does): a value at or above the
    # other key's is not used as written (dirty_background_ratio >= dirty_ratio: halved)
    below_other: tuple[str, str, str] | None = None
    # (value, what the key's documentation says that mode does instead of the default):
    # a mode that trades the host's survival or its allocations for something else
    mode_costs: tuple[tuple[int, str], ...] = ()
    known: bool = True  # False: a generic entry, shape inferred from the values
    # In the kubelet's safe set (kubernetes pkg/kubelet/sysctl/safe_sysctls.go, read
    # 2026-12) from this kernel version on ("" on every kernel): any pod may set it. None:
    # not in it; a per-namespace key then needs the kubelet's --allowed-unsafe-sysctls.
    kubernetes_safe: str | None = None
    path_parts: tuple[str, ...] = ()

    @property
    def proc_path(self) -> str:
        """Path relative to the root, e.g. proc/sys/net/core/somaxconn."""
        return "proc/sys/" + "/".join(self.path_parts or self.name.split("."))

    @property
    def runtime_path(self) -> str:
        return self.write_path or self.proc_path

    @property
    def child(self) -> InChild:
        if self.in_child is not None:
            return self.in_child
        return "own" if self.scope == "netns" else "absent"


def split_name(name: str) -> tuple[str, ...]:
    """Components of a sysctl name in dotted (net.core.somaxconn) or slash
    (net/core/somaxconn, which allows dots in a component: eth0.100) form."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise KeyNameError(f"{name!r} is not a sysctl name")
    text = name.strip("/") if "/" in name else name
    parts = tuple(text.split("/") if "/" in name else text.split("."))
    if (
        len(parts) < 2
        or len(parts) > MAX_PARTS
        or any(p in (".", "..") or not _PART_RE.match(p) for p in parts)
    ):
        raise KeyNameError(
            f"{name!r} is not a sysctl name: components of letters, digits and "
            "_-:@+ (no '..', no empty part, no '/' escape)"
        )
    return parts
