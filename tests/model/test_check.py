"""The checker over plain data: comparisons, verdicts, fixes."""

import helpers
import pytest

from tunekit.model import capacity
from tunekit.model import constants as model_constants
from tunekit.model.check import (
    capacity_finding,
    check_target,
    environment,
    proposed_value,
    satisfied,
)
from tunekit.model.profiles import Target, Workload


def target(key, value, op="at_least", index=None) -> Target:
    return Target(key=key, value=value, op=op, index=index, reason="r", source="s")


facts = helpers.facts


@pytest.mark.parametrize(
    "op, want, actual, ok",
    [
        ("at_least", 4096, 65535, True),
        ("at_least", 4096, 4096, True),
        ("at_least", 4096, 128, False),
        ("at_most", 100, 99, True),
        ("at_most", 100, 101, False),
        ("exactly", 1, 1, True),
        ("exactly", 1, 2, False),
        ("range", [10, 20], 15, True),
        ("range", [10, 20], 21, False),
    ],
)
def test_comparisons(op, want, actual, ok):
    assert satisfied(target("net.core.somaxconn", want, op), [actual]) is ok


def test_at_least_passes_when_the_host_is_higher_and_is_never_lowered():
    t = target("net.core.somaxconn", 4096)
    f = check_target(t, facts(sysctls={"net.core.somaxconn": "65535"}))
    assert f.verdict == "pass" and f.proposed is None
    assert proposed_value(target("net.ipv4.tcp_mem", [1, 2, 3]), [5, 1, 9]) == [5, 5, 9]


def test_fail_carries_the_fix_command():
    f = check_target(
        target("net.core.somaxconn", 4096), facts(sysctls={"net.core.somaxconn": "128"})
    )
    assert f.verdict == "fail" and f.proposed == 4096
    assert f.fix == "sysctl -w net.core.somaxconn=4096"


def test_triple_element_comparison_changes_only_that_element():
    t = target("net.ipv4.tcp_wmem", 8_000_000, index=2)
    f = check_target(t, facts(sysctls={"net.ipv4.tcp_wmem": "4096 16384 4194304"}))
    assert f.verdict == "fail" and f.proposed == [4096, 16384, 8_000_000]
    assert f.key == "net.ipv4.tcp_wmem[2]"


def test_port_range_compares_usable_width_minus_reserved():
    t = target("net.ipv4.ip_local_port_range", [40000, 40999])  # 1000 ports
    ok = facts(sysctls={"net.ipv4.ip_local_port_range": "32768 60999"})
    assert check_target(t, ok).verdict == "pass"
    narrow = facts(
        sysctls={
            "net.ipv4.ip_local_port_range": "50000 50999",
            "net.ipv4.ip_local_reserved_ports": "50100-50109",
        }
    )
    f = check_target(t, narrow)
    assert f.verdict == "fail" and "990 ports" in f.actual and f.proposed == [40000, 40999]


def test_same_parity_port_range_warns():
    t = target("net.ipv4.ip_local_port_range", [60000, 60999])
    f = check_target(t, facts(sysctls={"net.ipv4.ip_local_port_range": "2000 65000"}))
    assert f.verdict == "warn" and "parity" in f.reason
    lo, hi = f.proposed
    assert lo % 2 != hi % 2


def test_missing_module_is_named():
    t = target("net.netfilter.nf_conntrack_max", 1000)
    f = check_target(t, facts(modules={"tcp"}))
    assert f.verdict == "missing" and "nf_conntrack" in f.actual


def test_global_key_inside_a_child_namespace_is_not_applicable():
    f = check_target(target("net.ipv4.tcp_mem", [1, 2, 3]), facts(child_netns=True, modules=set()))
    assert f.verdict == "not-applicable"
    f = check_target(target("net.ipv4.tcp_mem", [1, 2, 3]), facts(child_netns=False, kernel="9.9"))
    assert f.verdict == "missing" and "9.9" in f.actual


def test_rlimits_unknown_from_a_snapshot_are_unreadable():
    f = check_target(target("rlimit.nofile.soft", 1000), facts(source="snapshot x"))
    assert f.verdict == "unreadable"


def test_hard_limit_fix_names_the_missing_capability():
    f = check_target(
        target("rlimit.nofile.hard", 100_000), facts(nofile=(20000, 20000), cap_sys_resource=False)
    )
    assert f.verdict == "fail" and "CAP_SYS_RESOURCE" in f.fix


def test_unreadable_key():
    f = check_target(
        target("net.core.somaxconn", 1), facts(unreadable={"net.core.somaxconn": "EACCES"})
    )
    assert f.verdict == "unreadable"


def test_capacity_finding_names_the_binding_limit():
    w = Workload(role="server", connections=100_000)
    est = capacity.estimate(
        w, facts(nofile=(20000, 20000), nofile_of="t"), model_constants.constants()
    )
    f = capacity_finding(est)
    assert f.verdict == "fail" and "RLIMIT_NOFILE hard" in f.actual
    est = capacity.estimate(
        w, facts(nofile=(1024, 200_000), nofile_is_workload=True), model_constants.constants()
    )
    assert "RLIMIT_NOFILE soft" in capacity_finding(est).actual
    est = capacity.estimate(
        Workload(role="server", connections=1000),
        facts(nofile=(20000, 20000)),
        model_constants.constants(),
    )
    assert capacity_finding(est).verdict == "pass"


def test_environment_reports_containers():
    notes = environment(
        facts(
            cap_sys_resource=False,
            nofile=(20000, 20000),
            proc_sys_writable=False,
            child_netns=True,
            counters={"ListenOverflows": 5},
        )
    )
    text = "\n".join(notes)
    assert "CAP_SYS_RESOURCE" in text and "20,000" in text and "read-only" in text
    assert "network namespace" in text and "ListenOverflows = 5" in text
