"""The probe's worker processes: what runs after fork().

- connectors (connector.py) open their share of the connections;
- acceptors each accept from one listener, in a blocking accept() as a plain server does,
  until they hold their budget of sockets.

Each talks to the coordinator over its channel (channel.py). Workers die with the
coordinator (PR_SET_PDEATHSIG), ignore Ctrl-C, which the coordinator handles by tearing
everything down, and run without capabilities.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import select
import signal
import socket
import time
from dataclasses import dataclass

from tunekit.probe.channel import TICK, Spec, await_go, heard, send
from tunekit.probe.connector import connect_loop
from tunekit.probe.netns import errno_name

PR_SET_PDEATHSIG = 1
# Connectors and acceptors run at the same priority, as in bench/connect_ref.c. With the
# connectors at nice 5, every acceptor woken by a connect() preempted the connector on the
# other core: connect() cost 19 us instead of C's 15 (perf: the time went to waking the
# acceptor, in sock_def_readable) and 50k connections ran at 55,000/s instead of 66-77,000.


__all__ = ["TICK", "Spec", "Worker", "spawn"]


@dataclass
class Worker:
    pid: int
    chan: socket.socket
    spec: Spec
    count: int = 0
    at: float = 0.0  # time.monotonic() of its latest connection, as the worker saw it
    state: str = "starting"  # ready, running, done, failed, dead


def _accept_loop(chan: socket.socket, spec: Spec, listener: socket.socket) -> None:
    """Accept as bench/connect_ref.c does: a blocking accept() on one listener. The kernel
    wakes exactly one of the acceptors waiting there per connection; with all of them on an
    epoll of every listener (EPOLLEXCLUSIVE), each connection also woke busy ones into an
    accept() that failed with EAGAIN, and at 1M the acceptors used twice the C program's
    CPU time. The listener's SO_RCVTIMEO (TICK, set by the coordinator) makes an idle
    accept() return, to report progress and to hear the coordinator."""
    await_go(chan)
    chan.setblocking(False)
    if spec.accept_pause:  # a server that stalls: the accept queue must absorb it
        poller = select.poll()
        poller.register(chan, select.POLLIN)
        if poller.poll(spec.accept_pause * 1000):
            heard(chan)
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
            send(
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
            send(chan, n=reported, at=at)
        heard(chan)
    send(chan, done=len(held), at=at)
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
    send(chan, ready=True)
    if spec.role == "connect":
        connect_loop(chan, spec)
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
