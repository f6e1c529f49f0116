"""HostFacts: a read-only snapshot of the live state, as plain data.

host.py fills it from a root directory or a saved `sysctl -a`; the engine only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    cap_sys_resource: bool | None = None
    proc_sys_writable: bool | None = None
    child_netns: bool | None = None  # read inside a non-initial network namespace
    addresses: list[str] | None = None  # non-loopback IPv4 addresses
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def int_value(self, key: str) -> int | None:
        raw = self.sysctls.get(key)
        if raw is None:
            return None
        try:
            return int(raw.split()[0])
        except (ValueError, IndexError):
            return None

    def ints(self, key: str) -> list[int] | None:
        raw = self.sysctls.get(key)
        if raw is None:
            return None
        try:
            return [int(x) for x in raw.split()]
        except ValueError:
            return None

    def reserved_ports(self) -> set[int]:
        """ip_local_reserved_ports, '8080,9000-9010' form, expanded."""
        out: set[int] = set()
        for part in self.sysctls.get("net.ipv4.ip_local_reserved_ports", "").split(","):
            part = part.strip()
            if not part:
                continue
            lo, _, hi = part.partition("-")
            if lo.isdigit() and (not hi or hi.isdigit()):
                out.update(range(int(lo), int(hi or lo) + 1))
        return out

    def usable_ports(self) -> int | None:
        """Ports connect() can pick: the range width minus reserved ports inside it."""
        rng = self.ints("net.ipv4.ip_local_port_range")
        if not rng or len(rng) != 2:
            return None
        lo, hi = rng
        reserved = sum(1 for p in self.reserved_ports() if lo <= p <= hi)
        return max(0, hi - lo + 1 - reserved)
