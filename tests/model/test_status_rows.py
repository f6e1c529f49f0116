"""The status rows over plain data: verdicts, growth, groups, rates, order, the profile
and the fixes (check's own lines)."""

from __future__ import annotations

from helpers import facts

from tunekit.knowledge import catalogue as K
from tunekit.model.check import check_target
from tunekit.model.profiles import Target
from tunekit.model.status import ListenSocket, ProcessFiles, Profiled, Snapshot, judge

LIMITS = {
    K.FILE_MAX.name: "1000",
    K.TW_BUCKETS.name: "1000",
    K.MAX_ORPHANS.name: "1000",
    K.TCP_MEM.name: "600 800 1200",
    K.SOMAXCONN.name: "4096",
    K.PORT_RANGE.name: "40000 40099",
    K.CONNTRACK_MAX.name: "1000",
}


def snap(tables=None, at=0.0, **kw) -> Snapshot:
    base = {
        "file-nr": {"allocated": 10},
        "TCP": {"tw": 0, "orphan": 0, "mem": 1, "inuse": 4},
        "TcpExt": {"ListenOverflows": 0, "TCPTimeWaitOverflow": 0},
    }
    for name, values in (tables or {}).items():
        base.setdefault(name, {}).update(values)
    sysctls = dict(LIMITS) | kw.pop("sysctls", {})
    return Snapshot(at=at, facts=facts(sysctls, mem_gib=64), tables=base, **kw)


def by_key(judged, key) -> list:
    return [r for r in judged.rows if r.key == key.name]


def test_verdicts_ok_near_at_limit_and_hit():
    for used, verdict in ((799, "ok"), (800, "near"), (999, "near"), (1000, "at-limit")):
        row = by_key(judge(snap({"file-nr": {"allocated": used}}), None, 5), K.FILE_MAX)[0]
        assert (row.used, row.limit, row.verdict) == (used, 1000, verdict)
    grown = snap({"TCP": {"tw": 10}, "TcpExt": {"TCPTimeWaitOverflow": 3}})
    row = by_key(judge(grown, None, 5), K.TW_BUCKETS)[0]
    assert row.verdict == "hit" and row.symptoms == {"TCPTimeWaitOverflow": 3}


def test_symptom_growth_is_since_the_previous_reading_after_the_first():
    first = judge(snap({"TcpExt": {"TCPTimeWaitOverflow": 3}}), None, 5)
    second = judge(snap({"TcpExt": {"TCPTimeWaitOverflow": 3}}, at=1.0), first.previous, 5)
    assert by_key(second, K.TW_BUCKETS)[0].verdict == "ok"
    counters = {s.counter: s for s in second.symptoms}
    assert counters["TCPTimeWaitOverflow"].total == 3
    assert counters["TCPTimeWaitOverflow"].grown == 0
    third = judge(snap({"TcpExt": {"TCPTimeWaitOverflow": 5}}, at=2.0), second.previous, 5)
    assert {s.counter: s.grown for s in third.symptoms}["TCPTimeWaitOverflow"] == 2


def test_tcp_mem_is_near_past_pressure_and_its_fix_keeps_the_triple_shape():
    row = by_key(judge(snap({"TCP": {"mem": 850}}), None, 5), K.TCP_MEM)[0]
    assert (row.limit, row.near_at, row.verdict) == (1200, 800, "near")
    # twice the use at pressure (where the kernel starts to moderate), the shape kept
    assert row.fix == f'sysctl -w {K.TCP_MEM.name}="1275 1700 2550"'


def test_a_limit_not_visible_here_is_said_so():
    s = snap()
    s.facts.sysctls.pop(K.TCP_MEM.name)
    s.facts.child_netns = True
    row = by_key(judge(s, None, 5), K.TCP_MEM)[0]
    assert row.limit is None and row.verdict == "ok" and "not visible" in row.detail


def test_the_fix_is_checks_own_line_for_the_same_value():
    row = by_key(judge(snap({"file-nr": {"allocated": 900}}), None, 5), K.FILE_MAX)[0]
    f = facts(LIMITS)
    want = check_target(Target(key=K.FILE_MAX.name, value=1800, reason="r", source="s"), f)
    assert row.fix == want.fix == f"sysctl -w {K.FILE_MAX.name}=1800"


def test_reuseport_group_is_one_row_with_its_members_and_its_fullest_queue():
    listeners = [
        ListenSocket("0.0.0.0", 80, 1, 10, ((7, "nginx"),)),
        ListenSocket("0.0.0.0", 80, 9, 10, ((8, "nginx"),)),
        ListenSocket("::", 80, 0, 10),
        ListenSocket("127.0.0.1", 9000, 4096, 4096, ((9, "app"),)),
    ]
    s = snap({"TcpExt": {"ListenOverflows": 5}}, listeners=listeners)
    rows = {
        (r.labels["address"], r.labels["port"]): r for r in by_key(judge(s, None, 5), K.SOMAXCONN)
    }
    assert len(rows) == 3
    group = rows[("0.0.0.0", "80")]
    # the namespace's ListenOverflows grew: the (near) full queues are "hit", the empty not
    assert (group.members, group.used, group.limit, group.verdict) == (2, 9, 10, "hit")
    assert group.owners == ["nginx (pid 7)", "nginx (pid 8)"]
    assert group.symptoms == {"ListenOverflows": 5}
    assert rows[("::", "80")].verdict == "ok" and rows[("::", "80")].detail == "owner not found"
    full = rows[("127.0.0.1", "9000")]
    assert full.verdict == "hit" and "capped by somaxconn" in full.detail
    assert full.fix == f"sysctl -w {K.SOMAXCONN.name}=8192"  # the backlog is somaxconn's


def test_a_backlog_below_somaxconn_is_the_applications_to_raise():
    s = snap(listeners=[ListenSocket("0.0.0.0", 80, 511, 511)])
    row = by_key(judge(s, None, 5), K.SOMAXCONN)[0]
    assert row.verdict == "at-limit" and row.fix == K.SOMAXCONN.usage.beyond


def test_processes_closest_to_their_own_soft_limit_first_and_their_fix():
    procs = [
        ProcessFiles(1, "init", 500, 65536, 65536),
        ProcessFiles(2, "app", 900, 1024, 524288),
        ProcessFiles(3, "small", 10, 16, 16),
    ]
    rows = by_key(judge(snap(processes=procs), None, 2), K.NOFILE_SOFT)
    assert [r.labels["process"] for r in rows] == ["app", "small"]  # 88 %, 62 %; top 2
    app = rows[0]
    assert app.verdict == "near" and app.labels == {"pid": "2", "process": "app"}
    assert app.fix.startswith("the program may raise its own soft limit up to its hard limit")
    assert "LimitNOFILE=1800" in app.fix


def test_ports_per_destination_against_the_usable_range():
    ports = {("10.0.0.1", "10.0.0.5", 443): 90, ("10.0.0.1", "10.0.0.6", 443): 5}
    rows = by_key(judge(snap(ports=ports), None, 5), K.PORT_RANGE)
    assert [(r.labels["destination"], r.used, r.limit) for r in rows] == [
        ("10.0.0.5:443", 90, 100),
        ("10.0.0.6:443", 5, 100),
    ]
    assert rows[0].verdict == "near"
    assert rows[0].fix.startswith(f'sysctl -w {K.PORT_RANGE.name}="1024 65535"')
    wide = snap(
        ports={("10.0.0.1", "10.0.0.5", 443): 60_000}, sysctls={K.PORT_RANGE.name: "1024 65535"}
    )
    assert by_key(judge(wide, None, 5), K.PORT_RANGE)[0].fix == K.PORT_RANGE.usage.beyond


def test_rates_time_to_limit_and_the_nearest_cliff_first():
    ports = {("10.0.0.1", "10.0.0.5", 443): 10}
    first = judge(snap({"TCP": {"tw": 100}}, ports=ports), None, 5)
    ports = {("10.0.0.1", "10.0.0.5", 443): 40}
    second = judge(snap({"TCP": {"tw": 150}}, at=10.0, ports=ports), first.previous, 5)
    port = by_key(second, K.PORT_RANGE)[0]
    tw = by_key(second, K.TW_BUCKETS)[0]
    assert (port.rate, port.seconds_to_limit) == (3.0, 20.0)  # 60 ports left at +3/s
    assert (tw.rate, tw.seconds_to_limit) == (5.0, 170.0)  # 850 left at +5/s
    order = [r.key for r in second.rows]
    assert order.index(K.PORT_RANGE.name) < order.index(K.TW_BUCKETS.name)
    assert order[0] == K.PORT_RANGE.name  # the nearest cliff, though only 40 % full


def test_a_profile_judges_each_row_and_its_load():
    from tunekit.model.check import Finding

    finding = Finding(
        key=K.FILE_MAX.name, expected=">= 5,000", actual="1,000", verdict="fail", reason="r"
    )
    profiled = Profiled("server-1M", {K.FILE_MAX.name: finding}, {"fds_system": 2000}, {})
    row = by_key(judge(snap({"file-nr": {"allocated": 500}}), None, 5, profiled), K.FILE_MAX)[0]
    assert row.profile.verdict == "fail" and row.profile.expected == ">= 5,000"
    assert (row.profile.planned, row.profile.load_percent) == (2000, 25.0)


def test_sockets_by_state_from_the_kernels_counts():
    s = snap({"Tcp": {"CurrEstab": 110}, "TCP": {"tw": 7, "inuse": 130}, "TCP6": {"inuse": 3}})
    s.states = {"CLOSE_WAIT": 10, "SYN_RECV": 2, "SYN_SENT": 1}
    states = judge(s, None, 5).sockets
    assert states.established == 100  # CurrEstab counts ESTABLISHED and CLOSE_WAIT
    assert (states.close_wait, states.syn_recv, states.time_wait) == (10, 2, 7)
    assert states.others == {"SYN_SENT": 1} and states.inuse == 133


def test_no_conntrack_table_no_row():
    assert not by_key(judge(snap(), None, 5), K.CONNTRACK_MAX)
    s = snap({"conntrack": {"conntrack_count": 950, "conntrack_drop": 0}})
    assert by_key(judge(s, None, 5), K.CONNTRACK_MAX)[0].verdict == "near"
