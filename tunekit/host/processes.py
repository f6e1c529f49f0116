"""Whose open-files limit: a live process by pid or name, or a systemd unit; and, for
`status`, every process's open descriptors against its own soft limit, and which process
holds a socket."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError


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


# --- every process: descriptors held, soft limit, sockets owned -------------------------

PROC = Path("/proc")
# Looking for a listener's owner: a process holding more descriptors than FULL_LISTING is
# not listed whole, only its lowest LOW_FDS are looked at (a listener is opened at start-up,
# before the connections); READLINK_BUDGET caps the links read in one search.
FULL_LISTING = 2048
LOW_FDS = 512
READLINK_BUDGET = 20_000


@dataclass(frozen=True)
class OpenFiles:
    pid: int
    count: int  # descriptors open now
    soft: int | None  # soft RLIMIT_NOFILE; None: unlimited or not readable
    hard: int | None = None


def fd_count_from_stat(proc: Path = PROC) -> bool:
    """Does stat(/proc/PID/fd).st_size count the descriptors here? Since 6.2 it does
    (fs/proc/fd.c proc_fd_getattr: bitmap_weight of the open-fds bitmap, no listing);
    before, it is 0. This process has stdin and its own descriptors open, so 0 here means
    the kernel does not count."""
    try:
        return os.stat(proc / "self/fd").st_size > 0
    except OSError:
        return False


def fd_count(pid: int, by_stat: bool, proc: Path = PROC) -> int | None:
    """Open descriptors of `pid`: st_size where the kernel counts (6.2+), else a listing
    of /proc/PID/fd (also where st_size is 0: a kernel thread, or nothing open). None: the
    process is gone or not readable."""
    path = proc / str(pid) / "fd"
    try:
        if by_stat:
            size = os.stat(path).st_size
            if size:
                return size
        return len(os.listdir(path))
    except OSError:
        return None


def _number(word: str) -> int | None:
    return int(word) if word.isdigit() else None  # "unlimited"


def nofile_limits(pid: int, proc: Path = PROC) -> tuple[int | None, int | None]:
    """(soft, hard) RLIMIT_NOFILE; None for unlimited or unreadable. prlimit(2) first: one
    system call (2 us here, where the kernel formats all of /proc/PID/limits for a read:
    50-300 us). It is refused (EPERM) for a process of other credentials without
    CAP_SYS_RESOURCE (kernel/sys.c check_prlimit_permission), which containers lack: then
    /proc/PID/limits ("Max open files  1024  524288  files"), which anyone may read."""
    from tunekit.host.procfs import read_text

    if proc == PROC:
        try:
            got = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            inf = resource.RLIM_INFINITY
            return (None if got[0] == inf else got[0]), (None if got[1] == inf else got[1])
        except PermissionError:
            pass  # read the file instead
        except OSError:
            return None, None  # gone
    try:
        text = read_text(proc / str(pid) / "limits")
    except OSError:
        return None, None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            words = line[len("Max open files") :].split() + ["", ""]
            return _number(words[0]), _number(words[1])
    return None, None


def pids(proc: Path = PROC) -> list[int]:
    try:
        return sorted(int(n) for n in os.listdir(proc) if n.isdigit())
    except OSError:
        return []


def open_files(proc: Path = PROC) -> list[OpenFiles]:
    """Every process's open descriptors and soft limit (threads share them: one row per
    process). Processes that exit meanwhile are left out."""
    by_stat = fd_count_from_stat(proc)
    out = []
    for pid in pids(proc):
        count = fd_count(pid, by_stat, proc)
        if count is None:
            continue
        out.append(OpenFiles(pid, count, *nofile_limits(pid, proc)))
    return out


def comm(pid: int, proc: Path = PROC) -> str:
    from tunekit.host.procfs import read_text

    try:
        return read_text(proc / str(pid) / "comm").strip() or "?"
    except OSError:
        return "?"


@dataclass
class Owners:
    by_inode: dict[int, list[int]]  # socket inode -> pids holding it
    complete: bool  # every descriptor of every process was looked at
    readlinks: int


def _netns(path: Path) -> int | None:
    try:
        return os.stat(path / "ns/net").st_ino
    except OSError:
        return None


def socket_owners(
    inodes: set[int],
    counts: dict[int, int] | None = None,
    proc: Path = PROC,
    budget: int = READLINK_BUDGET,
) -> Owners:
    """Which processes hold the sockets `inodes` (listeners' inodes from inet_diag), from
    the /proc/PID/fd links. Bounded whatever the descriptors held: processes are searched
    fewest descriptors first, and the search ends once every inode has an owner, so a
    server's master (few descriptors) is found before its workers are looked at; a process
    with more than FULL_LISTING descriptors (a million connections) has only its lowest
    LOW_FDS read; at most `budget` links are read in all; and processes in another network
    namespace are skipped (a process can hold another namespace's socket, passed to it
    or made before a setns(), but that is rare). `counts` (pid ->
    descriptors, from open_files) spares a stat per process. Several processes holding
    one inode (forked workers) are all named only when the search got to them."""
    found: dict[int, list[int]] = {}
    complete, done = True, 0
    if not inodes:
        return Owners(found, True, 0)
    if counts is None:
        by_stat = fd_count_from_stat(proc)
        counts = {pid: n for pid in pids(proc) if (n := fd_count(pid, by_stat, proc))}
    netns = _netns(proc / "self")
    for pid in sorted((p for p, n in counts.items() if n), key=lambda p: (counts[p], p)):
        if len(found) == len(inodes):
            break
        if netns is not None and _netns(proc / str(pid)) != netns:
            continue  # a socket belongs to the namespace it was made in: not this one's
        base = proc / str(pid) / "fd"
        if counts[pid] <= FULL_LISTING:
            try:
                names = os.listdir(base)
            except OSError:
                continue
        else:
            names, complete = [str(i) for i in range(LOW_FDS)], False
        for name in names:
            if done >= budget:
                return Owners(found, False, done)
            done += 1
            try:
                link = os.readlink(base / name)
            except OSError:
                continue
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in inodes:
                    found.setdefault(inode, []).append(pid)
    return Owners(found, complete or len(found) == len(inodes), done)
