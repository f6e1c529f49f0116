"""The probe's load generator: real connections in a private network namespace.

The calling process unshares a network namespace of its own (anonymous: it vanishes
with the last process in it, so nothing can be left behind by name), copies in the
per-namespace sysctls of the namespace it started from, brings loopback up, listens on
the layout's destination ports and forks worker processes:

- connectors open their share of the connections in batches of non-blocking connect()s,
  each from a source address bound with IP_BIND_ADDRESS_NO_PORT so that the port is
  chosen at connect() per destination, as a load generator should;
- acceptors each accept from one listener, in a blocking accept() as a plain server does,
  until they hold their budget of sockets.

Each worker talks to the coordinator over one SOCK_SEQPACKET socket pair: JSON messages
up ("ready", progress at most every TICK, an error, "done"), "go" and "stop" down, and
end-of-file means "close everything and exit". Progress carries the CLOCK_MONOTONIC time
of the worker's latest connection ("at"), so the rate does not depend on how late the
coordinator hears of it. Workers also die with the coordinator (PR_SET_PDEATHSIG)
and ignore Ctrl-C, which the coordinator handles by tearing everything down.

Nothing here decides what a failure means: probe.py does.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import gc
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tunekit import host, probe, registry
from tunekit.errors import NotPermitted

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h, Linux 4.2+
NETNS_SYSCTL_DIRS = ("core", "ipv4", "ipv6", "netfilter", "unix")
COUNTERS = tuple(name for name in probe.COUNTER_LIMITS if name != "conntrack_drop")
CONNTRACK_RULESET = """\
table inet tunekit_probe {
    chain output { type filter hook output priority 0; ct state new counter; }
}
"""
SETTLE_SECONDS = 0.5
CONNECT_BATCH = 64  # connect()s a connector has in flight at most
# Connectors and acceptors run at the same priority, as in bench/connect_ref.c. With the
# connectors at nice 5, every acceptor woken by a connect() preempted the connector on the
# other core: connect() cost 19 us instead of C's 15 (perf: the time went to waking the
# acceptor, in sock_def_readable) and 50k connections ran at 55,000/s instead of 66-77,000.
# Slab caches that grow with the connections but are not their cost: a process that scans
# /proc/PID/fd (lsof, ss -p, monitoring agents; on the development VMs, PID 1) makes one
# proc inode per descriptor it looks at. Subtracted from the slab delta, and reported.
NOT_CONNECTION_CACHES = ("proc_inode_cache",)
TICK = 0.2


# --- the namespace ---------------------------------------------------------------------


def _errno_name(err: OSError) -> str:
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
            failed[key] = _errno_name(err)
    return copied, failed


def fit_buffers(send: int) -> dict[str, str]:
    """Inside the private namespace only: default socket buffers large enough that `send`
    bytes leave in one send() and sit unread in the receiver's queue (a socket that is not
    read keeps its default receive buffer). tcp_rmem/tcp_wmem are per namespace (4.15+)."""
    out = {}
    for key, need in ((registry.TCP_RMEM, 4 * send + 65536), (registry.TCP_WMEM, 2 * send + 65536)):
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
    out = host.tcpext(Path("/"), COUNTERS)
    rows = _read("/proc/net/stat/nf_conntrack").splitlines()
    if rows:
        col = rows[0].split().index("drop")
        out["conntrack_drop"] = sum(int(r.split()[col], 16) for r in rows[1:])
    return out


@dataclass
class Reading:
    slab: int  # /proc/meminfo Slab, bytes
    caches: dict[str, int]  # slab cache -> bytes of active objects
    tcp_inuse: int
    tcp_mem_pages: int
    conntrack_count: int


def read_memory() -> Reading:
    caches = {}
    for line in _read("/proc/slabinfo").splitlines()[2:]:
        f = line.split()
        caches[f[0]] = int(f[1]) * int(f[3])  # active objects x object size
    tcp = {}
    for line in _read("/proc/net/sockstat").splitlines():
        if line.startswith("TCP:"):
            f = line.split()[1:]
            tcp = dict(zip(f[::2], (int(v) for v in f[1::2]), strict=False))
    count = _read("/proc/sys/net/netfilter/nf_conntrack_count").strip()
    return Reading(
        slab=host.meminfo().get("Slab", 0),
        caches=caches,
        tcp_inuse=tcp.get("inuse", 0),
        tcp_mem_pages=tcp.get("mem", 0),
        conntrack_count=int(count) if count.isdigit() else 0,
    )


def memory_delta(before: Reading, after: Reading, sockets: int) -> probe.Memory:
    grown = {name: size - before.caches.get(name, 0) for name, size in after.caches.items()}
    top = dict(
        sorted(
            ((k, v) for k, v in grown.items() if v > 0 and k not in NOT_CONNECTION_CACHES),
            key=lambda kv: -kv[1],
        )[:8]
    )
    excluded = {k: grown[k] for k in NOT_CONNECTION_CACHES if grown.get(k, 0) > 0}
    return probe.Memory(
        sockets=sockets,
        slab_bytes=after.slab - before.slab - sum(excluded.values()),
        excluded=excluded,
        conntrack_bytes=max(0, grown.get("nf_conntrack", 0)),
        conntrack_entries=max(0, after.conntrack_count - before.conntrack_count),
        tcp_mem_pages=after.tcp_mem_pages - before.tcp_mem_pages,
        caches=top,
    )


# --- workers -----------------------------------------------------------------------------


@dataclass
class Spec:
    role: str  # "connect" or "accept"
    count: int  # connections to open, or most sockets to accept
    nofile: int
    pairs: list[tuple[str, tuple[str, int]]] = field(default_factory=list)
    offset: int = 0  # where in the (source, destination) cycle this worker starts
    rate: float = 0.0  # connections/s for this worker, 0: as fast as it can
    timeout: float = 5.0  # for one batch of connect()s to complete
    accept_pause: float = 0.0
    listener: int = 0  # the destination an acceptor accepts from
    send: int = 0  # bytes a connector writes on each connection (never read by the acceptor)


@dataclass
class Worker:
    pid: int
    chan: socket.socket
    spec: Spec
    count: int = 0
    at: float = 0.0  # time.monotonic() of its latest connection, as the worker saw it
    state: str = "starting"  # ready, running, done, failed, dead


def _send(chan: socket.socket, **msg) -> None:
    chan.send(json.dumps(msg).encode())


def _await_go(chan: socket.socket) -> None:
    if chan.recv(64) != b"go":
        os._exit(0)


def _heard(chan: socket.socket) -> bytes:
    """What the coordinator sent on the non-blocking `chan` (b"" if nothing); exits on
    end of file: the coordinator has gone or is tearing down."""
    try:
        msg = chan.recv(64)
    except BlockingIOError:
        return b""
    if not msg:
        os._exit(0)
    return msg


def _complete(batch: list[socket.socket], timeout: float) -> str | None:
    """Wait until every connect() in `batch` has completed; the first error's name, or
    "timeout" if some are still in flight after `timeout` seconds."""
    poller, by_fd = select.poll(), {}
    for s in batch:
        poller.register(s, select.POLLOUT)
        by_fd[s.fileno()] = s
    deadline = time.monotonic() + timeout
    while by_fd:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        for fd, events in poller.poll(left * 1000):
            s = by_fd.pop(fd)
            poller.unregister(fd)
            if events & (select.POLLERR | select.POLLHUP):
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return errno_mod.errorcode.get(err, str(err))
    return None


def _send_all(batch: list[socket.socket], payload: bytes, timeout: float) -> str | None:
    """Write `payload` on every socket of `batch` (non-blocking); the first error's name, or
    "timeout" if some bytes are still unsent after `timeout` seconds. The acceptors never
    read, so the bytes stay in their receive queues, charged to tcp_mem."""
    poller, left = select.poll(), {}
    for s in batch:
        try:
            sent = s.send(payload)
        except BlockingIOError:
            sent = 0
        except OSError as err:
            return _errno_name(err)
        if sent < len(payload):
            left[s.fileno()] = (s, sent)
            poller.register(s, select.POLLOUT)
    deadline = time.monotonic() + timeout
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0:
            return "timeout"
        for fd, _ in poller.poll(wait * 1000):
            s, done = left[fd]
            try:
                done += s.send(payload[done:])
            except BlockingIOError:
                continue
            except OSError as err:
                return _errno_name(err)
            if done >= len(payload):
                del left[fd]
                poller.unregister(fd)
            else:
                left[fd] = (s, done)
    return None


def _connect_loop(chan: socket.socket, spec: Spec) -> None:
    """Open the connections in batches of CONNECT_BATCH non-blocking connect()s, then wait
    for the batch: one poll() per batch instead of one per connection (settimeout() cost
    ~40 % more CPU per connection here), and a connector never runs more than a batch
    ahead of the SYN-ACKs, so a slow accepting side slows it down instead of overflowing."""
    _await_go(chan)
    chan.setblocking(False)
    held: list[socket.socket] = []
    batch: list[socket.socket] = []
    pairs, npairs, offset = spec.pairs, len(spec.pairs), spec.offset
    rate, count = spec.rate, spec.count
    payload = b"x" * spec.send
    start = last = at = time.monotonic()
    for i in range(count):
        src, dst = pairs[(offset + i) % npairs]
        s = None
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
            err = s.connect_ex(dst)  # the port is picked and the SYN sent here
            if err not in (0, errno_mod.EINPROGRESS):
                raise OSError(err, os.strerror(err))
        except OSError as err:
            if s is not None:
                s.close()
            if batch and not _complete(batch, spec.timeout):
                held += batch  # those issued before the error count
                at = time.monotonic()
            _send(
                chan,
                error=_errno_name(err),
                op="connect",
                n=len(held),
                limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
            break
        batch.append(s)
        if len(batch) >= CONNECT_BATCH or i == count - 1:
            failed = _complete(batch, spec.timeout)
            if not failed and payload:
                failed = _send_all(batch, payload, spec.timeout)
                op = "send"
            else:
                op = "connect"
            if failed:
                _send(chan, error=failed, op=op, n=len(held))
                break
            held += batch
            batch = []
            at = time.monotonic()
        if rate:
            ahead = start + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if i & 63 == 0:
            now = time.monotonic()
            if now - last >= TICK:
                last = now
                _send(chan, n=len(held), at=at)
                if _heard(chan) == b"stop":
                    break
    _send(chan, done=len(held), at=at)
    chan.setblocking(True)
    while chan.recv(64):  # hold until the coordinator closes the channel
        pass
    # exit with the sockets open: the kernel closes them. Returning would free 20,000
    # socket objects first, each formatting an "unclosed socket" ResourceWarning (two
    # syscalls for its repr) that nobody sees.
    os._exit(0)


def _accept_loop(chan: socket.socket, spec: Spec, listener: socket.socket) -> None:
    """Accept as bench/connect_ref.c does: a blocking accept() on one listener. The kernel
    wakes exactly one of the acceptors waiting there per connection; with all of them on an
    epoll of every listener (EPOLLEXCLUSIVE), each connection also woke busy ones into an
    accept() that failed with EAGAIN, and at 1M the acceptors used twice the C program's
    CPU time. The listener's SO_RCVTIMEO (TICK, set by the coordinator) makes an idle
    accept() return, to report progress and to hear the coordinator."""
    _await_go(chan)
    chan.setblocking(False)
    if spec.accept_pause:  # a server that stalls: the accept queue must absorb it
        poller = select.poll()
        poller.register(chan, select.POLLIN)
        if poller.poll(spec.accept_pause * 1000):
            _heard(chan)
    accept = listener._accept  # type: ignore[attr-defined]  # (fd, addr): 7 us -> 4 us each
    held: list[tuple[int, tuple]] = []  # the process's exit closes the descriptors
    reported = 0
    at = last = time.monotonic()
    while len(held) < spec.count:
        try:
            held.append(accept())
            at = time.monotonic()
            if len(held) % 64:
                continue
        except BlockingIOError:  # nothing for TICK
            pass
        except OSError as err:
            _send(
                chan,
                error=_errno_name(err),
                op="accept",
                n=len(held),
                limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
            break
        now = time.monotonic()
        if len(held) != reported and now - last >= TICK:
            reported, last = len(held), now
            _send(chan, n=reported, at=at)
        _heard(chan)
    _send(chan, done=len(held), at=at)
    chan.setblocking(True)
    while chan.recv(64):
        pass


def _worker_main(
    chan: socket.socket, spec: Spec, listener: socket.socket | None, parent: int
) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the coordinator died before prctl took effect
        os._exit(1)
    gc.disable()  # a worker makes no cycles; collections would walk 20,000 sockets over and over
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep = {chan.fileno(), *([listener.fileno()] if listener else []), 0, 1, 2}
    for name in os.listdir("/proc/self/fd"):  # other workers' channels must not stay open
        if int(name) not in keep:
            try:
                os.close(int(name))
            except OSError:
                pass
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (spec.nofile, hard))
    _send(chan, ready=True)
    if spec.role == "connect":
        _connect_loop(chan, spec)
    elif listener is not None:
        _accept_loop(chan, spec, listener)


def spawn(spec: Spec, listeners: list[socket.socket]) -> Worker:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            ours.close()
            listener = listeners[spec.listener] if spec.role == "accept" else None
            _worker_main(theirs, spec, listener, parent)
        except BaseException:  # noqa: BLE001 - a worker must never return into the CLI
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    return Worker(pid, ours, spec)


# --- the coordinator ------------------------------------------------------------------------


@dataclass
class Outcome:
    connected: int = 0  # client ends established
    accepted: int = 0  # server ends accepted
    held: int = 0  # connections still established at the end of the hold
    connect_seconds: float = 0.0
    hold_seconds: float = 0.0
    failure: probe.Failure | None = None
    events: list[probe.Failure] = field(default_factory=list)
    memory: probe.Memory | None = None
    copied_sysctls: list[str] = field(default_factory=list)
    not_copied: dict[str, str] = field(default_factory=dict)
    buffers: dict[str, str] = field(default_factory=dict)  # tcp_rmem/wmem set for --send

    @property
    def established(self) -> int:
        return min(self.connected, self.accepted)

    @property
    def rate(self) -> float:
        return self.established / self.connect_seconds if self.connect_seconds else 0.0


class Coordinator:
    def __init__(
        self,
        layout: probe.Layout,
        rate: float,
        timeout: float,
        hold: float,
        accept_pause: float,
        progress=None,
        send: int = 0,
    ):
        self.layout, self.rate, self.timeout, self.hold = layout, rate, timeout, hold
        self.accept_pause = accept_pause
        self.send = send
        self.progress = progress or (lambda outcome, phase, elapsed: None)
        self.workers: list[Worker] = []
        self.out = Outcome()
        self.start = 0.0
        self.stopped = False

    # workers
    def _specs(self) -> list[Spec]:
        lay = self.layout
        pairs = [(s, d) for s in lay.sources for d in lay.destinations]
        specs, offset = [], 0
        per_rate = self.rate / len(lay.connectors) if self.rate else 0.0
        for count in lay.connectors:
            specs.append(
                Spec(
                    "connect",
                    count,
                    lay.nofile,
                    pairs,
                    offset,
                    per_rate,
                    self.timeout,
                    send=self.send,
                )
            )
            offset += count
        specs += [
            Spec(
                "accept",
                lay.per_worker,
                lay.nofile,
                accept_pause=self.accept_pause,
                listener=i % len(lay.destinations),
            )
            for i in range(lay.acceptors)
        ]
        return specs

    def _on_message(self, w: Worker, raw: bytes) -> None:
        if not raw:  # end of file: the worker is gone, and what it held with it
            if w.state != "dead":
                w.state = "dead"
                self._fail(
                    probe.Failure(
                        "worker_died",
                        None,
                        f"{w.spec.role} worker {w.pid} died: {self._reap(w)}",
                        self.out.established,
                        self._elapsed(),
                    )
                )
            return
        msg = json.loads(raw)
        if "ready" in msg:
            w.state = "ready"
        w.count = msg.get("done", msg.get("n", w.count))
        w.at = msg.get("at", w.at)
        self.out.connected = sum(x.count for x in self.workers if x.spec.role == "connect")
        self.out.accepted = sum(x.count for x in self.workers if x.spec.role == "accept")
        if "error" in msg:
            w.state = "failed"
            self._connect_failed(w, msg)
        if "done" in msg and w.state != "failed":
            w.state = "done"

    def _connect_failed(self, w: Worker, msg: dict) -> None:
        at = self.out.connected if w.spec.role == "connect" else self.out.accepted
        if msg["error"] == "timeout":
            failure = probe.explain_timeout(self.out.events, at, self._elapsed(), self.timeout)
        else:
            failure = probe.from_errno(
                msg["error"], msg["op"], at, self._elapsed(), msg.get("limit")
            )
        self._fail(failure)

    def _fail(self, failure: probe.Failure, stop: bool = True) -> None:
        """Record a failure. A hard one (an error, a dead worker) stops the connectors,
        which keep what they hold; a symptom (a counter grew) does not: the kernel retries."""
        self.out.events.append(failure)
        if self.out.failure is None:
            self.out.failure = failure
        if stop and not self.stopped:
            self.stopped = True
            for w in self.workers:
                if w.spec.role == "connect" and w.state == "running":
                    try:
                        w.chan.send(b"stop")
                    except OSError:
                        pass

    def _reap(self, w: Worker) -> str:
        try:
            pid, status = os.waitpid(w.pid, 0)
        except ChildProcessError:
            return "already reaped"
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            hint = " (the OOM killer? see dmesg)" if sig == "SIGKILL" else ""
            return f"killed by {sig}{hint}"
        return f"exit status {os.WEXITSTATUS(status)}"

    def _pump(self, timeout: float) -> None:
        """Handle what the workers send within `timeout` seconds. poll(), not select():
        a probe of many destinations has more channels than select()'s 1,024 descriptors."""
        live = {w.chan.fileno(): w for w in self.workers if w.state != "dead"}
        if not live:
            time.sleep(timeout)
            return
        poller = select.poll()
        for fd in live:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(timeout * 1000):
            w = live[fd]
            try:
                raw = w.chan.recv(4096)
            except ConnectionResetError:
                raw = b""
            self._on_message(w, raw)

    def _elapsed(self) -> float:
        return time.monotonic() - self.start if self.start else 0.0

    def _watch_counters(self, base: dict[str, int], seen: set[str]) -> None:
        now = read_counters()
        for f in probe.from_counters(base, now, self.out.established, self._elapsed()):
            if f.kind not in seen:
                seen.add(f.kind)
                self._fail(f, stop=False)
            else:
                next(e for e in self.out.events if e.kind == f.kind).count = f.count

    # the run
    def run(self, conntrack: bool) -> Outcome:
        copy = read_netns_sysctls()
        self.out.copied_sysctls, self.out.not_copied = enter_private_netns(copy)
        if self.send:
            self.out.buffers = fit_buffers(self.send)
        if conntrack:
            add_conntrack_rule()
        listeners = []
        for addr in self.layout.destinations:
            lsock = socket.socket()
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind(addr)
            lsock.listen(65535)  # the kernel caps it to net.core.somaxconn
            # an idle blocking accept() returns EAGAIN after TICK (see _accept_loop)
            lsock.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, int(TICK * 1e6))
            )
            listeners.append(lsock)
        try:
            for spec in self._specs():
                self.workers.append(spawn(spec, listeners))
            for lsock in listeners:
                lsock.close()
            self._connect_phase()
            self._hold_phase()
        finally:
            self.teardown()
        return self.out

    def _connect_phase(self) -> None:
        wait = 30 + len(self.workers) * 0.1
        deadline = time.monotonic() + wait
        while any(w.state == "starting" for w in self.workers):
            if time.monotonic() > deadline:
                raise NotPermitted(f"the probe's workers did not start within {wait:.0f} s")
            self._pump(TICK)
            if self.out.failure:
                return
        self.base_memory, base_counters = read_memory(), read_counters()
        self.start = time.monotonic()
        for w in self.workers:
            w.chan.send(b"go")
            w.state = "running"
        seen: set[str] = set()
        connectors = [w for w in self.workers if w.spec.role == "connect"]
        stalled_since, last_accepted = 0.0, -1
        next_watch = 0.0
        while True:
            self._pump(TICK)
            if time.monotonic() >= next_watch:
                self._watch_counters(base_counters, seen)
                next_watch = time.monotonic() + 0.5
                self.progress(self.out, "connecting", self._elapsed())
            if any(w.state == "dead" for w in self.workers):
                break
            if all(w.state in ("done", "failed") for w in connectors):
                accepting = any(
                    w.state == "running" for w in self.workers if w.spec.role == "accept"
                )
                if self.out.accepted >= self.out.connected or not accepting:
                    break
                if self.out.accepted != last_accepted:  # still accepting: wait for it
                    stalled_since, last_accepted = time.monotonic(), self.out.accepted
                elif time.monotonic() - stalled_since > self.timeout:
                    self._watch_counters(base_counters, seen)
                    pending = self.out.connected - self.out.accepted
                    self._fail(
                        probe.explain_timeout(
                            self.out.events,
                            self.out.accepted,
                            self._elapsed(),
                            self.timeout,
                            pending,
                        )
                    )
                    break
        # from "go" to the latest connection any worker made (0 if none was)
        self.out.connect_seconds = max(0.0, max(w.at for w in self.workers) - self.start)
        self._watch_counters(base_counters, seen)
        time.sleep(SETTLE_SECONDS)
        sockets = self.out.connected + self.out.accepted
        self.out.memory = memory_delta(self.base_memory, read_memory(), sockets)

    def _hold_phase(self) -> None:
        if any(w.state == "dead" for w in self.workers):
            return
        start = time.monotonic()
        while time.monotonic() - start < self.hold:
            self.progress(self.out, "holding", time.monotonic() - start)
            self._pump(min(0.5, max(0.0, self.hold - (time.monotonic() - start))))
            if any(w.state == "dead" for w in self.workers):
                break
        self.out.hold_seconds = time.monotonic() - start
        # both ends of an established connection are in the hash tables (TCP inuse)
        self.out.held = max(0, read_memory().tcp_inuse - self.base_memory.tcp_inuse) // 2

    def teardown(self) -> None:
        """Close every channel (workers exit on end-of-file), then kill what is left.
        Runs on success, on error and on Ctrl-C; the namespace dies with the last process."""
        for w in self.workers:
            try:
                w.chan.close()
            except OSError:
                pass
        deadline = time.monotonic() + 10
        pending = {w.pid for w in self.workers if w.state != "dead"}
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    pending.discard(pid)
            time.sleep(0.02)
        for pid in pending:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
