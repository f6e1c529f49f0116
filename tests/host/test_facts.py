"""The host layer against fake root trees, a real `sysctl -a`, and real processes."""

import os
import resource
import subprocess
from pathlib import Path

import pytest
from helpers import TUNED, child_with_nofile, require_tool, sysctl_files, write_tree

from tunekit.errors import NotPermitted, UsageError
from tunekit.host import facts as host
from tunekit.host import processes


def test_fake_root_is_read(tuned_root):
    f = host.read_facts(tuned_root)
    assert f.source == f"root {tuned_root}"
    assert f.int_value("net.core.somaxconn") == 65535
    assert f.ints("net.ipv4.tcp_mem") == [2500000, 3400000, 5000000]
    assert f.sysctls["net.ipv4.ip_local_port_range"] == "1024 65535"
    assert f.mem_available == 64000000 * 1024
    assert f.cap_sys_resource is True
    assert f.counters["files_allocated"] == 1000
    assert f.kernel == "6.18.0-test"
    assert f.child_netns is False
    assert f.nofile is None  # rlimits are a live process's, not a tree's


def test_child_netns_is_inferred_from_hidden_global_keys(tmp_path):
    values = {k: v for k, v in TUNED.items() if k != "net.ipv4.tcp_mem"}
    root = write_tree(tmp_path, sysctl_files(values))
    assert host.read_facts(root).child_netns is True


def test_capability_bits_and_modules(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "proc/self/status": "CapEff:\t000001fffeffffff\n",
            "proc/modules": "nf_conntrack 1 0 - Live 0x0\n",
            "sys/module/tcp_cubic/parameters/x": "",
        },
    )
    f = host.read_facts(root)
    assert f.cap_sys_resource is False  # bit 24 clear, as on this project's VMs
    assert {"nf_conntrack", "tcp_cubic"} <= f.modules


def test_netstat_symptom_counters(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "proc/net/netstat": "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
            "TcpExt: 0 7 9\nIpExt: InNoRoutes\nIpExt: 0\n"
        },
    )
    f = host.read_facts(root)
    assert f.counters["ListenOverflows"] == 7 and f.counters["ListenDrops"] == 9


def test_missing_root_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        host.read_facts(tmp_path / "nope")


def test_live_host_matches_proc():
    f = host.read_facts(Path("/"))
    assert f.source == "live"
    assert f.int_value("fs.file-max") == int(Path("/proc/sys/fs/file-max").read_text())
    assert f.nofile == resource.getrlimit(resource.RLIMIT_NOFILE)
    assert f.kernel == os.uname().release


def test_snapshot_of_a_real_sysctl_a(tmp_path):
    sysctl = require_tool("sysctl")
    snap = tmp_path / "sysctl.txt"
    snap.write_text(subprocess.run([sysctl, "-a"], capture_output=True, text=True).stdout)
    f = host.read_snapshot(snap)
    for key in (
        "fs.file-max",
        "net.core.somaxconn",
        "net.ipv4.tcp_mem",
        "net.ipv4.ip_local_port_range",
    ):
        live = " ".join(Path("/proc/sys/" + key.replace(".", "/")).read_text().split())
        assert f.sysctls[key] == live
    assert f.nofile is None and f.source.startswith("snapshot")


def test_malformed_snapshot_names_the_line(tmp_path):
    snap = tmp_path / "s.txt"
    snap.write_text("fs.file-max = 5\nthis is not a sysctl line\n")
    with pytest.raises(UsageError, match="line 2"):
        host.read_snapshot(snap)


def test_rlimits_of_a_real_child_process():
    with child_with_nofile(333, 4444) as pid:
        limits, who = processes.nofile_of_pid(pid)
    assert limits == (333, 4444) and str(pid) in who


def test_pid_that_does_not_exist():
    with pytest.raises(UsageError, match="no such process"):
        processes.nofile_of_pid(2**22 + 12345)


def test_unit_without_systemd_is_not_available(tmp_path):
    with pytest.raises(NotPermitted, match="not available here"):
        processes.nofile_of_unit("nginx.service", root=tmp_path)
