"""The probe's private network namespace, and what the kernel says inside it.

unshare(CLONE_NEWNET) gives the calling process a network namespace of its own
(anonymous: it vanishes with the last process in it, so nothing can be left behind by
name); the per-namespace sysctls of the namespace it started from are copied in, loopback
is brought up, and, for --send and --conntrack, socket buffers and an nftables rule are set
there. Then the readings the coordinator compares: symptom counters, slab and TCP memory.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tunekit.errors import NotPermitted
from tunekit.host import procfs
from tunekit.knowledge import catalogue as K
from tunekit.probe import verdicts

CLONE_NEWNET = 0x40000000
NETNS_SYSCTL_DIRS = ("core", "ipv4", "ipv6", "netfilter", "unix")
CONNTRACK_RULESET = """\
table inet tunekit_probe {
    chain output { type filter hook output priority 0; ct state new counter; }
}
"""
# Slab caches that grow with the connections but are not their cost: a process that scans
# /proc/PID/fd (lsof, ss -p, monitoring agents; on the development VMs, PID 1) makes one
# proc inode per descriptor it looks at. Subtracted from the slab delta, and reported.
NOT_CONNECTION_CACHES = ("proc_inode_cache",)


def errno_name(err: OSError) -> str:
    return errno_mod.errorcode.get(err.errno or 0, str(err.errno))


def netns_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def read_netns_sysctls() -> dict[str, str]:
    """The sysctls a child namespace can have its own copy of, read in this namespace.
    Keys that are global (fs.*, net.ipv4.tcp_mem, ...) are simply absent there later."""
    out = {}
    for d in NETNS_SYSCTL_DIRS:
        base = Path("/proc/sys/net", d)
        for path in sorted(base.iterdir()) if base.is_dir() else []:
            try:
                if path.is_file():
                    out[str(path)] = path.read_text()
            except OSError:
                pass  # write-only (route flush) or not readable
    return out


def enter_private_netns(values: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Move this process into a new network namespace, bring lo up and write `values`
    where the new namespace differs. Returns (keys copied, keys that could not be)."""
    before = netns_inode()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NotPermitted(
            f"cannot create a network namespace: {os.strerror(err)}",
            "probe needs root (CAP_SYS_ADMIN); it never touches the host's own network",
        )
    if netns_inode() == before:  # never write a sysctl into the namespace we came from
        raise NotPermitted("unshare(CLONE_NEWNET) left this process in its namespace")
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    copied, failed = [], {}
    for name, value in values.items():
        path = Path(name)
        key = ".".join(path.relative_to("/proc/sys").parts)
        try:
            if path.read_text().split() == value.split() or not path.stat().st_mode & 0o222:
                continue  # same already, or read-only here (nf_conntrack_max, *_entries)
            path.write_text(value)
            copied.append(key)
        except FileNotFoundError:
            continue  # global key: not in a child namespace
        except OSError as err:
            failed[key] = errno_name(err)
    return copied, failed


def fit_buffers(send: int) -> dict[str, str]:
    """Inside the private namespace only: default socket buffers large enough that `send`
    bytes leave in one send() and sit unread in the receiver's queue (a socket that is not
    read keeps its default receive buffer). tcp_rmem/tcp_wmem are per namespace (4.15+)."""
    out = {}
    for key, need in ((K.TCP_RMEM, 4 * send + 65536), (K.TCP_WMEM, 2 * send + 65536)):
        path = Path("/", key.proc_path)
        lo, default, hi = (int(v) for v in path.read_text().split())
        if default < need:
            value = f"{lo} {need} {max(hi, need)}"
            path.write_text(value)
            out[key.name] = value
    return out


def require_nft() -> None:
    if not shutil.which("nft"):
        raise NotPermitted(
            "--conntrack needs the nft command to add its rule",
            "install nftables (Debian/Ubuntu: apt install nftables)",
        )


def add_conntrack_rule() -> None:
    require_nft()
    done = subprocess.run(
        ["nft", "-f", "-"], input=CONNTRACK_RULESET, text=True, capture_output=True
    )
    if done.returncode:
        raise NotPermitted(f"nft could not add the conntrack rule: {done.stderr.strip()}")


# --- what the kernel says ------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def read_counters() -> dict[str, int]:
    """Symptom counters of this namespace: TcpExt, and conntrack drops (table full)."""
    out = procfs.tcpext(Path("/"))
    rows = _read("/proc/net/stat/nf_conntrack").splitlines()
    if rows:
        col = rows[0].split().index("drop")
        out["conntrack_drop"] = sum(int(r.split()[col], 16) for r in rows[1:])
    return out


# What the readings come from; module attributes so that a test can point one at a path
# that cannot be read (tests/probe/test_probe_unverified.py), never at a made-up figure.
SLABINFO = "/proc/slabinfo"
SOCKSTAT = "/proc/net/sockstat"


@dataclass
class Reading:
    slab: int  # /proc/meminfo Slab, bytes
    caches: dict[str, int]  # slab cache -> bytes of active objects
    tcp_inuse: int
    tcp_mem_pages: int
    conntrack_count: int
    # what could not be read (each "PATH (what)"): its figures above are 0, not measured
    unread: list[str] = field(default_factory=list)


def read_memory() -> Reading:
    unread = []
    caches = {}
    for line in _read(SLABINFO).splitlines()[2:]:
        f = line.split()
        caches[f[0]] = int(f[1]) * int(f[3])  # active objects x object size
    if not caches:
        unread.append(f"{SLABINFO} (slab caches)")
    tcp = {}
    for line in _read(SOCKSTAT).splitlines():
        if line.startswith("TCP:"):
            f = line.split()[1:]
            tcp = dict(zip(f[::2], (int(v) for v in f[1::2]), strict=False))
    if "inuse" not in tcp or "mem" not in tcp:
        unread.append(f"{SOCKSTAT} (TCP: inuse, mem)")
    slab = procfs.meminfo().get("Slab")
    if slab is None:
        unread.append("/proc/meminfo (Slab)")
    count = _read("/" + K.CONNTRACK_COUNT.proc_path).strip()
    return Reading(
        slab=slab or 0,
        caches=caches,
        tcp_inuse=tcp.get("inuse", 0),
        tcp_mem_pages=tcp.get("mem", 0),
        conntrack_count=int(count) if count.isdigit() else 0,
        unread=unread,
    )


def memory_delta(before: Reading, after: Reading, sockets: int) -> verdicts.Memory:
    grown = {name: size - before.caches.get(name, 0) for name, size in after.caches.items()}
    top = dict(
        sorted(
            ((k, v) for k, v in grown.items() if v > 0 and k not in NOT_CONNECTION_CACHES),
            key=lambda kv: -kv[1],
        )[:8]
    )
    excluded = {k: grown[k] for k in NOT_CONNECTION_CACHES if grown.get(k, 0) > 0}
    return verdicts.Memory(
        sockets=sockets,
        slab_bytes=after.slab - before.slab - sum(excluded.values()),
        excluded=excluded,
        conntrack_bytes=max(0, grown.get("nf_conntrack", 0)),
        conntrack_entries=max(0, after.conntrack_count - before.conntrack_count),
        tcp_mem_pages=after.tcp_mem_pages - before.tcp_mem_pages,
        caches=top,
    )
