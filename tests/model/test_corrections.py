"""The capacity model's corrections against the kernel source (issue 9), one test each, and
profiles naming any sysctl. Each of these failed against the model before the corrections."""

import json
import math

import helpers
import pytest
from helpers import TUNED, invoke, sysctl_files, write_tree

from tunekit.errors import KeyNameError
from tunekit.knowledge import catalogue
from tunekit.model import capacity
from tunekit.model import constants as model_constants
from tunekit.model import targets as model_targets
from tunekit.model.check import check_target
from tunekit.model.facts import HostFacts
from tunekit.model.plan import Options, build_plan
from tunekit.model.profiles import Profile, Target, Workload
from tunekit.probe import verdicts

C = model_constants.constants()
GIB = 2**30


HOST = {
    "fs.nr_open": "1048576",
    "net.ipv4.tcp_mem": "287898 383866 575796",
    "net.ipv4.tcp_syncookies": "1",
    "net.core.somaxconn": "4096",
    "net.ipv4.ip_local_port_range": "32768 60999",
    "net.ipv4.tcp_max_tw_buckets": "131072",
    "net.ipv4.tcp_fin_timeout": "60",
    "net.ipv4.tcp_max_syn_backlog": "1024",
}


def facts(mem_gib=24, **sysctls) -> HostFacts:
    return helpers.facts(
        preset=HOST, mem_gib=mem_gib, nofile=(20000, 20000), addresses=["10.0.0.1"], **sysctls
    )


def server(**kw) -> Workload:
    return Workload(
        **{
            "role": "server",
            "connections": 1_000_000,
            "rate": 20_000,
            "bytes_buffered": 4096,
            "app_bytes": 8192,
            **kw,
        }
    )


def targets(w, f=None, c=C, **kw) -> dict:
    return {t.label: t for t in model_targets.derive_targets(w, f or facts(), c, **kw)}


def fake_root(tmp_path, mem_gib: int, **overrides):
    files = sysctl_files({**TUNED, **overrides})
    files["proc/meminfo"] = (
        f"MemTotal: {mem_gib * 2**20} kB\nMemAvailable: {(mem_gib - 1) * 2**20} kB\n"
    )
    return write_tree(tmp_path / "root", files)


# --- 1. tcp_mem: sized from the measured charge, never past what the host can back ---------


def test_buffered_bytes_are_charged_by_skb_truesize_in_whole_pages():
    # measured with `tunekit probe --send` on 6.18 loopback (bench/send.py)
    for sent, pages in [(1024, 1), (3200, 1), (3300, 2), (4096, 2), (16384, 5), (65536, 17)]:
        w = server(connections=1, bytes_buffered=sent)
        assert capacity.buffer_pages(w, HostFacts(), C) == pages, sent


def test_tcp_mem_max_never_passes_half_of_ram_and_an_unfit_workload_says_so():
    est = capacity.estimate(server(connections=10_000_000), facts(24), C)
    cap = 24 * GIB // 2 // 4096
    tcp_mem = targets(server(connections=10_000_000))["net.ipv4.tcp_mem"].value
    assert tcp_mem[2] == cap and tcp_mem == sorted(tcp_mem)
    assert est.unfit and "does not fit" not in est.unfit[0]  # the reason, not a slogan
    assert "20,000,000 pages" in est.unfit[0]
    backable = next(lim for lim in est.limits if lim.name.startswith("TCP buffer memory this"))
    assert backable.allows < 10_000_000 and backable.key == "net.ipv4.tcp_mem"


def test_a_workload_that_fits_keeps_its_need_under_min():
    t = targets(server(connections=100_000))["net.ipv4.tcp_mem"].value
    need = 100_000 * 2
    assert t[0] >= need * C["headroom"] and t[1] > t[0] and t[2] == 2 * t[0]


def test_check_fails_a_tcp_mem_max_above_what_the_host_can_back():
    # from a tuning guide: 32 GiB of max on a 32 GB machine
    f = facts(30, net__ipv4__tcp_mem="786432 4194304 8388608")
    cap = next(
        t
        for t in model_targets.derive_targets(server(connections=1000), f, C)
        if t.label == "net.ipv4.tcp_mem[2]"
    )
    finding = check_target(cap, f)
    assert finding.verdict == "fail" and finding.proposed[2] == 30 * GIB // 2 // 4096


def test_snapshot_tcp_mem_is_judged_with_mem_total_and_says_so_without(tmp_path, isolated_home):
    snap = tmp_path / "snap.txt"
    snap.write_text("net.ipv4.tcp_mem = 786432 4194304 8388608\nnet.core.somaxconn = 4096\n")
    r = invoke("check", "server-1M", "--snapshot", str(snap), "--json")
    doc = json.loads(r.stdout)
    assert not any(f["key"] == "net.ipv4.tcp_mem[2]" for f in doc["findings"])
    assert any("physical memory unknown" in e for e in doc["environment"])
    r = invoke("check", "server-1M", "--snapshot", str(snap), "--mem-total", "32G", "--json")
    found = {f["key"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["net.ipv4.tcp_mem[2]"]["verdict"] == "fail"
    r = invoke("check", "server-1M", "--mem-total", "32G")
    assert r.exit_code == 2 and "--mem-total goes with --snapshot" in r.stderr


def test_apply_10m_on_24_gib_proposes_no_tcp_mem_the_host_cannot_back(tmp_path, isolated_home):
    root = fake_root(tmp_path, 24)
    r = invoke("apply", "server-1M", "--conns", "10M", "--root", str(root), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    tcp_mem = next(c["new"] for c in doc["changes"] if c["key"] == "net.ipv4.tcp_mem")
    assert int(tcp_mem.split()[2]) <= 24 * GIB // 2 // 4096
    assert doc["unfit"]
    text = invoke("apply", "server-1M", "--conns", "10M", "--root", str(root), "--dry-run").stdout
    assert "DOES NOT FIT THIS HOST" in text


# --- 2. the soft open-files limit stays 1024 but where the workload lives ---------------------


def _nofile_plan(**opts):
    f = facts()
    findings = [check_target(t, f) for t in model_targets.derive_targets(server(), f, C)]
    return {
        fw.path: fw.content
        for fw in build_plan(findings, f, "p", "", "/", Options(**opts), {}).files
    }


def test_hard_limit_everywhere_soft_only_in_the_unit():
    files = _nofile_plan(unit="push")
    limits = files["etc/security/limits.d/90-tunekit.conf"]
    assert "hard nofile 1001024" in limits and "soft nofile" not in limits
    systemd = files["etc/systemd/system.conf.d/90-tunekit.conf"]
    assert "DefaultLimitNOFILE=1024:1001024" in systemd
    assert "systemd 223" in systemd and "daemon-reload" in systemd
    assert (
        "LimitNOFILE=1001024:1001024" in files["etc/systemd/system/push.service.d/90-tunekit.conf"]
    )


def test_soft_everywhere_only_when_the_profile_asks():
    files = _nofile_plan(soft_everywhere=True)
    assert "*    soft nofile 1001024" in files["etc/security/limits.d/90-tunekit.conf"]
    assert (
        "DefaultLimitNOFILE=1001024:1001024" in files["etc/systemd/system.conf.d/90-tunekit.conf"]
    )


def test_own_soft_limit_is_not_judged_without_a_workload_process():
    f = facts()
    soft = next(t for t in model_targets.derive_targets(server(), f, C) if t.key.endswith("soft"))
    assert check_target(soft, f).verdict == "not-applicable"
    f.nofile_is_workload = True
    assert check_target(soft, f).verdict == "fail"


# --- 3. conntrack: the kernel's ratio, and a pair that holds however the module loads --------


def test_conntrack_buckets_follow_the_kernel_ratio_and_the_modprobe_file_restores_max():
    w = Workload(role="host", connections=2_000_000, rate=10_000)
    f = facts(
        net__netfilter__nf_conntrack_max="262144", net__netfilter__nf_conntrack_buckets="262144"
    )
    t = targets(w, f)
    ct_max = t["net.netfilter.nf_conntrack_max"].value
    assert t["net.netfilter.nf_conntrack_buckets"].value == ct_max
    findings = [check_target(x, f) for x in t.values()]
    plan = build_plan(findings, f, "p", "", "/", Options(), {})
    modprobe = next(fw.content for fw in plan.files if "modprobe.d" in fw.path)
    assert f"options nf_conntrack hashsize={ct_max}\n" in modprobe
    assert (
        f"install nf_conntrack /sbin/modprobe --ignore-install nf_conntrack $CMDLINE_OPTS "
        f"&& echo {ct_max} > /proc/sys/net/netfilter/nf_conntrack_max"
    ) in modprobe
    sysctl_d = next(fw.content for fw in plan.files if "sysctl.d" in fw.path)
    assert f"net.netfilter.nf_conntrack_max = {ct_max}" in sysctl_d


def test_conntrack_figure_says_it_is_for_plain_tracking():
    est = capacity.estimate(Workload(role="host", connections=1000), facts(), C)
    assert any("plain tracking" in n.detail for n in est.needs if n.name == "conntrack_bytes")


# --- 4. the SYN queue: tcp_max_syn_backlog only matters with syncookies off --------------------


def test_no_syn_backlog_target_or_rate_limit_while_syncookies_are_on():
    assert "net.ipv4.tcp_max_syn_backlog" not in targets(server())
    est = capacity.estimate(server(), facts(), C)
    assert not any(lim.key == "net.ipv4.tcp_max_syn_backlog" for lim in est.rate_limits)
    assert any("listen() backlog is unknown" in n and "ss -lnt" in n for n in est.notes)


def test_syn_backlog_is_a_target_when_the_profile_turns_cookies_off():
    prof = Profile(
        name="p",
        workload=server(),
        targets=[
            Target(key="net.ipv4.tcp_syncookies", op="exactly", value=0, reason="r", source="s")
        ],
    )
    found = {t.label for t in model_targets.resolve_targets(prof, facts(), C)}
    assert "net.ipv4.tcp_max_syn_backlog" in found
    est = capacity.estimate(server(), facts(net__ipv4__tcp_syncookies="0"), C)
    assert any(lim.key == "net.ipv4.tcp_max_syn_backlog" for lim in est.rate_limits)


def test_accept_queue_is_the_smaller_of_backlog_and_somaxconn():
    est = capacity.estimate(server(listen_backlog=511), facts(), C)
    accept = next(lim for lim in est.rate_limits if lim.key == "net.core.somaxconn")
    assert accept.allows == 511 * 1000 // 500


def test_probe_blames_a_full_syn_queue_on_the_listen_backlog():
    assert verdicts.counter_limits()["TCPReqQFullDrop"][0] == "net.core.somaxconn"


# --- 5. orphans and TIME_WAIT -------------------------------------------------------------------


def test_lowering_fin_timeout_does_not_lower_the_orphan_target():
    long = targets(server(), facts(net__ipv4__tcp_fin_timeout="60"))["net.ipv4.tcp_max_orphans"]
    short = targets(server(), facts(net__ipv4__tcp_fin_timeout="5"))["net.ipv4.tcp_max_orphans"]
    assert long.value == short.value == math.ceil(20_000 * C["orphan_seconds"] * C["headroom"])


def test_time_wait_is_held_only_by_the_side_that_closes_first():
    remote = server(closes="remote")
    assert "net.ipv4.tcp_max_tw_buckets" not in targets(remote)
    assert capacity.estimate(remote, facts(), C).need("time_wait_sockets") == 0
    tw = targets(server())["net.ipv4.tcp_max_tw_buckets"]
    assert "TCPTimeWaitOverflow" in tw.reason and "silently" in tw.reason


# --- 6. smaller ones ------------------------------------------------------------------------------


def test_receive_buffer_target_means_something():
    t = targets(server())["net.ipv4.tcp_rmem[1]"]
    assert t.value == 4096 + 896
    assert check_target(t, facts(net__ipv4__tcp_rmem="4096 4096 4096")).verdict == "fail"
    assert "net.ipv4.tcp_wmem[2]" not in targets(server())


def test_syncookies_two_is_not_one():
    prof = Profile.model_validate(
        {
            "name": "p",
            "workload": server().model_dump(),
            "targets": [
                {
                    "key": "net.ipv4.tcp_syncookies",
                    "op": "exactly",
                    "value": 1,
                    "reason": "r",
                    "source": "s",
                }
            ],
        }
    )
    assert check_target(prof.targets[0], facts(net__ipv4__tcp_syncookies="2")).verdict == "fail"


def test_client_full_port_range_reserves_the_hosts_listening_ports():
    f = facts()
    f.listening = [22, 8080, 9000, 9001, 70]
    t = targets(Workload(role="client", connections=1_000_000, source_ips=1), f)
    assert t["net.ipv4.ip_local_port_range"].value == [1024, 65535]
    assert t["net.ipv4.ip_local_reserved_ports"].value == "8080,9000-9001"


def test_reason_follows_the_time_wait_constant_and_syn_bytes_counts():
    c = model_constants.constants({"time_wait_seconds": 30})
    assert "x 30 s TIME_WAIT" in targets(server(), c=c)["net.ipv4.tcp_max_tw_buckets"].reason
    more = capacity.estimate(server(), facts(), model_constants.constants({"syn_bytes": 10_320}))
    base = capacity.estimate(server(), facts(), C)
    assert more.need("memory_total") - base.need("memory_total") == 20_000 * 10_000


# --- any sysctl in a profile ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("net.nf_conntrack_max", "net.netfilter.nf_conntrack_max"),
        ("net/core/somaxconn", "net.core.somaxconn"),
        ("net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter"),
        ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_time"),
    ],
)
def test_names_resolve(name, canonical):
    assert catalogue.lookup(name).name == canonical


@pytest.mark.parametrize(
    "name",
    [
        "net/../../etc/passwd",
        "net..core",
        "/",
        "net.core.",
        "a",
        "net/core/some maxconn",
        "net/core/\x00",
    ],
)
def test_names_that_are_not_paths_are_refused(name):
    with pytest.raises(KeyNameError):
        catalogue.lookup(name)


def test_generic_key_shape_comes_from_the_values():
    t = Target(
        key="net.ipv4.tcp_congestion_control", op="exactly", value="bbr", reason="r", source="s"
    )
    f = HostFacts(sysctls={"net.ipv4.tcp_congestion_control": "cubic"})
    finding = check_target(t, f)
    assert finding.verdict == "fail" and finding.proposed == "bbr"
    assert finding.fix == "sysctl -w net.ipv4.tcp_congestion_control=bbr"
    with pytest.raises(ValueError, match="exactly"):
        Target(
            key="net.ipv4.tcp_congestion_control",
            op="at_least",
            value="bbr",
            reason="r",
            source="s",
        )
    absent = check_target(
        Target(key="net.ipv4.no_such_key", value=1, reason="r", source="s"),
        HostFacts(kernel="6.18"),
    )
    assert absent.verdict == "missing" and "6.18" in absent.actual


def test_reserved_ports_compare_as_sets_and_never_expand():
    t = Target(
        key="net.ipv4.ip_local_reserved_ports", value="8080,9000-9010", reason="r", source="s"
    )
    f = HostFacts(sysctls={"net.ipv4.ip_local_reserved_ports": "22,9000-9005"})
    finding = check_target(t, f)
    assert finding.verdict == "fail"
    assert finding.fix == "sysctl -w net.ipv4.ip_local_reserved_ports=22,8080,9000-9010"
    huge = HostFacts(sysctls={"net.ipv4.ip_local_reserved_ports": "1-20000000"})
    assert check_target(t, huge).verdict == "unreadable"  # refused at once, not expanded


def test_contradictory_targets_on_one_key_are_refused():
    from tunekit.errors import UsageError

    f = facts()
    ts = [
        Target(key="net.ipv4.tcp_mem", value=[10, 20, 30], reason="r", source="s"),
        Target(key="net.ipv4.tcp_mem", op="at_most", value=5, index=2, reason="r", source="s"),
    ]
    with pytest.raises(UsageError, match="contradict"):
        build_plan([check_target(t, f) for t in ts], f, "p", "", "/", Options(), {})
