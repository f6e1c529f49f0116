"""What `status` reads from the running host besides files: listeners and the ports in
use (inet_diag, sockets.py), every process's descriptors and the owners of the listeners
(processes.py), and the kernel log (counters.py). It fills a model Snapshot and decides
nothing; a reader that fails leaves its part empty (None) and says why in the notes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tunekit.host import processes, sockets
from tunekit.host.counters import read_kernel_log
from tunekit.knowledge import catalogue as K
from tunekit.model.status import ListenSocket, ProcessFiles, Snapshot

T = TypeVar("T")


class Timer:
    """What each reader cost, in milliseconds (the document's read_ms)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def run(self, name: str, func: Callable[..., T], *args) -> T:
        start = time.perf_counter()
        try:
            return func(*args)
        finally:
            self.ms[name] = round((time.perf_counter() - start) * 1000, 2)


def _listeners(snap: Snapshot, timer: Timer, counts: dict[int, int]) -> set[int]:
    """Listeners with their owners; returns their ports."""
    found = timer.run("listeners", sockets.listeners)
    owners = timer.run("owners", processes.socket_owners, {s.inode for s in found}, counts)
    names: dict[int, str] = {}

    def named(pid: int) -> tuple[int, str]:
        if pid not in names:
            names[pid] = processes.comm(pid)
        return pid, names[pid]

    snap.listeners = [
        ListenSocket(
            s.address,
            s.port,
            s.queue,
            s.backlog,
            tuple(named(pid) for pid in owners.by_inode.get(s.inode, [])),
        )
        for s in found
    ]
    if not owners.complete:
        snap.notes.append(
            f"listener owners: processes holding more than {processes.FULL_LISTING:,} "
            f"descriptors were searched in their lowest {processes.LOW_FDS:,} only "
            f"({owners.readlinks:,} links read)"
        )
    return {s.port for s in found}


def _processes(snap: Snapshot, timer: Timer) -> dict[int, int]:
    found = timer.run("processes", processes.open_files)
    snap.processes = [
        ProcessFiles(p.pid, "", p.count, p.soft, p.hard) for p in found if p.soft is not None
    ]
    if not processes.fd_count_from_stat():
        snap.notes.append(
            "this kernel does not count descriptors in stat(/proc/PID/fd) (6.2+): each "
            "process's /proc/PID/fd was listed instead"
        )
    return {p.pid: p.count for p in found}


def _name_top(snap: Snapshot, top: int) -> None:
    """Only the processes that can be shown are named (one /proc/PID/comm each)."""
    ranked = sorted(snap.processes or [], key=lambda p: -p.count / p.soft if p.soft else 0)
    named = {p.pid: processes.comm(p.pid) for p in ranked[:top]}
    snap.processes = [
        ProcessFiles(p.pid, named.get(p.pid, p.name), p.count, p.soft, p.hard)
        for p in snap.processes or []
    ]


def _ports(snap: Snapshot, timer: Timer, listening: set[int]) -> None:
    rng = snap.facts.ints(K.PORT_RANGE.name)
    if not rng or len(rng) != 2:
        snap.notes.append("ephemeral ports: the port range could not be read")
        return
    found = timer.run("ports", sockets.ports, rng[0], rng[1], listening)
    snap.ports = dict(found.by_destination)


def _states(snap: Snapshot, timer: Timer) -> None:
    found = timer.run("states", sockets.states)
    snap.states = dict(found.counts)
    snap.syn_recv_by_port = dict(found.syn_recv_by_port)


def read_live(
    snap: Snapshot, top: int, kernel_log_since: int | None, timer: Timer, parallel: bool = True
) -> int | None:
    """Fill the live parts of `snap`. `kernel_log_since`: read the kernel log's records
    after this sequence number (None: do not read it). Returns the last one read."""
    counts: dict[int, int] = {}
    try:
        counts = _processes(snap, timer)
        _name_top(snap, top)
    except OSError as err:
        snap.notes.append(f"processes: not read ({err.strerror or err})")
    listening: set[int] = set()
    try:
        listening = _listeners(snap, timer, counts)
    except OSError as err:
        snap.notes.append(f"listeners (inet_diag): not read ({err.strerror or err})")
    # Two dumps, two walks of every socket in the kernel. With `parallel`, the rare
    # states run in a thread while this one takes the ports: the kernel's walk happens
    # inside sendto()/recv(), which release the GIL, so on an idle CPU the two walks
    # overlap instead of adding up (bench/status.py measures both ways).
    with ThreadPoolExecutor(1) as pool:
        states = pool.submit(_states, snap, timer) if parallel else None
        parts: list[tuple[str, Callable[[], object]]] = [
            ("ports", lambda: _ports(snap, timer, listening)),
            ("states", states.result if states else lambda: _states(snap, timer)),
        ]
        for name, part in parts:
            try:
                part()
            except OSError as err:
                snap.notes.append(f"{name} (inet_diag): not read ({err.strerror or err})")
    if kernel_log_since is None:
        return None
    texts = [text for _, text, _ in K.messages()]
    log = timer.run("kernel_log", read_kernel_log, texts, kernel_log_since)
    if log.unread:
        snap.notes.append(f"kernel log: not read ({log.unread})")
    else:
        snap.log = log.counts
    return log.last_seq
