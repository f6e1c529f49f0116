"""The kernel's counter tables, read as they are: no decision, no table of keys.

Every table is a flat {field: int} under the name the catalogue's Usage and Symptom
entries use (knowledge/keys.py), so that `status` joins a limit to what counts against it
by data alone:

- "TCP", "TCP6", "UDP", "sockets", ...: the lines of /proc/net/sockstat and sockstat6
  ("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1" gives TCP = {inuse: 5, orphan: 0, ...});
  net/ipv4/proc.c sockstat_seq_show. inuse and tw are this network namespace's, orphan,
  alloc and mem the host's.
- "Tcp", "Ip", ... from /proc/net/snmp and "TcpExt", "IpExt", ... from /proc/net/netstat
  (a header line of names, then a line of values, per table); per network namespace.
- "conntrack": /proc/net/stat/nf_conntrack, one hex row per CPU, summed, each column as
  conntrack_<column> (conntrack_drop, conntrack_early_drop), and conntrack_count; only
  while nf_conntrack is loaded.
- "file-nr": fs.file-nr's three fields (allocated, free, max).

Each file is small and fixed in size whatever the number of sockets: reading them all
costs well under a millisecond (bench/status.py).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tunekit.host import procfs
from tunekit.knowledge import catalogue as K

Tables = dict[str, dict[str, int]]

KMSG = "/dev/kmsg"
KMSG_DEVICE = (1, 11)  # drivers/char/mem.c devlist: "kmsg" is char 1:11
KMSG_MAX_RECORDS = 200_000  # the ring buffer is bounded; this bounds a reading of it too


def _ints(names: list[str], values: list[str], base: int = 10) -> dict[str, int]:
    out = {}
    for name, value in zip(names, values, strict=False):
        try:
            out[name] = int(value, base)
        except ValueError:
            continue
    return out


def parse_sockstat(text: str) -> Tables:
    """ "PROTO: name value name value ..." lines, one table per PROTO."""
    out: Tables = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        words = rest.split()
        out.setdefault(proto.strip(), {}).update(_ints(words[::2], words[1::2]))
    return out


def parse_pairs(text: str) -> Tables:
    """/proc/net/snmp and /proc/net/netstat: a header line of names, then a line of values,
    each starting with the table's name."""
    out: Tables = {}
    lines = text.splitlines()
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        name, _, names = head.partition(":")
        vname, _, values = vals.partition(":")
        if name and name == vname:
            out.setdefault(name, {}).update(_ints(names.split(), values.split()))
    return out


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """/proc/net/stat/nf_conntrack: a header, then one row of hex numbers per CPU."""
    rows = text.splitlines()
    if not rows:
        return {}
    names = [f"conntrack_{n}" for n in rows[0].split()]
    out: dict[str, int] = {}
    for row in rows[1:]:
        for name, value in _ints(names, row.split(), 16).items():
            out[name] = out.get(name, 0) + value
    out.pop("conntrack_entries", None)  # a gauge per CPU, not a counter; count is below
    return out


@dataclass
class Counters:
    tables: Tables = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)  # file -> why it was not read

    def get(self, table: str, name: str) -> int | None:
        return self.tables.get(table, {}).get(name)


def read_counters(root: Path = Path("/")) -> Counters:
    """Every table above, from the files under `root`. A file that is absent (no IPv6, no
    conntrack) or unreadable is named in `unread`; nothing raises."""
    out = Counters()

    def text(rel: str) -> str | None:
        try:
            return procfs.read(root, rel)
        except OSError as err:
            out.unread["/" + rel] = err.strerror or str(err)
            return None

    for rel in ("proc/net/sockstat", "proc/net/sockstat6"):
        if (t := text(rel)) is not None:
            for name, values in parse_sockstat(t).items():
                out.tables.setdefault(name, {}).update(values)
    for rel in ("proc/net/snmp", "proc/net/netstat"):
        if (t := text(rel)) is not None:
            out.tables.update(parse_pairs(t))
    if (t := text(K.FILE_NR.proc_path)) is not None:
        out.tables["file-nr"] = _ints(["allocated", "free", "max"], t.split())
    conntrack: dict[str, int] = {}
    try:
        conntrack.update(parse_conntrack_stat(procfs.read(root, "proc/net/stat/nf_conntrack")))
        conntrack["conntrack_count"] = int(procfs.read_sysctl(root, K.CONNTRACK_COUNT))
    except (OSError, ValueError):
        pass  # nf_conntrack is not loaded: no table, no row (the model says so)
    if conntrack:
        out.tables["conntrack"] = conntrack
    return out


# --- the kernel log -------------------------------------------------------------------


@dataclass
class KernelLog:
    """How many records of the kernel log ring buffer hold each text, after `since`."""

    counts: dict[str, int] = field(default_factory=dict)
    last_seq: int = -1  # the newest record read: the next reading starts after it
    records: int = 0
    unread: str | None = None  # why it was not read, if it was not


def read_kernel_log(texts: list[str], since: int = -1) -> KernelLog:
    """Count the records of /dev/kmsg that contain each of `texts`, newer than sequence
    number `since`. /dev/kmsg gives one record per read() and EAGAIN at the end (opened
    O_NONBLOCK: never a wait), EPIPE for a record overwritten while reading (skipped).
    It is a character device, so procfs.read_text (regular files only) is not used: the
    device itself is checked instead (char 1:11). Not readable (no CAP_SYSLOG with
    dmesg_restrict, a container without it): `unread` says why, nothing raises. The
    messages are rate-limited by the kernel (net_ratelimit): counts are a lower bound."""
    log = KernelLog(counts=dict.fromkeys(texts, 0), last_seq=since)
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        log.unread = f"{KMSG}: {err.strerror}"
        return log
    try:
        st = os.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (
            KMSG_DEVICE
        ):
            log.unread = f"{KMSG} is not the kernel log device"
            return log
        count_records(_records(fd), texts, log)
    except OSError as err:
        log.unread = f"{KMSG}: {err.strerror}"
    finally:
        os.close(fd)
    return log


def _records(fd: int):
    """The records of an open /dev/kmsg, oldest first, until EAGAIN (the end)."""
    for _ in range(KMSG_MAX_RECORDS):
        try:
            record = os.read(fd, 8192)
        except BlockingIOError:
            return
        except BrokenPipeError:  # overwritten while we read: the next one follows
            continue
        except OSError as err:
            if err.errno == errno.EINVAL:  # longer than the buffer
                continue
            raise
        if not record:
            return
        yield record


def count_records(records, texts: list[str], log: KernelLog) -> None:
    """Count in `log` the records ("prio,seq,usec,flags;message") holding each text,
    newer than log.last_seq."""
    since = log.last_seq
    for record in records:
        log.records += 1
        head, _, message = record.partition(b";")
        try:
            seq = int(head.split(b",")[1])
        except (IndexError, ValueError):
            continue
        if seq <= since:
            continue
        log.last_seq = max(log.last_seq, seq)
        line = message.decode("utf-8", "replace")
        for t in texts:
            if t in line:
                log.counts[t] += 1
