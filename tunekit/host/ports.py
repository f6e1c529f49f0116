"""Ephemeral ports already in use toward given destinations, read from /proc/net/tcp of
this network namespace: connect() cannot pick them again for the same (source,
destination), so a client that ran a minute ago (its connections now in TIME_WAIT) has
fewer ports left than the range says. Read once, before a probe --target; reading decides
nothing.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct

TIME_WAIT, LISTEN = "06", "0A"  # include/net/tcp_states.h, as /proc/net/tcp prints them
# a host holding ~1.5M sockets (150 B a line); beyond it the count is skipped, not guessed
LIMIT = 256 << 20
TCP = "/proc/net/tcp"  # a module attribute: a test points it at a path that cannot be read


def _hex(ip: str) -> str:
    """An IPv4 address as /proc/net/tcp prints it: the 32-bit value in host byte order."""
    return f"{struct.unpack('=I', socket.inet_aton(ip))[0]:08X}"


def _read(path: str, limit: int) -> str:
    """All of a proc file, read in chunks (a seq_file gives a page or so per read),
    refusing anything but a regular file, and more than `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, f"larger than {limit} bytes", path)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", errors="replace")


def in_use(
    pairs: list[tuple[str, tuple[str, int]]],
    port_range: tuple[int, int],
    time_wait_reusable: bool,
    path: str | None = None,
    limit: int = LIMIT,
) -> dict[tuple[str, tuple[str, int]], int] | None:
    """For each (source, destination): sockets from that source to that destination whose
    local port is in the ephemeral range, in any state but LISTEN (TIME_WAIT left out when
    connect() may reuse it). None if the table could not be read or is too large."""
    remote = {f"{_hex(ip)}:{port:04X}": (ip, port) for _, (ip, port) in pairs}
    local = {_hex(src): src for src, _ in pairs}
    wanted = set(pairs)
    lo, hi = port_range
    counts = dict.fromkeys(pairs, 0)
    try:
        text = _read(path or TCP, limit)
    except OSError:
        return None
    for line in text.splitlines()[1:]:
        f = line.split(None, 4)
        if len(f) < 4 or f[2] not in remote or f[3] == LISTEN:
            continue
        if f[3] == TIME_WAIT and time_wait_reusable:
            continue
        ip_hex, _, port_hex = f[1].partition(":")
        pair = (local.get(ip_hex, ""), remote[f[2]])
        if pair in wanted and lo <= int(port_hex, 16) <= hi:
            counts[pair] += 1
    return counts
