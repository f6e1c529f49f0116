"""What the probe's coordinator and its workers say to each other.

Each worker talks to the coordinator over one SOCK_SEQPACKET socket pair: JSON messages
up ("ready", progress at most every TICK, an error with the failures counted by cause,
"done"), "go", "stop" and, with a ramp, "upto N" down; end-of-file means "close everything
and exit". Progress carries the CLOCK_MONOTONIC time of the worker's latest connection
("at"), so the rate does not depend on how late the coordinator hears of it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field

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


def send(chan: socket.socket, **msg) -> None:
    chan.send(json.dumps(msg).encode())


def await_go(chan: socket.socket) -> None:
    if chan.recv(64) != b"go":
        os._exit(0)


def heard(chan: socket.socket) -> bytes:
    """What the coordinator sent on the non-blocking `chan` (b"" if nothing); exits on
    end of file: the coordinator has gone or is tearing down."""
    try:
        msg = chan.recv(64)
    except BlockingIOError:
        return b""
    if not msg:
        os._exit(0)
    return msg
