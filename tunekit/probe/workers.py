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
            return errno_name(err)
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
                return errno_name(err)
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
                error=errno_name(err),
                op="connect",
                n=len(held),
                limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
            break
        batch.append(s)
        if len(batch) >= CONNECT_BATCH or i == count - 1:
            failed, op = _finish(batch, payload, spec.timeout)
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
    _hold_and_exit(chan, len(held), at)


def _finish(batch: list[socket.socket], payload: bytes, timeout: float) -> tuple[str | None, str]:
    """Wait for a batch's connect()s, then send the payload on each: (error, operation)."""
    failed = _complete(batch, timeout)
    if failed or not payload:
        return failed, "connect"
    return _send_all(batch, payload, timeout), "send"


def _hold_and_exit(chan: socket.socket, done: int, at: float) -> None:
    """Say what was done, hold until the coordinator closes the channel, then exit with
    the sockets open: the kernel closes them. Returning would free 20,000 socket objects
    first, each formatting an "unclosed socket" ResourceWarning (two syscalls for its
    repr) that nobody sees."""
    _send(chan, done=done, at=at)
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
