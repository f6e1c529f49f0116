"""tunekit probe on the real kernel, at small N.

Settings are changed only inside a throw-away network namespace (`unshare -n`) that the
probe then starts from; the probe itself works in a namespace of its own. The host's
values are compared before and after."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, require_privileges, require_tool, run_tunekit

NET_KEYS = [
    p for d in ("core", "ipv4") for p in sorted(Path("/proc/sys/net", d).iterdir()) if p.is_file()
]


def net_sysctls() -> dict[str, str]:
    out = {}
    for p in NET_KEYS:
        try:
            out[p.name] = p.read_text()
        except OSError:
            pass
    return out


def probe_in_netns(setup: str, *args: str, env=None) -> tuple[int, dict]:
    """Run `setup` (shell, writing /proc/sys) in a fresh namespace, then probe from it."""
    cmd = f"{setup}\nexec {sys.executable} -m tunekit probe --json " + " ".join(args)
    done = subprocess.run(
        ["unshare", "-n", "sh", "-ec", cmd],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(autouse=True)
def privileged():
    require_privileges()


def test_probe_holds_3000_with_sane_memory_and_leaves_the_host_alone():
    before = net_sysctls()
    seen = []
    # The slab figure is a difference of the host's whole /proc/meminfo Slab: another
    # process freeing 200 MB of slab meanwhile (seen once in a full suite: per_socket
    # -33,301) makes one run's figure meaningless, not the probe wrong. Up to 3 runs for a
    # steady reading; everything else is asserted on every run.
    for _ in range(3):
        res = run_tunekit("probe", "--conns", "3000", "--hold", "1", "--json", timeout=180)
        assert res.returncode == 0, res.stderr
        r = json.loads(res.stdout)
        assert r["complete"] and r["established"] == 3000 and r["held"] == 3000
        assert r["failure"] is None and r["rate"] > 0
        mem = r["memory"]
        assert mem["sockets"] == 6000
        assert mem["diff_percent"] is not None and "TCP" in mem["caches"]
        assert net_sysctls() == before  # nothing written in the namespace it started from
        seen.append(mem["per_socket"])
        # an idle TCP socket costs a few KB of slab (TCP 2,368 B object, inode, dentry, file)
        if 2_500 < mem["per_socket"] < 8_000:
            break
    else:
        pytest.fail(f"per-socket slab never in 2,500-8,000 B in 3 runs: {seen}")


def test_narrow_port_range_stops_near_500_as_the_estimate_predicted():
    setup = "echo '40000 40499' > /proc/sys/net/ipv4/ip_local_port_range"
    code, r = probe_in_netns(
        setup, "--conns", "3000", "--source-ips", "1", "--destinations", "1", "--hold", "0"
    )
    assert code == 1
    assert 450 <= r["established"] <= 500
    assert r["failure"]["kind"] == "EADDRNOTAVAIL"
    assert r["failure"]["key"] == "net.ipv4.ip_local_port_range"
    assert "net.ipv4.ip_local_port_range" in r["namespace"]["sysctls_copied"]
    assert r["estimate"]["predicted_stop"] == 500 and r["estimate"]["agrees"] is True
    # and tunekit estimate, in the same settings, names the same limit at the same count
    est = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-ec",
            f"{setup}\nexec {sys.executable} -m tunekit estimate "
            "--role client --conns 3000 --source-ips 1 --destinations 1 --json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    binding = json.loads(est.stdout)["binding"]
    assert (binding["key"], binding["allows"]) == ("net.ipv4.ip_local_port_range", 500)


def test_lowered_worker_open_files_limit_is_reported_as_emfile():
    res = run_tunekit(
        "probe", "--conns", "3000", "--nofile", "300", "--hold", "0", "--json", timeout=180
    )
    assert res.returncode == 1, res.stderr
    r = json.loads(res.stdout)
    assert r["failure"]["kind"] == "EMFILE" and r["failure"]["key"] == "rlimit.nofile.soft"
    assert r["established"] < 300 and r["layout"]["nofile"] == 300


def test_a_low_hard_limit_is_met_by_more_workers_not_by_failing():
    res = subprocess.run(
        [
            "prlimit",
            "--nofile=600:600",
            sys.executable,
            "-m",
            "tunekit",
            "probe",
            "--conns",
            "3000",
            "--hold",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["held"] == 3000 and r["layout"]["connect_workers"] == 6  # 3000 / 583 per worker


def test_every_destination_has_its_own_acceptors():
    # 3000 over 4 listeners: 750 each; 580 sockets per worker, so 2 acceptors per listener
    res = subprocess.run(
        [
            "prlimit",
            "--nofile=600:600",
            sys.executable,
            "-m",
            "tunekit",
            "probe",
            "--conns",
            "3000",
            "--destinations",
            "4",
            "--hold",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["layout"]["connect_workers"] == 6 and r["layout"]["accept_workers"] == 8
    assert r["accepted"] == 3000 and r["held"] == 3000


def test_worker_channels_above_select_s_limit():
    """The coordinator's channels to its workers get descriptors above 1,024, where select()
    fails: 1,100 descriptors are already open when it starts (inherited through exec)."""
    script = (
        "import os, sys; fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(1100)]\n"
        "[os.set_inheritable(fd, True) for fd in fds]\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'tunekit', 'probe', '--conns', "
        "'300', '--destinations', '3', '--source-ips', '1', '--hold', '0', '--json'])"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["layout"]["accept_workers"] == 3 and r["held"] == 300


def test_low_somaxconn_with_accepting_paused_is_seen_and_attributed():
    code, r = probe_in_netns(
        "echo 16 > /proc/sys/net/core/somaxconn",
        "--conns",
        "200",
        "--accept-pause",
        "1500",
        "--hold",
        "0",
        "--connect-timeout",
        "1",
    )
    assert code == 1
    assert r["failure"]["kind"] in ("ListenOverflows", "ListenDrops")
    assert r["failure"]["key"] == "net.core.somaxconn"
    assert "net.core.somaxconn" in r["namespace"]["sysctls_copied"]


def test_conntrack_fills_as_on_a_firewall():
    require_tool("nft")
    res = run_tunekit(
        "probe", "--conns", "2000", "--conntrack", "--hold", "0", "--json", timeout=180
    )
    assert res.returncode == 0, res.stderr
    mem = json.loads(res.stdout)["memory"]
    assert mem["conntrack_entries"] >= 2000
    assert 128 <= mem["per_conntrack_entry"] <= 512


def test_calibrate_writes_what_estimate_then_uses(tmp_path):
    env = {**os.environ, "TUNEKIT_STATE_DIR": str(tmp_path)}
    res = run_tunekit(
        "probe", "--conns", "3000", "--hold", "0", "--calibrate", "--json", env=env, timeout=180
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["calibration"]["path"] == str(tmp_path / "calibration.toml")
    assert r["calibration"]["used"] is True  # one type in every document
    est = json.loads(run_tunekit("estimate", "--conns", "1000", "--json", env=env).stdout)
    assert est["calibration"]["used"] is True
    assert est["constants"]["socket_bytes"] == round(r["memory"]["per_socket"], 1)


def _processes_in(netns: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == netns:
                out.append(int(pid))
        except OSError:
            pass
    return out


def _start_holding(*args: str) -> tuple[subprocess.Popen, str, list[int]]:
    """A probe that is holding its connections: its process, namespace and workers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunekit", "probe", "--hold", "60", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=REPO,
    )
    for line in proc.stderr:
        if "holding" in line:
            break
    else:
        pytest.fail(f"the probe never held: exit {proc.wait()}")
    netns = os.readlink(f"/proc/{proc.pid}/ns/net")
    workers = [
        int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    ]
    assert len(workers) >= 2 and netns != os.readlink("/proc/self/ns/net")
    return proc, netns, workers


def _gone(proc: subprocess.Popen, netns: str, workers: list[int]) -> None:
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while _processes_in(netns) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in(netns) == [], "a process was left in the probe's namespace"
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "a worker was left"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_probe_leaves_no_process_and_no_namespace(sig):
    namespaces = subprocess.run(
        ["lsns", "-t", "net", "-n", "-o", "NS"], capture_output=True, text=True
    ).stdout.split()
    proc, netns, workers = _start_holding("--conns", "20000")
    os.killpg(proc.pid, sig)  # as Ctrl-C does: the whole process group
    _gone(proc, netns, workers)
    assert proc.returncode == 130
    after = subprocess.run(
        ["lsns", "-t", "net", "-n", "-o", "NS"], capture_output=True, text=True
    ).stdout.split()
    # the probe's own namespace is gone (another program on the host may make its own
    # meanwhile: a namespace that is not the probe's says nothing of the probe)
    ours = netns.partition("[")[2].rstrip("]")
    assert ours and ours not in after and ours not in namespaces, (ours, after)


def test_a_worker_that_dies_is_reported_and_everything_is_torn_down():
    proc, netns, workers = _start_holding("--conns", "20000", "--json")
    os.kill(workers[0], signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    r = json.loads(out)
    assert proc.returncode == 1
    assert r["failure"]["kind"] == "worker_died" and "SIGKILL" in r["failure"]["detail"]
    _gone(proc, netns, workers)


def test_rate_paces_the_connections():
    res = run_tunekit(
        "probe", "--conns", "2000", "--rate", "2000", "--hold", "0", "--json", timeout=180
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["connect_seconds"] >= 0.9 and r["rate"] <= 2_300, r


def test_connections_never_accepted_time_out_and_are_blamed_on_the_symptom():
    code, r = probe_in_netns(
        "echo 16 > /proc/sys/net/core/somaxconn",
        "--conns",
        "200",
        "--accept-pause",
        "4000",
        "--connect-timeout",
        "1",
        "--hold",
        "0",
    )
    assert code == 1
    timeouts = [e for e in r["events"] if e["kind"] == "timeout"]
    assert timeouts and timeouts[0]["key"] == "net.core.somaxconn", r["events"]
    assert r["failure"]["kind"] in ("ListenOverflows", "ListenDrops")


@pytest.mark.parametrize("send, pages", [(1024, 1), (4096, 2)])
def test_sent_bytes_sit_in_receive_queues_and_cost_what_the_model_says(send, pages, tmp_path):
    """Bytes never read are charged to tcp_mem in whole pages per socket (skb truesize):
    1 KiB is one page, 4 KiB two. The probe's namespace gets default buffers that fit them;
    the host's own settings stay as they were. 10,000 connections: sockstat's TCP mem leaves
    out up to net.core.mem_pcpu_rsv (256) pages per CPU, which would be noise at fewer."""
    before = net_sysctls()
    res = run_tunekit(
        "probe",
        "--conns",
        "10000",
        "--send",
        str(send),
        "--hold",
        "0",
        "--calibrate",
        "--state-dir",
        str(tmp_path),
        "--json",
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    mem = r["memory"]
    assert r["held"] == 10000 and mem["send"] == send
    assert mem["estimate_tcp_mem_pages_per_conn"] == pages
    assert abs(mem["tcp_mem_pages_per_conn"] - pages) / pages < 0.10, mem
    assert abs(mem["buffer_diff_percent"]) < 10
    assert r["buffers_set"]  # the namespace's tcp_wmem was raised to fit one send()
    factor = (tmp_path / "calibration.toml").read_text()
    assert "buffer_factor" in factor and "socket_bytes" not in factor
    assert net_sysctls() == before


def test_workers_run_without_capabilities():
    """With CAP_SYS_ADMIN a process opens files past fs.file-max (alloc_empty_file): a root
    probe's workers drop every capability, so they meet the limit a service meets."""
    proc, netns, workers = _start_holding("--conns", "2000")
    try:
        for pid in workers:
            status = Path(f"/proc/{pid}/status").read_text()
            eff = next(line for line in status.splitlines() if line.startswith("CapEff:"))
            assert int(eff.split()[1], 16) == 0, f"worker {pid}: {eff}"
        own = Path(f"/proc/{proc.pid}/status").read_text()
        assert "CapEff:\t0000000000000000" not in own  # the coordinator keeps its own
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _gone(proc, netns, workers)
