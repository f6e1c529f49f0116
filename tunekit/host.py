"""Host I/O: read HostFacts from a root directory (default /) or a saved `sysctl -a`.

Everything is read relative to `root`, so tests and offline audits point it at a tree.
Reading decides nothing; the engine compares.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

from tunekit import registry
from tunekit.errors import NotPermitted, UsageError
from tunekit.facts import HostFacts

CAP_SYS_RESOURCE = 24  # include/uapi/linux/capability.h

# Keys read besides the registry's: they feed the capacity model.
EXTRA_KEYS = (
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_fin_timeout",
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
    "net.netfilter.nf_conntrack_count",
    "kernel.osrelease",
)


def _read(path: Path) -> str:
    with path.open() as f:
        return f.read()


def read_sysctl(root: Path, key: str) -> str:
    """Raw value of one key, whitespace-normalised; raises OSError as the kernel does."""
    return " ".join(_read(root / "proc/sys" / key.replace(".", "/")).split())


def _read_sysctls(root: Path, facts: HostFacts) -> None:
    for key in list(registry.KEYS) + list(EXTRA_KEYS):
        if registry.KEYS.get(key) and registry.KEYS[key].kind != "sysctl":
            continue
        try:
            facts.sysctls[key] = read_sysctl(root, key)
        except FileNotFoundError:
            pass  # absent on this kernel, module not loaded, or global key in a child netns
        except OSError as err:
            facts.unreadable[key] = err.strerror or str(err)


def meminfo(root: Path = Path("/")) -> dict[str, int]:
    out = {}
    try:
        for line in _read(root / "proc/meminfo").splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    except OSError:
        pass
    return out


SYMPTOM_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPMemoryPressures")


def tcpext(root: Path = Path("/"), names=SYMPTOM_COUNTERS) -> dict[str, int]:
    """TcpExt counters from /proc/net/netstat (header line, then values line); they are
    per network namespace."""
    out = {}
    try:
        lines = _read(root / "proc/net/netstat").splitlines()
    except OSError:
        return out
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            for k, v in zip(head.split()[1:], vals.split()[1:]):
                if k in names and v.isdigit():
                    out[k] = int(v)
    return out


def _cap_sys_resource(root: Path) -> bool | None:
    try:
        for line in _read(root / "proc/self/status").splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _proc_sys_writable(root: Path) -> bool | None:
    """False when /proc/sys is mounted read-only (as container runtimes do) or its keys are
    not writable to us. access() on the directory itself is meaningless for root."""
    proc_sys = root / "proc/sys"
    try:
        if os.statvfs(proc_sys).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return None
    probe = proc_sys / "fs/file-max"
    return os.access(probe, os.W_OK) if probe.exists() else None


def _modules(root: Path) -> set[str]:
    """Loaded modules: /proc/modules plus /sys/module (which also lists built-ins)."""
    mods: set[str] = set()
    try:
        mods.update(line.split()[0] for line in _read(root / "proc/modules").splitlines() if line)
    except OSError:
        pass
    sysmod = root / "sys/module"
    if sysmod.is_dir():
        mods.update(p.name for p in sysmod.iterdir())
    return mods


def _addresses() -> list[str]:
    # psutil (getifaddrs) rather than pyroute2: importing pyroute2 costs 170-250 ms here,
    # more than `check`'s whole budget; pyroute2 is used where namespaces are built.
    import psutil
    import socket

    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET and not a.address.startswith("127.")})


def read_facts(root: Path = Path("/"), addresses: bool = True) -> HostFacts:
    """Snapshot the host under `root`. Live-only facts (rlimits, addresses) when root is /.
    addresses=False skips the interface scan (and psutil's import) when no client needs it."""
    root = Path(root)
    live = root.resolve() == Path("/")
    if not live and not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    facts = HostFacts(source="live" if live else f"root {root}")
    _read_sysctls(root, facts)
    facts.kernel = facts.sysctls.get("kernel.osrelease")
    mem = meminfo(root)
    facts.mem_total, facts.mem_available = mem.get("MemTotal"), mem.get("MemAvailable")
    facts.modules = _modules(root)
    facts.cap_sys_resource = _cap_sys_resource(root)
    facts.proc_sys_writable = _proc_sys_writable(root)
    # Global keys such as tcp_mem are hidden inside a non-initial network namespace
    # (measured on 6.18), so their absence next to a present net/ipv4 marks a child netns.
    if (root / "proc/sys/net/ipv4").is_dir():
        facts.child_netns = "net.ipv4.tcp_mem" not in facts.sysctls
    facts.counters.update(tcpext(root))
    try:
        facts.counters["files_allocated"] = int(_read(root / "proc/sys/fs/file-nr").split()[0])
    except (OSError, ValueError, IndexError):
        pass
    if "net.netfilter.nf_conntrack_count" in facts.sysctls:
        facts.counters["conntrack_count"] = facts.int_value("net.netfilter.nf_conntrack_count")
    if live:
        facts.page_size = os.sysconf("SC_PAGE_SIZE")
        facts.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        facts.nofile_of = f"this process (pid {os.getpid()})"
        facts.addresses = _addresses() if addresses else None
    else:
        facts.notes.append("rlimits and addresses are not read from a root directory")
    return facts


def read_snapshot(path: Path) -> HostFacts:
    """Facts from a saved `sysctl -a` (lines 'key = value'); nothing else is known."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise UsageError(f"--snapshot {path}: cannot read: {err.strerror}") from err
    facts = HostFacts(source=f"snapshot {path}", modules=None)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UsageError(f"--snapshot {path}: line {number} is not 'key = value': {line[:60]!r}")
        facts.sysctls[key.strip()] = " ".join(value.split())
    if not facts.sysctls:
        raise UsageError(f"--snapshot {path}: no 'key = value' lines")
    facts.kernel = facts.sysctls.get("kernel.osrelease")
    if "net.ipv4.ip_local_port_range" in facts.sysctls:
        facts.child_netns = "net.ipv4.tcp_mem" not in facts.sysctls
    facts.notes.append("a sysctl snapshot holds no rlimits, memory or addresses")
    return facts


# --- whose open-files limit ------------------------------------------------------------


def nofile_of_pid(pid: int) -> tuple[tuple[int, int], str]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.rlimit(psutil.RLIMIT_NOFILE), f"pid {pid} ({proc.name()})"
    except psutil.NoSuchProcess as err:
        raise UsageError(f"--pid {pid}: no such process") from err
    except psutil.AccessDenied as err:
        raise NotPermitted(f"--pid {pid}: not permitted to read its limits",
                           "run as root or as the process's owner") from err


def nofile_of_process(name: str) -> tuple[tuple[int, int], str]:
    import psutil

    matches = [p for p in psutil.process_iter(["name", "pid"]) if p.info["name"] == name]
    if not matches:
        raise UsageError(f"--process {name!r}: no running process has that name")
    first = min(matches, key=lambda p: p.info["pid"])
    limits, who = nofile_of_pid(first.info["pid"])
    more = f", first of {len(matches)}" if len(matches) > 1 else ""
    return limits, f"{who}{more}"


def _parse_limit(value: str) -> int:
    return resource.RLIM_INFINITY if value == "infinity" else int(value)


def nofile_of_unit(unit: str, root: Path = Path("/")) -> tuple[tuple[int, int], str]:
    """LimitNOFILE of a systemd unit, from systemd itself."""
    if not (root / "run/systemd/system").is_dir() or not shutil.which("systemctl"):
        raise NotPermitted(f"--unit {unit}: not available here: systemd is not running",
                           "use --pid or --process to audit a running service")
    try:
        out = subprocess.run(["systemctl", "show", "-p", "LimitNOFILESoft", "-p", "LimitNOFILE",
                              "--", unit], capture_output=True, text=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError) as err:
        raise NotPermitted(f"--unit {unit}: systemctl failed: {err}") from err
    props = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    try:
        return ((_parse_limit(props["LimitNOFILESoft"]), _parse_limit(props["LimitNOFILE"])),
                f"unit {unit}")
    except (KeyError, ValueError) as err:
        raise UsageError(f"--unit {unit}: systemd reported no LimitNOFILE") from err
