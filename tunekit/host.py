"""Host I/O: read HostFacts from a root directory (default /) or a saved `sysctl -a`.

Everything is read relative to `root`, so tests and offline audits point it at a tree.
Reading decides nothing; the engine compares.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import stat
import subprocess
from pathlib import Path

from tunekit import registry
from tunekit.errors import NotPermitted, UsageError
from tunekit.facts import HostFacts

CAP_SYS_RESOURCE = 24  # include/uapi/linux/capability.h
READ_LIMIT = 1 << 20  # no file tunekit reads is larger; a bigger one is not what it seems
TCP_LISTEN = "0A"  # include/net/tcp_states.h TCP_LISTEN, as /proc/net/tcp prints st


def read_text(path: Path, limit: int = READ_LIMIT, strict: bool = False) -> str:
    """A regular file's text. Opened non-blocking and checked with fstat, so a FIFO or a
    device planted where a file should be is an error (EINVAL), never a hang. Bytes that
    are not UTF-8 are replaced, or raise UnicodeDecodeError when `strict`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data.decode("utf-8", errors="strict" if strict else "replace")


def _read(root: Path, rel: str, limit: int = READ_LIMIT) -> str:
    """A file under `root`, resolved as a chroot would (rootfs): an image's absolute link
    such as proc/sys -> /proc/sys does not make tunekit read the live host instead."""
    if Path(root) == Path("/"):
        return read_text(Path("/", rel), limit)
    from tunekit.rootfs import Root

    with Root(root) as r:
        return r.read(rel, limit)


def _is_dir(root: Path, rel: str) -> bool:
    if Path(root) == Path("/"):
        return Path("/", rel).is_dir()
    from tunekit.rootfs import Root

    try:
        with Root(root) as r:
            os.close(r.open(rel, os.O_RDONLY | os.O_DIRECTORY))
        return True
    except (OSError, NotPermitted):
        return False


def read_sysctl(root: Path, key: registry.Key) -> str:
    """Raw value of one key, whitespace-normalised; raises OSError as the kernel does."""
    return " ".join(_read(root, key.proc_path).split())


def _read_sysctls(root: Path, facts: HostFacts, extra: list[registry.Key]) -> None:
    for key in [k for k in registry.KEYS.values() if k.kind != "rlimit"] + extra:
        try:
            facts.sysctls[key.name] = read_sysctl(root, key)
        except (FileNotFoundError, NotADirectoryError):
            pass  # absent on this kernel, module not loaded, or global key in a child netns
        except OSError as err:
            facts.unreadable[key.name] = err.strerror or str(err)


def listening_ports(root: Path) -> list[int] | None:
    """TCP ports in LISTEN on this host (IPv4 and IPv6), from /proc/net/tcp{,6}."""
    ports: set[int] = set()
    seen = False
    for name in ("proc/net/tcp", "proc/net/tcp6"):
        try:
            lines = _read(root, name, limit=64 << 20).splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            f = line.split()
            if len(f) > 3 and f[3] == TCP_LISTEN and ":" in f[1]:
                try:
                    ports.add(int(f[1].rsplit(":", 1)[1], 16))
                except ValueError:
                    continue
    return sorted(ports) if seen else None


def meminfo(root: Path = Path("/")) -> dict[str, int]:
    """/proc/meminfo in bytes; lines that are not 'Name: N [kB]' are skipped."""
    out: dict[str, int] = {}
    try:
        lines = _read(root, "proc/meminfo").splitlines()
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit() and len(parts[0]) < 20:
            out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


SYMPTOM_COUNTERS = (
    "ListenOverflows",
    "ListenDrops",
    "TCPMemoryPressures",
    "TCPTimeWaitOverflow",
    "TCPReqQFullDrop",
)


def tcpext(root: Path = Path("/"), names=SYMPTOM_COUNTERS) -> dict[str, int]:
    """TcpExt counters from /proc/net/netstat (header line, then values line); they are
    per network namespace."""
    out: dict[str, int] = {}
    try:
        lines = _read(root, "proc/net/netstat").splitlines()
    except OSError:
        return out
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            for k, v in zip(head.split()[1:], vals.split()[1:], strict=False):
                if k in names and v.isdigit():
                    out[k] = int(v)
    return out


def _cap_sys_resource(root: Path) -> bool | None:
    try:
        for line in _read(root, "proc/self/status").splitlines():
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
        mods.update(line.split()[0] for line in _read(root, "proc/modules").splitlines() if line)
    except OSError:
        pass
    if _is_dir(root, "sys/module"):
        mods.update(
            p.name
            for p in (root / "sys/module").iterdir()
            if Path(root) == Path("/") or not p.is_symlink()
        )
    return mods


def _addresses() -> list[str]:
    # psutil (getifaddrs) rather than pyroute2: importing pyroute2 costs 170-250 ms here,
    # more than `check`'s whole budget; pyroute2 is used where namespaces are built.
    import socket

    import psutil

    return sorted(
        {
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        }
    )


def check_root(root: Path) -> None:
    """A --root must look like a root filesystem: an empty or mistyped directory would
    otherwise read as a host with no settings at all (and pass)."""
    if str(root) in ("", "."):
        raise UsageError("--root is empty or '.': give the directory of a root filesystem")
    if Path(root).resolve() == Path("/"):
        return
    if not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a directory")
    if not (_is_dir(root, "proc") or _is_dir(root, "etc")):
        raise UsageError(
            f"--root {root}: has neither proc nor etc: not a root filesystem",
            "point it at the top of an image or chroot",
        )


def read_facts(
    root: Path = Path("/"),
    addresses: bool = True,
    extra: list[registry.Key] | None = None,
    listening: bool = False,
) -> HostFacts:
    """Snapshot the host under `root`. Live-only facts (rlimits, addresses) when root is /.
    addresses=False skips the interface scan (and psutil's import) when no client needs it.
    `extra`: keys a profile names besides the registry's own."""
    root = Path(root)
    check_root(root)
    live = root.resolve() == Path("/")
    facts = HostFacts(source="live" if live else f"root {root}")
    _read_sysctls(root, facts, [k for k in extra or [] if k.name not in registry.KEYS])
    facts.kernel = facts.sysctls.get(registry.OSRELEASE.name)
    # only a client's wide port range needs them; /proc/net/tcp lists every socket, and on
    # a server holding a million connections it is a hundred megabytes
    facts.listening = listening_ports(root) if listening else None
    mem = meminfo(root)
    facts.mem_total, facts.mem_available = mem.get("MemTotal"), mem.get("MemAvailable")
    facts.modules = _modules(root)
    facts.cap_sys_resource = _cap_sys_resource(root)
    facts.proc_sys_writable = _proc_sys_writable(root)
    # Global keys such as tcp_mem are hidden inside a non-initial network namespace
    # (measured on 6.18), so their absence next to a present net/ipv4 marks a child netns.
    if _is_dir(root, "proc/sys/net/ipv4"):
        facts.child_netns = registry.TCP_MEM.name not in facts.sysctls
    facts.counters.update(tcpext(root))
    try:
        facts.counters["files_allocated"] = int(_read(root, "proc/sys/fs/file-nr").split()[0])
    except (OSError, ValueError, IndexError):
        pass
    count = facts.int_value(registry.CONNTRACK_COUNT.name)
    if count is not None:
        facts.counters["conntrack_count"] = count
    if live:
        facts.page_size = os.sysconf("SC_PAGE_SIZE")
        facts.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        facts.nofile_of = f"this process (pid {os.getpid()})"
        facts.addresses = _addresses() if addresses else None
    else:
        facts.notes.append("rlimits and addresses are not read from a root directory")
    return facts


def read_snapshot(path: Path, mem_total: int | None = None) -> HostFacts:
    """Facts from a saved `sysctl -a` (lines 'key = value'); nothing else is known but the
    memory size, when the caller gives it (--mem-total)."""
    try:
        text = read_text(Path(path), limit=64 << 20)
    except OSError as err:
        raise UsageError(f"--snapshot {path}: cannot read: {err.strerror}") from err
    facts = HostFacts(source=f"snapshot {path}", modules=None, mem_total=mem_total)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UsageError(
                f"--snapshot {path}: line {number} is not 'key = value': {line[:60]!r}"
            )
        try:
            name = registry.lookup(key.strip()).name
        except registry.KeyError_:
            raise UsageError(
                f"--snapshot {path}: line {number}: {key.strip()[:60]!r} is not a sysctl name"
            ) from None
        facts.sysctls[name] = " ".join(value.split())
    if not facts.sysctls:
        raise UsageError(f"--snapshot {path}: no 'key = value' lines")
    facts.kernel = facts.sysctls.get(registry.OSRELEASE.name)
    if registry.PORT_RANGE.name in facts.sysctls:
        facts.child_netns = registry.TCP_MEM.name not in facts.sysctls
    facts.notes.append(
        "a sysctl snapshot holds no rlimits, addresses or listening ports"
        + ("" if mem_total else ", nor the memory size (--mem-total gives it)")
    )
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
        raise NotPermitted(
            f"--pid {pid}: not permitted to read its limits",
            "run as root or as the process's owner",
        ) from err


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
        raise NotPermitted(
            f"--unit {unit}: not available here: systemd is not running",
            "use --pid or --process to audit a running service",
        )
    try:
        out = subprocess.run(
            ["systemctl", "show", "-p", "LimitNOFILESoft", "-p", "LimitNOFILE", "--", unit],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as err:
        raise NotPermitted(f"--unit {unit}: systemctl failed: {err}") from err
    props = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    try:
        return (
            (_parse_limit(props["LimitNOFILESoft"]), _parse_limit(props["LimitNOFILE"])),
            f"unit {unit}",
        )
    except (KeyError, ValueError) as err:
        raise UsageError(f"--unit {unit}: systemd reported no LimitNOFILE") from err
