"""The probe's connecting workers: their share of the connections, in batches of
non-blocking connect()s, each from a source address bound with IP_BIND_ADDRESS_NO_PORT so
that the port is chosen at connect() per destination, as a load generator should; with
--send they then write that many bytes on each. The first batch with a failure ends the
climb, and every failure in it is counted by cause; with a ramp a worker waits at each
plateau; with --target it watches what it holds for the server closing it.
"""

from __future__ import annotations

import _socket
import errno as errno_mod
import os
import resource
import select
import socket
import time

from tunekit.probe.channel import TICK, Spec, await_go, heard, send
from tunekit.probe.netns import errno_name

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h, Linux 4.2+
CONNECT_BATCH = 64  # connect()s a connector has in flight at most


def _complete(batch: list[_socket.socket], timeout: float) -> tuple[list[tuple[int, str]], float]:
    """Wait until every connect() in `batch` has completed: the ones that failed, as
    (position in the batch, errno name or "timeout" if still in flight after `timeout`
    seconds), [] when all are established; and when the last one that made it did.
    A completed socket is unregistered only if the batch needs another poll(): on loopback
    or a veth the first poll() usually finds all 64 done."""
    poller, by_fd = select.poll(), {}
    for pos, s in enumerate(batch):
        poller.register(s, select.POLLOUT)
        by_fd[s.fileno()] = pos
    failed: list[tuple[int, str]] = []
    bad = select.POLLERR | select.POLLHUP
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
            if events & bad:
                err = batch[pos].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                failed.append((pos, errno_mod.errorcode.get(err, str(err))))
            else:
                last_ok = now
        if by_fd:
            for fd, _ in ready:
                poller.unregister(fd)
    return failed, last_ok


def _send_all(batch: list[_socket.socket], payload: bytes, timeout: float) -> list[tuple[int, str]]:
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
        self.by_fd: dict[int, tuple[_socket.socket, int]] = {}
        self.lost = _Tally(spec)
        self.total = 0

    def add(self, held: list[_socket.socket], held_at: list[int]) -> None:
        for s, i in zip(held[self.registered :], held_at[self.registered :], strict=True):
            self.epoll.register(s.fileno(), select.EPOLLRDHUP)  # ERR and HUP always
            self.by_fd[s.fileno()] = (s, i)
        self.registered = len(held)

    def poll(self, seconds: float, chan: socket.socket) -> bytes:
        """Watch for `seconds` (or until the coordinator speaks): what it said, or b""."""
        for fd, events in self.epoll.poll(seconds):
            if fd == chan.fileno():
                return heard(chan)
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


def connect_loop(chan: socket.socket, spec: Spec) -> None:
    """Open the connections in batches of CONNECT_BATCH non-blocking connect()s, then wait
    for the batch: one poll() per batch instead of one per connection (settimeout() cost
    ~40 % more CPU per connection here), and a connector never runs more than a batch
    ahead of the SYN-ACKs, so a slow accepting side slows it down instead of overflowing.
    The first batch with a failure ends the climb; every failure in it is counted.
    With a ramp, the worker stops at each cap (a plateau) until the coordinator raises it."""
    await_go(chan)
    chan.setblocking(False)
    held: list[_socket.socket] = []
    held_at: list[int] = []  # probe --target: each held connection's index, for its pair
    watch = _Watch(spec, chan) if spec.watch else None
    tally = _Tally(spec)
    batch: list[_socket.socket] = []
    pairs = [((src, 0), dst) for src, dst in spec.pairs]  # bind()'s address, built once
    npairs, offset = len(pairs), spec.offset
    rate, count = spec.rate, spec.count
    last = min(spec.cap or count, count) - 1  # the last connection before a plateau
    payload = b"x" * spec.send
    # names the loop uses once per connection, as locals: ~0.5 us of lookups each; and
    # _socket.socket, not socket.socket, whose __init__ and close() are Python code (~1 us
    # a connection here); the sockets are only polled, sent on and closed
    new_socket, inet = _socket.socket, socket.AF_INET
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
            s.bind(src)
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
                send(chan, n=len(held), at=at)
                if heard(chan) == b"stop":
                    break
    _report(chan, tally, len(held), at)
    _hold_and_exit(chan, len(held), at, watch, held, held_at)


def _report(chan: socket.socket, tally: _Tally, done: int, at: float) -> None:
    """The failures that ended the climb, if any: the first, and every one by cause."""
    if tally.first:
        send(
            chan,
            error=tally.first[0],
            op=tally.first[1],
            n=done,
            at=at,
            limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            failures=tally.rows(),
        )


def _settle(
    batch: list[_socket.socket],
    i0: int,
    payload: bytes,
    spec: Spec,
    held: list[_socket.socket],
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
    held: list[_socket.socket],
    held_at: list[int],
) -> int:
    """At a cap of the ramp: say so, then hold (watching, in target mode) until the
    coordinator raises the cap ("upto N": the new cap) or says "stop" (0)."""
    send(chan, n=done, at=at, plateau=True)
    if watch:
        watch.add(held, held_at)
    reported = watch.total if watch else 0
    while True:
        if watch:
            msg = watch.poll(TICK, chan)
            if watch.total != reported:
                reported = watch.total
                send(chan, n=done, at=at, lost=watch.total, losses=watch.lost.rows())
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
    held: list[_socket.socket] | None = None,
    held_at: list[int] | None = None,
) -> None:
    """Say what was done, hold until the coordinator closes the channel (watching the
    connections in target mode), then exit with the sockets open: the kernel closes them.
    Returning would free 20,000 socket objects first, each formatting an "unclosed
    socket" ResourceWarning (two syscalls for its repr) that nobody sees."""
    send(chan, done=done, at=at)
    if watch and held is not None and held_at is not None:
        watch.add(held, held_at)
        reported = 0
        while True:
            watch.poll(TICK, chan)  # exits on end of file
            if watch.total != reported:
                reported = watch.total
                send(chan, done=done, at=at, lost=watch.total, losses=watch.lost.rows())
    chan.setblocking(True)
    while chan.recv(64):
        pass
    os._exit(0)
