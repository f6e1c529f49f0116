"""HostFacts: a read-only snapshot of the live state, as plain data.

host/facts.py fills it from a root directory or a saved `sysctl -a`; the engine only
reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tunekit.knowledge.catalogue import PORT_RANGE, RESERVED_PORTS
from tunekit.model import values


@dataclass
class HostFacts:
    source: str = "live"  # "live", "root DIR", "snapshot FILE"
    kernel: str | None = None
    page_size: int = 4096
    sysctls: dict[str, str] = field(default_factory=dict)  # raw text, as in /proc/sys
    unreadable: dict[str, str] = field(default_factory=dict)  # key -> why
    modules: set[str] | None = None  # None: unknown (snapshot)
    mem_total: int | None = None  # bytes
    mem_available: int | None = None
    nofile: tuple[int, int] | None = None  # (soft, hard) of the audited process
    nofile_of: str = "unknown"
    nofile_is_workload: bool = False  # read from the workload's process or unit (--pid, ...)
    cap_sys_resource: bool | None = None
    proc_sys_writable: bool | None = None
    child_netns: bool | None = None  # read inside a non-initial network namespace
    addresses: list[str] | None = None  # non-loopback IPv4 addresses
    listening: list[int] | None = None  # TCP ports in LISTEN (IPv4 and IPv6); None: unknown
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # what the boot values depend on (knowledge/defaults.py): PID 1 systemd v240+ (None:
    # unknown), what was seen of it, possible CPUs, the release an image boots
    systemd: bool | None = None
    init: str = "unknown"
    pid1_nofile_hard: int | None = None  # the live PID 1's hard open-files limit, if read
    builtin: dict[str, bool | None] = field(default_factory=dict)  # module -> built in?
    cpus: int | None = None
    boot_kernel: str | None = None
    thash_entries: int | None = None  # the running kernel's command line: thash_entries=

    def boot_context(self):
        """The inputs of the boot defaults (knowledge/defaults.py) this host gives."""
        from tunekit.knowledge.defaults import BootContext

        return BootContext(
            mem_total=self.mem_total,
            systemd=self.systemd,
            kernel=_version(self.kernel or self.boot_kernel),
            cpus=self.cpus,
            thash_entries=self.thash_entries,
        )

    def int_value(self, key: str) -> int | None:
        found = self.ints(key)
        return found[0] if found else None

    def ints(self, key: str) -> list[int] | None:
        raw = self.sysctls.get(key)
        if raw is None:
            return None
        try:
            return values.parse_ints(raw)
        except ValueError:
            return None

    def reserved_ports(self) -> values.Intervals:
        """ip_local_reserved_ports as port intervals ('8080,9000-9010'), never expanded."""
        try:
            return values.parse_portset(self.sysctls.get(RESERVED_PORTS.name, ""))
        except ValueError:
            return []

    def usable_ports(self) -> int | None:
        """Ports connect() can pick: the range width minus reserved ports inside it."""
        rng = self.ints(PORT_RANGE.name)
        if not rng or len(rng) != 2:
            return None
        lo, hi = rng
        return max(0, hi - lo + 1 - values.count_in(self.reserved_ports(), lo, hi))


def _version(release: str | None) -> tuple[int, ...] | None:
    """(major, minor) of a kernel release such as 6.18.44-fc; None if it is not one."""
    m = re.match(r"^(\d{1,3})\.(\d{1,3})", release or "")
    return (int(m[1]), int(m[2])) if m else None
