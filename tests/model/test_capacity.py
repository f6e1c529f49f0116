"""The capacity model over plain data: no files, no kernel."""

import math
from functools import partial

import helpers
import pytest

from tunekit.errors import UsageError
from tunekit.model import capacity
from tunekit.model import constants as model_constants
from tunekit.model import targets as model_targets
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Profile, Workload

C = model_constants.constants()


# A fresh 6.18 host of 64 GiB (the VM's live values where it matters)
HOST = {
    "fs.file-max": "2466183",
    "fs.nr_open": "1048576",
    "net.ipv4.ip_local_port_range": "32768 60999",
    "net.ipv4.tcp_mem": "287901 383869 575802",
    "net.ipv4.tcp_max_tw_buckets": "131072",
    "net.core.somaxconn": "4096",
    "net.ipv4.tcp_max_syn_backlog": "2048",
}
facts = partial(
    helpers.facts,
    preset=HOST,
    nofile=(20000, 20000),
    nofile_of="test",
    mem_total=64 * 2**30,
    mem_available=60 * 2**30,
    addresses=["10.0.0.1"],
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


def test_server_needs_follow_the_named_constants():
    est = capacity.estimate(server(), facts(), C)
    assert est.need("fds_per_process") == 1_000_000 + C["fd_reserve"]
    assert est.need("kernel_socket_bytes") == 1_000_000 * C["socket_bytes"]
    # 4,096 B + one skb's overhead (896 B) is past one page: two pages per connection
    assert est.need("tcp_mem_pages") == 1_000_000 * 2
    assert est.need("time_wait_sockets") == 20_000 * 60
    assert est.need("accept_backlog") == 20_000 * 500 // 1000
    total = (
        1_000_000 * (C["socket_bytes"] + 2 * 4096 + 8192)
        + 20_000 * 60 * C["tw_bytes"]
        + 20_000 * C["syn_bytes"]
    )
    assert est.need("memory_total") == math.ceil(total)


def test_open_files_limit_binds_first_with_a_20000_hard_limit():
    est = capacity.estimate(server(), facts(), C)
    # tunekit's own soft limit says nothing of the workload's: the hard limit binds
    assert est.binding.key == "rlimit.nofile.hard"
    assert est.capacity == 20000 - C["fd_reserve"]
    workload = facts()
    workload.nofile, workload.nofile_is_workload = (1024, 20000), True
    est = capacity.estimate(server(), workload, C)
    assert est.binding.key == "rlimit.nofile.soft" and est.capacity == 0
    assert [lim.allows for lim in est.limits] == sorted(lim.allows for lim in est.limits)


def test_processes_multiply_the_per_process_limits():
    est = capacity.estimate(server(processes=8), facts(), C)
    assert est.capacity == (20000 - C["fd_reserve"]) * 8


def test_client_ports_times_source_ips_times_destinations():
    f = facts()
    est = capacity.estimate(server(role="client", destinations=3), f, C)
    ports = next(lim for lim in est.limits if lim.key == "net.ipv4.ip_local_port_range")
    assert ports.allows == 28232 * 1 * 3
    assert est.need("source_ips_needed") == math.ceil(1_000_000 / (28232 * 3))


def test_reserved_ports_are_subtracted():
    f = facts(net__ipv4__ip_local_reserved_ports="40000-40099,50000")
    assert f.usable_ports() == 28232 - 101
    f = facts(net__ipv4__ip_local_reserved_ports="80,443")  # outside the range: no effect
    assert f.usable_ports() == 28232


def test_tcp_mem_target_has_the_kernel_boot_shape():
    targets = {t.label: t for t in model_targets.derive_targets(server(), facts(), C)}
    # need 2,000,000 pages, x1.25 = min; pressure 4/3 min; max 2 min (under 50 % of 64 GiB)
    assert targets["net.ipv4.tcp_mem"].value == [2_500_000, 3_333_334, 5_000_000]
    assert targets["net.ipv4.tcp_mem[2]"].op == "at_most"
    assert targets["net.ipv4.tcp_mem[2]"].value == 64 * 2**30 // 2 // 4096


def test_conns_rescales_every_derived_count():
    prof = Profile(name="p", workload=server())
    small = {t.label: t.value for t in model_targets.resolve_targets(prof, facts(), C)}
    big_prof = model_targets.with_connections(prof, 2_000_000)
    big = {t.label: t.value for t in model_targets.resolve_targets(big_prof, facts(), C)}
    assert big["fs.nr_open"] == 2_000_000 + C["fd_reserve"]
    assert small["fs.nr_open"] == 1_000_000 + C["fd_reserve"]
    assert big["net.ipv4.tcp_mem"][0] == 2 * small["net.ipv4.tcp_mem"][0]


def test_pinned_target_wins_over_the_derived_one():
    prof = Profile.model_validate(
        {
            "name": "p",
            "workload": server().model_dump(),
            "targets": [
                {
                    "key": "net.core.somaxconn",
                    "value": 123,
                    "op": "exactly",
                    "reason": "r",
                    "source": "s",
                }
            ],
        }
    )
    soma = [
        t for t in model_targets.resolve_targets(prof, facts(), C) if t.key == "net.core.somaxconn"
    ]
    assert len(soma) == 1 and soma[0].value == 123 and soma[0].op == "exactly"


@pytest.mark.parametrize(
    "conns, ips, dests",
    [
        (1_000_000, 1, 1),
        (50_000, 1, 1),
        (100, 2, 1),
        (3_000_000, 4, 2),
        (101, 1, 1),
        (49_999, 1, 1),
    ],
)
def test_port_range_target_has_ends_of_different_parity(conns, ips, dests):
    w = server(role="client", connections=conns, source_ips=ips, destinations=dests)
    t = next(t for t in model_targets.derive_targets(w, facts(), C) if t.key.endswith("port_range"))
    lo, hi = t.value
    assert lo % 2 != hi % 2 and 1024 <= lo < hi == 65535
    needed = math.ceil(conns / (ips * dests))
    assert hi - lo + 1 >= min(needed, 65535 - 1024 + 1)


def test_host_conntrack_entries_include_time_wait_churn():
    w = Workload(role="host", connections=2_000_000, rate=10_000)
    f = facts(net__netfilter__nf_conntrack_max="262144")
    est = capacity.estimate(w, f, C)
    assert est.need("conntrack_entries") == 2_000_000 + 10_000 * 120
    assert est.binding.key == "net.netfilter.nf_conntrack_max"
    targets = {t.key: t.value for t in model_targets.derive_targets(w, f, C)}
    ct_max = math.ceil(3_200_000 * C["headroom"])
    assert targets["net.netfilter.nf_conntrack_max"] == ct_max
    # the kernel's own ratio: as many buckets as entries (chains of ~2, each hashed twice)
    assert targets["net.netfilter.nf_conntrack_buckets"] == ct_max


def test_live_conntrack_timeout_wins_over_the_constant():
    w = Workload(role="host", connections=1000, rate=100)
    f = facts(net__netfilter__nf_conntrack_tcp_timeout_time_wait="30")
    assert capacity.estimate(w, f, C).need("conntrack_entries") == 1000 + 100 * 30


def test_constant_override_and_unknown_constant():
    c = model_constants.constants({"socket_bytes": 1000})
    assert capacity.estimate(server(), facts(), c).need("kernel_socket_bytes") == 1_000_000_000
    with pytest.raises(UsageError, match="unknown constant"):
        model_constants.constants({"bogus": 1})


def test_rate_limits_report_churn_caps():
    est = capacity.estimate(server(), facts(), C)
    tw = next(r for r in est.rate_limits if r.key == "net.ipv4.tcp_max_tw_buckets")
    assert tw.allows == 131072 // 60


def test_client_past_half_the_port_range_is_warned_that_connect_slows():
    facts = HostFacts(sysctls={"net.ipv4.ip_local_port_range": "32768 60999"})
    c = model_constants.constants()
    slow = capacity.estimate(Workload(role="client", connections=20_000, source_ips=1), facts, c)
    assert any("over half" in n and "3 source IPs" in n for n in slow.notes)
    fast = capacity.estimate(Workload(role="client", connections=10_000, source_ips=1), facts, c)
    assert not any("over half" in n for n in fast.notes)
