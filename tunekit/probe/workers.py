"""The probe's worker processes: what runs after fork().

- connectors open their share of the connections in batches of non-blocking connect()s,
  each from a source address bound with IP_BIND_ADDRESS_NO_PORT so that the port is
  chosen at connect() per destination, as a load generator should; with --send they then
  write that many bytes on each;
- acceptors each accept from one listener, in a blocking accept() as a plain server does,
  until they hold their budget of sockets.

Each worker talks to the coordinator over one SOCK_SEQPACKET socket pair: JSON messages
up ("ready", progress at most every TICK, an error, "done"), "go" and "stop" down, and
end-of-file means "close everything and exit". Progress carries the CLOCK_MONOTONIC time
of the worker's latest connection ("at"), so the rate does not depend on how late the
coordinator hears of it. Workers die with the coordinator (PR_SET_PDEATHSIG) and ignore
Ctrl-C, which the coordinator handles by tearing everything down.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import gc
import json
import os
import resource
import select
import signal
import socket
import time
from dataclasses import dataclass, field

from tunekit.probe.netns import errno_name

PR_SET_PDEATHSIG = 1
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h, Linux 4.2+
CONNECT_BATCH = 64  # connect()s a connector has in flight at most
# Connectors and acceptors run at the same priority, as in bench/connect_ref.c. With the
# connectors at nice 5, every acceptor woken by a connect() preempted the connector on the
# other core: connect() cost 19 us instead of C's 15 (perf: the time went to waking the
# acceptor, in sock_def_readable) and 50k connections ran at 55,000/s instead of 66-77,000.
TICK = 0.2


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
    cap: int = 0  # a ramp's first plateau: connections before waiting for "upto N"; 0: none
    watch: bool = False  # probe --target: watch held connections for the server closing them


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


def _complete(batch: list[socket.socket], timeout: float) -> tuple[list[tuple[int, str]], float]:
    """Wait until every connect() in `batch` has completed: the ones that failed, as
    (position in the batch, errno name or "timeout" if still in flight after `timeout`
    seconds), [] when all are established; and when the last one that made it did."""
    poller, by_fd = select.poll(), {}
    for pos, s in enumerate(batch):
        poller.register(s, select.POLLOUT)
        by_fd[s.fileno()] = pos
    failed: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    last_ok = 0.0
    while by_fd:
        left = deadline - time.monotonic()
        if left <= 0:
            return failed + [(pos, "timeout") for pos in by_fd.values()], last_ok
        ready = poller.poll(left * 1000)
        now = time.monotonic()
        for fd, events in ready:
            pos = by_fd.pop(fd)
            poller.unregister(fd)
            if events & (select.POLLERR | select.POLLHUP):
                err = batch[pos].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                failed.append((pos, errno_mod.errorcode.get(err, str(err))))
            else:
                last_ok = now
    return failed, last_ok


def _send_all(batch: list[socket.socket], payload: bytes, timeout: float) -> list[tuple[int, str]]:
    """Write `payload` on every socket of `batch` (non-blocking): the ones that failed, as
    (position, errno name or "timeout" if bytes are still unsent after `timeout` seconds).
    The acceptors never read, so the bytes stay in their receive queues, charged to
    tcp_mem."""
    poller, left, failed = select.poll(), {}, []
    for pos, s in enumerate(batch):
        try:
            sent = s.send(payload)
        except BlockingIOError:
            sent = 0
        except OSError as err:
            failed.append((pos, errno_name(err)))
            continue
        if sent < len(payload):
            left[s.fileno()] = (pos, sent)
            poller.register(s, select.POLLOUT)
    deadline = time.monotonic() + timeout
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0:
            return failed + [(pos, "timeout") for pos, _ in left.values()]
        for fd, _ in poller.poll(wait * 1000):
            pos, done = left[fd]
            try:
                done += batch[pos].send(payload[done:])
            except BlockingIOError:
                continue
            except OSError as err:
                failed.append((pos, errno_name(err)))
                done = len(payload)
            if done >= len(payload):
                del left[fd]
                poller.unregister(fd)
            else:
                left[fd] = (pos, done)
    return failed


class _Tally:
    """Failures counted by cause: (errno name, operation, source, destination) -> count."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.first: tuple[str, str] | None = None  # (errno name, operation)

    def add(self, name: str, op: str, i: int) -> None:
        src, (ip, port) = self.spec.pairs[(self.spec.offset + i) % len(self.spec.pairs)]
        key = (name, op, src, f"{ip}:{port}")
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.first is None:
            self.first = (name, op)

    def rows(self) -> list[list]:
        return [[*key, n] for key, n in self.counts.items()]


class _Watch:
    """probe --target: the held connections, watched while holding (at each plateau of a
    ramp and in the hold) for the server closing them: a FIN (EPOLLRDHUP, recv() would
    give 0) or a reset (EPOLLERR/EPOLLHUP, the errno in SO_ERROR). Not during the climb:
    one epoll_ctl per connection there would slow the connect loop."""

    def __init__(self, spec: Spec, chan: socket.socket):
        self.epoll = select.epoll()
        self.epoll.register(chan.fileno(), select.EPOLLIN)
        self.spec = spec
        self.registered = 0
        self.by_fd: dict[int, tuple[socket.socket, int]] = {}
        self.lost = _Tally(spec)
        self.total = 0

    def add(self, held: list[socket.socket], held_at: list[int]) -> None:
        for s, i in zip(held[self.registered :], held_at[self.registered :], strict=True):
            self.epoll.register(s.fileno(), select.EPOLLRDHUP)  # ERR and HUP always
            self.by_fd[s.fileno()] = (s, i)
        self.registered = len(held)

    def poll(self, seconds: float, chan: socket.socket) -> bytes:
        """Watch for `seconds` (or until the coordinator speaks): what it said, or b""."""
        for fd, events in self.epoll.poll(seconds):
            if fd == chan.fileno():
                return _heard(chan)
            s, i = self.by_fd.pop(fd)
            self.epoll.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                name = errno_mod.errorcode.get(err, str(err))
            else:
                name = "closed" if events & select.EPOLLRDHUP else "hangup"
            self.lost.add(name, "hold", i)
            self.total += 1
            s.close()
        return b""


def _connect_loop(chan: socket.socket, spec: Spec) -> None:
    """Open the connections in batches of CONNECT_BATCH non-blocking connect()s, then wait
    for the batch: one poll() per batch instead of one per connection (settimeout() cost
    ~40 % more CPU per connection here), and a connector never runs more than a batch
    ahead of the SYN-ACKs, so a slow accepting side slows it down instead of overflowing.
    The first batch with a failure ends the climb; every failure in it is counted.
    With a ramp, the worker stops at each cap (a plateau) until the coordinator raises it."""
    _await_go(chan)
    chan.setblocking(False)
    held: list[socket.socket] = []
    held_at: list[int] = []  # probe --target: each held connection's index, for its pair
    watch = _Watch(spec, chan) if spec.watch else None
    tally = _Tally(spec)
    batch: list[socket.socket] = []
    pairs, npairs, offset = spec.pairs, len(spec.pairs), spec.offset
    rate, count = spec.rate, spec.count
    last = min(spec.cap or count, count) - 1  # the last connection before a plateau
    payload = b"x" * spec.send
    # names the loop uses once per connection, as locals: ~0.5 us of lookups each
    new_socket, inet = socket.socket, socket.AF_INET
    stream, ip = socket.SOCK_STREAM | socket.SOCK_NONBLOCK, socket.IPPROTO_IP
    in_progress = errno_mod.EINPROGRESS
    start = last_report = at = time.monotonic()
    for i in range(count):
        src, dst = pairs[(offset + i) % npairs]
        s = None
        op = "socket"
        try:
            s = new_socket(inet, stream)
            s.setsockopt(ip, IP_BIND_ADDRESS_NO_PORT, 1)
            op = "bind"
            s.bind((src, 0))
            op = "connect"
            err = s.connect_ex(dst)  # the port is picked and the SYN sent here
            if err and err != in_progress:
                raise OSError(err, os.strerror(err))
        except OSError as err:
            if s is not None:
                s.close()
            tally.add(errno_name(err), op, i)
            if batch:
                at = _settle(batch, i - len(batch), payload, spec, held, held_at, tally, at)
            break
        batch.append(s)
        if len(batch) >= CONNECT_BATCH or i == last:
            at = _settle(batch, i + 1 - len(batch), payload, spec, held, held_at, tally, at)
            batch = []
            if tally.first:
                break
            if i == last and i + 1 < count:  # a plateau of the ramp
                cap = _plateau(chan, len(held), at, watch, held, held_at)
                if not cap:
                    break
                last = min(cap, count) - 1
                start = time.monotonic() - (i + 1) / rate if rate else start
        if rate:
            ahead = start + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if i & 63 == 0:
            now = time.monotonic()
            if now - last_report >= TICK:
                last_report = now
                _send(chan, n=len(held), at=at)
                if _heard(chan) == b"stop":
                    break
    _report(chan, tally, len(held), at)
    _hold_and_exit(chan, len(held), at, watch, held, held_at)


def _report(chan: socket.socket, tally: _Tally, done: int, at: float) -> None:
    """The failures that ended the climb, if any: the first, and every one by cause."""
    if tally.first:
        _send(
            chan,
            error=tally.first[0],
            op=tally.first[1],
            n=done,
            at=at,
            limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            failures=tally.rows(),
        )


def _settle(
    batch: list[socket.socket],
    i0: int,
    payload: bytes,
    spec: Spec,
    held: list[socket.socket],
    held_at: list[int],
    tally: _Tally,
    at: float,
) -> float:
    """Wait for a batch's connect()s (connections i0...), send the payload on each, hold
    the ones that made it and count the others: the time of the latest connection."""
    failed, last_ok = _complete(batch, spec.timeout)
    op = "connect"
    if not failed and payload:
        failed, op = _send_all(batch, payload, spec.timeout), "send"
        last_ok = time.monotonic()
    if not failed:
        held += batch
        if spec.watch:
            held_at.extend(range(i0, i0 + len(batch)))
        return last_ok
    bad = dict(failed)
    for pos, s in enumerate(batch):
        if pos in bad:
            tally.add(bad[pos], op, i0 + pos)
            s.close()
        else:
            held.append(s)
            if spec.watch:
                held_at.append(i0 + pos)
    return last_ok if len(bad) < len(batch) else at


def _plateau(
    chan: socket.socket,
    done: int,
    at: float,
    watch: _Watch | None,
    held: list[socket.socket],
    held_at: list[int],
) -> int:
    """At a cap of the ramp: say so, then hold (watching, in target mode) until the
    coordinator raises the cap ("upto N": the new cap) or says "stop" (0)."""
    _send(chan, n=done, at=at, plateau=True)
    if watch:
        watch.add(held, held_at)
    reported = watch.total if watch else 0
    while True:
        if watch:
            msg = watch.poll(TICK, chan)
            if watch.total != reported:
                reported = watch.total
                _send(chan, n=done, at=at, lost=watch.total, losses=watch.lost.rows())
        else:
            chan.setblocking(True)
            msg = chan.recv(64)
            chan.setblocking(False)
            if not msg:
                os._exit(0)
        if msg == b"stop":
            return 0
        if msg.startswith(b"upto "):
            return int(msg[5:])


def _hold_and_exit(
    chan: socket.socket,
    done: int,
    at: float,
    watch: _Watch | None = None,
    held: list[socket.socket] | None = None,
    held_at: list[int] | None = None,
) -> None:
    """Say what was done, hold until the coordinator closes the channel (watching the
    connections in target mode), then exit with the sockets open: the kernel closes them.
    Returning would free 20,000 socket objects first, each formatting an "unclosed
    socket" ResourceWarning (two syscalls for its repr) that nobody sees."""
    _send(chan, done=done, at=at)
    if watch and held is not None and held_at is not None:
        watch.add(held, held_at)
        reported = 0
        while True:
            watch.poll(TICK, chan)  # exits on end of file
            if watch.total != reported:
                reported = watch.total
                _send(chan, done=done, at=at, lost=watch.total, losses=watch.lost.rows())
    chan.setblocking(True)
    while chan.recv(64):
        pass
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
                error=errno_name(err),
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


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # linux/capability.h: two 32-bit words


def _drop_capabilities(libc) -> None:
    """A worker runs with no capabilities, as the service it stands for would: with
    CAP_SYS_ADMIN a process opens files past fs.file-max (fs/file_table.c
    alloc_empty_file), so a root probe would never meet the limit a service meets. Its
    sockets, binds and rlimits need none. Best effort: a failure leaves them as they were."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    libc.capset(ctypes.byref(header), (_CapData * 2)())


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
    _drop_capabilities(libc)
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
