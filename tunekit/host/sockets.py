"""TCP sockets as the kernel lists them: a plain sock_diag netlink dump (inet_diag),
parsed with `struct`. It reads and decides nothing.

Why not pyroute2's DiagSocket, which does the same dump: it turns every message into a
Python object tree of netlink attributes, and at scale that is the whole cost: measured on
6.18 at 96,000 sockets, a dump of all states through DiagSocket took 26 s, where this
reader, which reads the fixed 72-byte inet_diag_msg at its offsets and skips the
attributes, took 0.6 s at 144,000 (issue 19; bench/status.py prints both, and the other
paths: /proc/net/tcp, `ss -tan`, psutil.net_connections).

And it asks the kernel only for what a row needs, so that the kernel does the filtering in
C:
- `listeners()`: the LISTEN sockets only. The kernel walks its listening hash, not the
  established one: the cost does not grow with the connections.
- `states(mask)`: the sockets in a few rare states (SYN_RECV, CLOSE_WAIT, ...): the kernel
  walks every socket but returns only those.
- `ports(lo, hi)`: the sockets whose local port is inside [lo, hi], the ephemeral range,
  filtered by inet_diag bytecode (INET_DIAG_BC_S_GE, S_LE; net/ipv4/inet_diag.c
  inet_diag_bc_run): a server's accepted sockets, on its listening port, never leave the
  kernel; a client's come back one message each.

Each dump is one walk of the kernel's socket hash for IPv4 and IPv6 together: the request
is the original struct inet_diag_req (TCPDIAG_GETSOCK), which the kernel serves with
sdiag_family AF_UNSPEC (net/ipv4/inet_diag.c inet_diag_dump_compat), where the per-family
SOCK_DIAG_BY_FAMILY request would walk every socket once per family. At a million
connections that walk, not the messages, is much of a dump's cost (0.7 us a socket here,
memory-bound: bench/status.py). The replies are inet_diag_msg, each with its own family
(include/uapi/linux/inet_diag.h); for a listener idiag_rqueue is the accept queue and
idiag_wqueue the backlog (net/ipv4/tcp_diag.c tcp_diag_get_info). A dump reads the network
namespace of the calling process, as /proc/net does.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections import Counter
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4  # include/uapi/linux/netlink.h (NETLINK_INET_DIAG is the same)
TCPDIAG_GETSOCK = 18  # include/uapi/linux/inet_diag.h
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
INET_DIAG_REQ_BYTECODE = 1
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
BC_S_GE, BC_S_LE = 2, 3  # enum in include/uapi/linux/inet_diag.h
RECV_BYTES = 1 << 16  # a dump skb is at most 32 KiB (af_netlink.c netlink_recvmsg)
TIMEOUT = 10.0  # seconds without a message: never hang on the kernel

# include/net/tcp_states.h
STATE_NAMES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
STATE = {name: number for number, name in STATE_NAMES.items()}
ALL_STATES = (1 << 13) - 2  # bits 1..12

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_LEN_TYPE = struct.Struct("=IH")
_LENGTH = struct.Struct("=I")
_REQ = struct.Struct("=BBBB")  # struct inet_diag_req: family, src_len, dst_len, ext
_ID = struct.Struct("=HH16s16sI2I")  # inet_diag_sockid (ports stay big-endian bytes)
_STATES = struct.Struct("=II")  # idiag_states, idiag_dbs
_QUEUES = struct.Struct("=IIII")  # idiag_rqueue, idiag_wqueue, idiag_uid, idiag_inode
_ERRNO = struct.Struct("=i")
MSG = _HDR.size  # where inet_diag_msg starts in a message
OFF_STATE, OFF_SPORT, OFF_DPORT, OFF_SRC, OFF_DST, OFF_QUEUES = 1, 4, 6, 8, 24, 56


@dataclass(frozen=True)
class Listener:
    family: int  # socket.AF_INET or AF_INET6
    address: str
    port: int
    queue: int  # connections completed, waiting for accept() (sk_ack_backlog)
    backlog: int  # min(listen() backlog, somaxconn) (sk_max_ack_backlog)
    uid: int
    inode: int


def _request(states: int, bytecode: bytes = b"") -> bytes:
    """A TCPDIAG_GETSOCK dump request: both families in one walk (family 0: any)."""
    sockid = _ID.pack(0, 0, b"", b"", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    body = _REQ.pack(0, 0, 0, 0) + sockid + _STATES.pack(states, 0)
    if bytecode:
        body += struct.pack("=HH", 4 + len(bytecode), INET_DIAG_REQ_BYTECODE) + bytecode
    flags = NLM_F_REQUEST | NLM_F_DUMP
    return _HDR.pack(_HDR.size + len(body), TCPDIAG_GETSOCK, flags, 1, 0) + body


def port_range_bytecode(lo: int, hi: int) -> bytes:
    """lo <= local port <= hi, as inet_diag bytecode: each op is (code, yes, no) and its
    argument op; `yes` steps to the next op, `no` jumps past the end (len + 4: reject)."""
    op = struct.Struct("=BBH")
    return b"".join(
        (
            op.pack(BC_S_GE, 8, 8 + 8 + 4),
            op.pack(0, 0, lo),
            op.pack(BC_S_LE, 8, 8 + 4),
            op.pack(0, 0, hi),
        )
    )


def dump(states: int, bytecode: bytes = b""):
    """Yield the batches of one dump, each a bytes of whole netlink messages, until
    NLMSG_DONE. An NLMSG_ERROR raises OSError with the kernel's errno."""
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG
    ) as nl:
        nl.settimeout(TIMEOUT)
        nl.sendto(_request(states, bytecode), (0, 0))
        while True:
            data = nl.recv(RECV_BYTES)
            if not data:
                return
            off, end = 0, len(data)
            while off + MSG <= end:
                length, kind = _LEN_TYPE.unpack_from(data, off)
                if kind == NLMSG_DONE:
                    yield data[:off]
                    return
                if kind == NLMSG_ERROR:
                    code = -_ERRNO.unpack_from(data, off + MSG)[0]
                    raise OSError(code, f"inet_diag: {errno.errorcode.get(code, code)}")
                if length < MSG:
                    raise OSError(errno.EPROTO, "inet_diag: malformed message")
                off += (length + 3) & ~3
            yield data


def _messages(batch: bytes):
    """(offset of each inet_diag_msg) in a batch of messages."""
    off, end = 0, len(batch)
    while off + MSG <= end:
        length = _LEN_TYPE.unpack_from(batch, off)[0]
        yield off + MSG
        off += (length + 3) & ~3


def _address(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw[:4] if family == socket.AF_INET else raw)


def listeners() -> list[Listener]:
    """Every TCP socket in LISTEN, IPv4 and IPv6, with its accept queue and backlog."""
    out = []
    for batch in dump(1 << STATE["LISTEN"]):
        for m in _messages(batch):
            family = batch[m]
            queue, backlog, uid, inode = _QUEUES.unpack_from(batch, m + OFF_QUEUES)
            out.append(
                Listener(
                    family,
                    _address(family, batch[m + OFF_SRC : m + OFF_SRC + 16]),
                    int.from_bytes(batch[m + OFF_SPORT : m + OFF_SPORT + 2], "big"),
                    queue,
                    backlog,
                    uid,
                    inode,
                )
            )
    return out


@dataclass
class States:
    counts: Counter  # state name -> sockets
    syn_recv_by_port: Counter  # local port -> connections in SYN_RECV (requests included)


RARE_STATES = ("SYN_SENT", "SYN_RECV", "FIN_WAIT1", "CLOSE_WAIT", "LAST_ACK", "CLOSING")


def states(names: tuple[str, ...] = RARE_STATES) -> States:
    """How many sockets are in each of the `names` states (a request socket, which a
    SYN_RECV dump returns too, counts as SYN_RECV, as `ss` shows it)."""
    mask = 0
    for name in names:
        mask |= 1 << STATE[name]
    counts: Counter = Counter(dict.fromkeys(names, 0))
    by_port: Counter = Counter()
    for batch in dump(mask):
        for m in _messages(batch):
            name = STATE_NAMES.get(batch[m + OFF_STATE], "?")
            if name == "NEW_SYN_RECV":
                name = "SYN_RECV"
            counts[name] += 1
            if name == "SYN_RECV":
                by_port[int.from_bytes(batch[m + OFF_SPORT : m + OFF_SPORT + 2], "big")] += 1
    return States(counts, by_port)


@dataclass
class Ports:
    """Sockets on a local port inside the range, per (source, destination ip, port)."""

    by_destination: Counter  # (source address, destination address, destination port)
    sockets: int  # counted
    skipped: int  # on a listening port inside the range (accepted, not ephemeral)


# every state a connecting socket holds its port in: not LISTEN, and not the SYN_RECV of
# an accepted connection (a request socket is on its listener's port)
PORT_STATES = ALL_STATES & ~(
    1 << STATE["LISTEN"] | 1 << STATE["SYN_RECV"] | 1 << STATE["NEW_SYN_RECV"]
)


def ports(lo: int, hi: int, listening: set[int] | frozenset[int] = frozenset()) -> Ports:
    """Count the sockets whose local port is in [lo, hi], by (source, destination). The
    kernel filters on the port; sockets on a port in `listening` are skipped here (an
    accepted connection to a listener inside the range holds no ephemeral port). The loop
    is the whole cost at a million client sockets: it keys a Counter on the raw bytes of
    (destination port, source, destination) and decodes only the distinct keys."""
    skip = {p.to_bytes(2, "big") for p in listening if lo <= p <= hi}
    counts: dict[bytes, int] = {}
    get = counts.get
    skipped = 0
    length_at = _LENGTH.unpack_from
    for batch in dump(PORT_STATES, port_range_bytecode(lo, hi)):
        off, end = 0, len(batch)
        while off + MSG <= end:
            m = off + MSG
            off += (length_at(batch, off)[0] + 3) & ~3
            if skip and batch[m + OFF_SPORT : m + OFF_SPORT + 2] in skip:
                skipped += 1
                continue
            # destination port, source and destination address (34 bytes); an IPv6
            # socket's key is marked by a leading byte (35), so no address is mistaken
            key = batch[m + OFF_DPORT : m + OFF_DST + 16]
            if batch[m] != socket.AF_INET:
                key = b"6" + key
            counts[key] = get(key, 0) + 1
    out: Counter = Counter()
    for key, n in counts.items():
        family = socket.AF_INET if len(key) == 34 else socket.AF_INET6
        key = key[-34:]
        dport = int.from_bytes(key[:2], "big")
        out[(_address(family, key[2:18]), _address(family, key[18:34]), dport)] += n
    return Ports(out, sum(counts.values()), skipped)
