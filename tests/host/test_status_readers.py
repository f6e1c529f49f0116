"""What status reads: the counter tables (fake trees and the live files), the kernel log
records, inet_diag (the bytecode, and sockets this test opens on loopback), descriptor
counts and open-files limits of processes, and the owner of a socket."""

from __future__ import annotations

import os
import resource
import socket

import pytest
from helpers import write_tree

from tunekit.host import counters, processes, sockets
from tunekit.knowledge import catalogue as K

SOCKSTAT = """sockets: used 12
TCP: inuse 5 orphan 1 tw 2 alloc 7 mem 350
UDP: inuse 0 mem 0
"""
SNMP = """Ip: Forwarding DefaultTTL
Ip: 2 64
Tcp: RtoAlgorithm ActiveOpens CurrEstab
Tcp: 1 10 4
"""
CONNTRACK = """entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000001
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000006 00000000
"""


def test_parsers_give_flat_tables():
    assert counters.parse_sockstat(SOCKSTAT)["TCP"] == {
        "inuse": 5,
        "orphan": 1,
        "tw": 2,
        "alloc": 7,
        "mem": 350,
    }
    assert counters.parse_pairs(SNMP)["Tcp"]["CurrEstab"] == 4
    stat = counters.parse_conntrack_stat(CONNTRACK)
    assert stat["conntrack_drop"] == 16 and stat["conntrack_early_drop"] == 1  # hex, summed
    assert "conntrack_entries" not in stat  # a per-CPU gauge, not a counter


def test_read_counters_from_a_tree_names_what_is_missing(tmp_path):
    write_tree(
        tmp_path,
        {
            "proc/net/sockstat": SOCKSTAT,
            "proc/net/snmp": SNMP,
            "proc/net/stat/nf_conntrack": CONNTRACK,
            K.CONNTRACK_COUNT.proc_path: "42\n",
            K.FILE_NR.proc_path: "1024\t0\t9000\n",
        },
    )
    c = counters.read_counters(tmp_path)
    assert c.get("TCP", "tw") == 2 and c.get("Tcp", "CurrEstab") == 4
    assert c.get("file-nr", "allocated") == 1024
    assert c.get("conntrack", "conntrack_count") == 42
    assert set(c.unread) == {"/proc/net/sockstat6", "/proc/net/netstat"}


def test_every_usage_and_symptom_names_a_reading_of_the_live_tables():
    live = counters.read_counters()
    for key in K.with_usage():
        usage = key.usage
        if usage.per == "host" and usage.table != "conntrack":  # conntrack: when loaded
            assert live.get(usage.table, usage.field) is not None, key.name
    for name, (_, s) in K.symptoms().items():
        if s.table == "TcpExt":
            assert live.get("TcpExt", name) is not None, name


def test_kernel_log_records_are_counted_after_the_last_one_seen():
    texts = ["too many orphaned sockets", "VFS: file-max limit"]
    records = [
        b"6,100,5,-;TCP: too many orphaned sockets",
        b"6,101,6,-;something else",
        b"4,102,7,-;VFS: file-max limit 1000 reached",
        b"garbage",
    ]
    log = counters.KernelLog(counts=dict.fromkeys(texts, 0), last_seq=100)
    counters.count_records(records, texts, log)
    assert log.counts == {"too many orphaned sockets": 0, "VFS: file-max limit": 1}
    assert log.last_seq == 102 and log.records == 4


def test_the_live_kernel_log_is_read_or_says_why_not():
    log = counters.read_kernel_log(["no such message, surely"])
    if os.geteuid() == 0:
        assert log.unread is None and log.records > 0 and log.last_seq > 0
    else:
        assert log.unread or log.records >= 0


def test_port_range_bytecode_accepts_exactly_the_range():
    code = sockets.port_range_bytecode(40000, 40099)
    ops = [code[i : i + 4] for i in range(0, len(code), 4)]
    assert [op[0] for op in ops] == [sockets.BC_S_GE, 0, sockets.BC_S_LE, 0]
    assert int.from_bytes(ops[1][2:], "little") == 40000
    assert int.from_bytes(ops[3][2:], "little") == 40099
    # a `no` jump lands 4 past the end: rejected (inet_diag_bc_run returns len == 0)
    assert int.from_bytes(ops[0][2:], "little") == len(code) + 4
    assert int.from_bytes(ops[2][2:], "little") == len(code) - 8 + 4


@pytest.fixture
def loopback_pair():
    """A listener on 127.0.0.1 (backlog 7), one connection in its accept queue, and one
    accepted: sockets on the loopback of the namespace the test runs in, no setting
    changed."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(7)
    port = lsock.getsockname()[1]
    a = socket.create_connection(("127.0.0.1", port))
    served = lsock.accept()[0]
    b = socket.create_connection(("127.0.0.1", port))  # left in the accept queue
    try:
        yield lsock, port, (a, b)
    finally:
        for s in (a, b, served, lsock):
            s.close()


def test_listeners_have_their_queue_backlog_and_inode(loopback_pair):
    lsock, port, _ = loopback_pair
    mine = [s for s in sockets.listeners() if s.port == port]
    assert len(mine) == 1
    somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
    assert (mine[0].address, mine[0].queue, mine[0].backlog) == ("127.0.0.1", 1, min(7, somaxconn))
    assert mine[0].inode == os.fstat(lsock.fileno()).st_ino


def test_ports_counts_the_connecting_ends_only(loopback_pair):
    _, port, clients = loopback_pair
    lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert all(lo <= c.getsockname()[1] <= hi for c in clients)
    found = sockets.ports(lo, hi, {port})
    assert found.by_destination[("127.0.0.1", "127.0.0.1", port)] == 2  # not the accepted end


def test_descriptor_count_by_stat_is_the_listing(loopback_pair):
    if not processes.fd_count_from_stat():
        pytest.skip("this kernel does not count descriptors in stat (before 6.2)")
    pid = os.getpid()
    by_stat = processes.fd_count(pid, by_stat=True)
    listed = processes.fd_count(pid, by_stat=False)
    assert by_stat == listed - 1  # the listing holds one more: its own directory descriptor


def test_open_files_limits_are_the_processes_own(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert processes.nofile_limits(os.getpid()) == (soft, hard)  # prlimit(2)
    (tmp_path / "proc").symlink_to("/proc")  # the same, read from /proc/PID/limits
    assert processes.nofile_limits(os.getpid(), tmp_path / "proc") == (soft, hard)
    mine = [p for p in processes.open_files() if p.pid == os.getpid()]
    assert mine and mine[0].soft == soft and mine[0].count > 3


def test_unlimited_and_missing_limits(tmp_path):
    write_tree(
        tmp_path,
        {"1/limits": "Max open files            unlimited            unlimited            files\n"},
    )
    assert processes.nofile_limits(1, tmp_path) == (None, None)
    assert processes.nofile_limits(2, tmp_path) == (None, None)


def test_the_owner_of_a_socket_is_found_within_its_budget(loopback_pair):
    lsock, _, _ = loopback_pair
    inode = os.fstat(lsock.fileno()).st_ino
    owners = processes.socket_owners({inode})
    assert os.getpid() in owners.by_inode[inode]
    tight = processes.socket_owners({inode}, budget=1)
    assert not tight.complete and tight.readlinks == 1


def test_one_dump_lists_ipv6_and_ipv4_together():
    try:
        six = socket.socket(socket.AF_INET6)
        six.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    four = socket.socket()
    four.bind(("127.0.0.1", 0))
    try:
        six.listen(3)
        four.listen(3)
        found = {(s.address, s.port) for s in sockets.listeners()}
        assert ("::1", six.getsockname()[1]) in found
        assert ("127.0.0.1", four.getsockname()[1]) in found
        port = six.getsockname()[1]
        with socket.create_connection(("::1", port)):
            lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
            assert sockets.ports(lo, hi, {port}).by_destination[("::1", "::1", port)] == 1
    finally:
        six.close()
        four.close()
