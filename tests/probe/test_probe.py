"""The probe's pure parts: layout, failure mapping, memory figures, the report, and the
local calibration that estimate and check pick up. No kernel, no processes."""

import pytest
from helpers import invoke

from tunekit.errors import UsageError
from tunekit.model import capacity
from tunekit.model import constants as model_constants
from tunekit.model.facts import HostFacts
from tunekit.model.profiles import Workload
from tunekit.persist import calibration
from tunekit.probe import layout, loadgen, netns, verdicts

DEFAULT_RANGE = (32768, 60999)


def test_layout_fans_out_within_the_hard_limit_and_uses_enough_source_addresses():
    lay = layout.layout(1_000_000, None, None, 28_232, DEFAULT_RANGE, [], 20_000)
    assert len(lay.sources) == 119  # ceil(1M / int(28,232 ports x PORT_FILL 0.3))
    assert lay.sources[0] == "127.1.0.1" and lay.sources[-1] == "127.1.0.119"
    assert lay.per_worker == 20_000 - layout.WORKER_RESERVE_FDS - 1
    assert sum(lay.connectors) == 1_000_000
    assert max(lay.connectors) <= lay.per_worker
    assert lay.acceptors * lay.per_worker >= 1_000_000
    assert lay.nofile == 20_000


def test_layout_with_a_fixed_number_of_connecting_processes():
    # --processes 1: one connector whatever its share (it meets RLIMIT_NOFILE at ~20,000)
    lay = layout.layout(30_000, None, None, 28_232, DEFAULT_RANGE, [], 20_000, processes=1)
    assert lay.connectors == [30_000] and lay.acceptors == 2
    with pytest.raises(UsageError, match="--processes 0"):
        layout.layout(10, None, None, 28_232, DEFAULT_RANGE, [], 20_000, processes=0)


def test_layout_gives_every_destination_acceptors_enough_for_its_share():
    # 100,000 connections over 3 destinations: 33,334 on each, 2 acceptors of 19,981 each
    lay = layout.layout(100_000, None, 3, 28_232, DEFAULT_RANGE, [], 20_000)
    assert lay.per_worker == 19_981 and len(lay.connectors) == 6
    assert lay.acceptors == 6
    # 10 destinations: 10,000 each, one acceptor each although 6 could hold them all
    assert layout.layout(100_000, None, 10, 28_232, DEFAULT_RANGE, [], 20_000).acceptors == 10
    # fewer connections than destinations: every listener still has its acceptor
    assert layout.layout(2, 1, 3, 28_232, DEFAULT_RANGE, [], 1024).acceptors == 3


def test_layout_listens_outside_the_ephemeral_range_and_skips_reserved_ports():
    lay = layout.layout(10, 1, 3, 28_232, DEFAULT_RANGE, [(61001, 61001)], 1024)
    assert [p for _, p in lay.destinations] == [61000, 61002, 61003]
    full = layout.layout(10, 1, 2, 64_512, (1024, 65535), [], 1024)
    assert [p for _, p in full.destinations] == [1023, 1022]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"nofile_hard": 16}, "leaves no room"),
        ({"nofile": 5}, "--nofile 5"),
        ({"nofile": 30_000}, "--nofile 30000"),
        ({"source_ips": 0}, "--source-ips 0"),
        ({"destinations": 5000}, "--destinations 5000"),
    ],
)
def test_layout_refuses_what_cannot_work(kwargs, message):
    args = {
        "conns": 1000,
        "source_ips": None,
        "destinations": None,
        "usable_ports": 28_232,
        "port_range": DEFAULT_RANGE,
        "reserved": [],
        "nofile_hard": 20_000,
    }
    with pytest.raises(UsageError, match=message.replace("-", r"\-")):
        layout.layout(**{**args, **kwargs})


@pytest.mark.parametrize(
    "name, key",
    [
        ("EMFILE", "rlimit.nofile.soft"),
        ("ENFILE", "fs.file-max"),
        ("EADDRNOTAVAIL", "net.ipv4.ip_local_port_range"),
        ("EADDRINUSE", "net.ipv4.ip_local_port_range"),
        ("ECONNRESET", None),
    ],
)
def test_errors_map_to_the_limit_that_sets_them(name, key):
    f = verdicts.from_errno(name, "connect", 500, 1.5, 1024)
    assert (f.kind, f.key, f.at_connections) == (name, key, 500)
    assert name in f.detail


def test_counter_growth_is_a_failure_and_a_timeout_is_blamed_on_the_latest_symptom():
    before = {"ListenOverflows": 3, "ListenDrops": 3, "conntrack_drop": 0}
    assert verdicts.from_counters(before, dict(before), 10, 1.0) == []
    grown = verdicts.from_counters(before, {**before, "conntrack_drop": 7}, 10, 1.0)
    assert [(f.kind, f.key, f.count) for f in grown] == [
        ("conntrack_drop", "net.netfilter.nf_conntrack_max", 7)
    ]
    t = verdicts.explain_timeout(grown, 10, 6.0, 5)
    assert (t.kind, t.key) == ("timeout", "net.netfilter.nf_conntrack_max")
    assert verdicts.explain_timeout([], 10, 6.0, 5).key is None


def test_an_errno_naming_a_limit_outranks_the_symptom_it_caused():
    """Measured at the host's fs.file-max (bench/stops.py file-max-live): accept() failing
    with ENFILE fills the queue, so ListenOverflows grows a moment before the ENFILE of a
    connector reaches the coordinator; the stop is file-max, not somaxconn."""
    lay = layout.layout(1000, None, None, 28_232, DEFAULT_RANGE, [], 20_000)

    def first_after(*failures):
        c = loadgen.Coordinator(lay, rate=0, timeout=5, hold=0, accept_pause=0)
        for f, hard in failures:
            c._fail(f, stop=hard)
        return c.out.failure.kind, c.out.failure.key, len(c.out.events)

    overflow = verdicts.from_counters({"ListenOverflows": 0}, {"ListenOverflows": 9}, 10, 1.0)[0]
    enfile = verdicts.from_errno("ENFILE", "socket", 10, 1.1)
    assert first_after((overflow, False), (enfile, True)) == ("ENFILE", "fs.file-max", 2)
    # a timeout does not: the symptom is what explains it
    timeout = verdicts.explain_timeout([overflow], 10, 6.0, 5)
    assert first_after((overflow, False), (timeout, True))[:2] == (
        "ListenOverflows",
        "net.core.somaxconn",
    )
    # and the first hard error stays the stop
    emfile = verdicts.from_errno("EMFILE", "socket", 10, 1.0)
    assert first_after((emfile, True), (enfile, True))[0] == "EMFILE"


def test_memory_refusal_says_what_does_not_fit():
    lay = layout.layout(1_000_000, None, None, 28_232, DEFAULT_RANGE, [], 20_000)
    layout.check_memory(lay, 4200, 16 << 30)  # 8.4 GB of sockets + 102 workers: fits
    with pytest.raises(UsageError) as err:
        layout.check_memory(lay, 4200, 4 << 30)
    assert "--conns 1,000,000" in err.value.message and "connections" in err.value.hint
    # 1,000 destinations: 1,000 accepting workers, whatever the connections
    many = layout.layout(3000, 1, 1000, 28_232, DEFAULT_RANGE, [], 20_000)
    assert many.acceptors == 1000
    with pytest.raises(UsageError) as err:
        layout.check_memory(many, 4200, 4 << 30)
    assert "--destinations" in err.value.hint


def test_memory_per_socket_leaves_conntrack_out():
    m = verdicts.Memory(
        sockets=2000,
        slab_bytes=2000 * 4000 + 1000 * 256,
        conntrack_bytes=1000 * 256,
        conntrack_entries=1000,
        tcp_mem_pages=0,
    )
    assert m.per_socket == 4000
    assert m.per_conntrack_entry == 256
    assert verdicts.percent_diff(4400, 4000) == 10.0
    assert verdicts.calibration_values(m, conntrack=True) == {
        "socket_bytes": 4000,
        "conntrack_entry_bytes": 256,
    }
    small = verdicts.Memory(
        sockets=100, slab_bytes=400_000, conntrack_bytes=0, conntrack_entries=0, tcp_mem_pages=0
    )
    assert verdicts.calibration_values(small, conntrack=False) == {}


def test_slab_delta_excludes_caches_that_are_not_the_connections():
    before = netns.Reading(
        slab=1_000_000,
        caches={"TCP": 0, "proc_inode_cache": 0},
        tcp_inuse=1,
        tcp_mem_pages=0,
        conntrack_count=0,
    )
    after = netns.Reading(
        slab=1_000_000 + 10_000 + 7_000,
        caches={"TCP": 10_000, "proc_inode_cache": 7_000},
        tcp_inuse=3,
        tcp_mem_pages=0,
        conntrack_count=0,
    )
    m = netns.memory_delta(before, after, sockets=2)
    assert m.slab_bytes == 10_000 and m.excluded == {"proc_inode_cache": 7_000}
    assert "proc_inode_cache" not in m.caches


def _outcome(**kw):
    from tunekit.probe.loadgen import Outcome

    base = dict(
        connected=500,
        accepted=500,
        held=500,
        connect_seconds=0.5,
        hold_seconds=1.0,
        failure=None,
        events=[],
        copied_sysctls=["net.ipv4.ip_local_port_range"],
        not_copied={},
        memory=verdicts.Memory(1000, 4_000_000, 0, 0, 0),
    )
    base.update(kw)
    return Outcome(**base)


def test_result_says_whether_the_probe_stopped_where_the_estimate_said():
    facts = HostFacts(
        sysctls={"net.ipv4.ip_local_port_range": "40000 40499"}, nofile=(20000, 20000)
    )
    c = model_constants.constants()
    lay = layout.layout(3000, 1, 1, 500, (40000, 40499), [], 20_000)
    est = capacity.estimate(
        Workload(role="client", connections=3000, source_ips=1, destinations=1), facts, c
    )
    port = verdicts.from_errno("EADDRNOTAVAIL", "connect", 500, 0.1)
    r = verdicts.result(lay, _outcome(failure=port, events=[port]), est, c, conntrack=False)
    assert r.estimate.predicted_stop == 500 and r.estimate.agrees is True
    assert r.complete is False and r.failure.key == "net.ipv4.ip_local_port_range"
    assert r.memory.per_socket == 4000
    assert r.memory.diff_percent == verdicts.percent_diff(c["socket_bytes"], 4000)
    emfile = verdicts.from_errno("EMFILE", "connect", 480, 0.1)
    assert verdicts.result(lay, _outcome(failure=emfile), est, c, False).estimate.agrees is False
    from tunekit.output import probe as report

    text = report.render_probe(r)
    assert "STOPPED SHORT at 500" in text and "agrees" in text


def test_calibration_is_used_by_estimate_and_check_and_they_say_so(
    tmp_path, isolated_home, tuned_root
):
    import os

    state = tmp_path / "state"
    kernel = os.uname().release
    calibration.save(
        state,
        kernel,
        "2026-11-21T00:00:00Z",
        "tunekit probe --calibrate",
        200_000,
        {"socket_bytes": 3977.4},
    )
    res = invoke("estimate", "--conns", "1000", "--json")
    assert res.exit_code == 0, res.output
    import json

    doc = json.loads(res.output)
    assert doc["constants"]["socket_bytes"] == 3977.4
    assert doc["calibration"]["used"] is True
    text = invoke("estimate", "--conns", "1000").output
    assert "calibrated: socket_bytes=3977.4" in text
    # --const still wins over the calibration
    res = invoke("estimate", "--conns", "1000", "--json", "--const", "socket_bytes=5000")
    assert json.loads(res.output)["constants"]["socket_bytes"] == 5000
    res = invoke("check", "server-1M", "--json")
    assert json.loads(res.output)["calibration"]["values"] == {"socket_bytes": 3977.4}


def test_calibration_from_another_kernel_series_is_named_and_ignored(tmp_path):
    calibration.save(
        tmp_path, "5.10.0-old", "2026-01-01T00:00:00Z", "x", 5000, {"socket_bytes": 3000}
    )
    cal = calibration.load(tmp_path, "6.18.44")
    assert cal.active == {} and "5.10.0-old" in cal.describe()
    (tmp_path / calibration.FILENAME).write_text("not = [toml")
    assert "unreadable" in calibration.load(tmp_path, "6.18.44").ignored
    assert calibration.load(tmp_path / "none", "6.18.44") is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--conns", "0"], "--conns"),
        (["--conns", "3000", "--hold", "-1"], "--hold"),
        (["--conns", "3000", "--connect-timeout", "0"], "--connect-timeout"),
        (["--conns", "3000", "--rate", "0"], "--rate"),
        (["--conns", "3000", "--accept-pause", "-5"], "--accept-pause"),
        (["--conns", "3000", "--destinations", "0"], "--destinations"),
        (["--conns", "3000", "--nofile", "3"], "--nofile"),
        (["--conns", "90M"], "GiB"),
        (["--conns", "500", "--calibrate"], "at least 1,000"),
    ],
)
def test_probe_bad_input_is_one_line_and_exit_2(args, message, monkeypatch, isolated_home):
    def never(*a, **kw):  # bad input must be refused before any namespace is made
        raise AssertionError("the probe ran")

    monkeypatch.setattr(loadgen.Coordinator, "run", never)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    res = invoke("probe", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_probe_without_root_exits_3(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    res = invoke("probe", "--conns", "100")
    assert res.exit_code == 3 and "root" in res.output


def test_send_that_would_squeeze_the_hosts_tcp_memory_is_refused():
    facts = HostFacts(sysctls={"net.ipv4.tcp_mem": "1000 2000 3000"})
    lay = layout.layout(1000, 1, 1, 28_232, DEFAULT_RANGE, [], 20_000)
    with pytest.raises(UsageError, match="tcp_mem pressure") as err:
        layout.check_buffers(lay, 65536, model_constants.constants(), facts)
    assert "at most ~94 connections" in err.value.hint  # 1,600 pages / 17 per connection
    layout.check_buffers(
        lay, 0, model_constants.constants(), facts
    )  # nothing sent: nothing to check


def test_buffer_factor_is_measured_over_modelled_pages():
    mem = verdicts.Memory(
        sockets=4000, slab_bytes=1, conntrack_bytes=0, conntrack_entries=0, tcp_mem_pages=4100
    )
    assert verdicts.buffer_factor(mem, 2.0) == pytest.approx(1.025)
    values = verdicts.calibration_values(mem, False, send=4096, modelled_pages=2.0)
    assert values == {"buffer_factor": pytest.approx(1.025)}
