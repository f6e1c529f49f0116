"""probe --target's pure parts: what it refuses to connect to, the layout, the causes and
their fixes, the ports already in use, the report. No kernel, no processes."""

import socket

import pytest
from helpers import invoke

from tunekit.errors import UsageError
from tunekit.model import constants as model_constants
from tunekit.model.facts import HostFacts
from tunekit.probe import causes, layout, targets
from tunekit.probe.client import Plateau, TargetOutcome

PORT_RANGE = "net.ipv4.ip_local_port_range"


def resolver(table: dict[str, list[str]]):
    def resolve(host, port, family, kind):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(family, kind, 6, "", (ip, 0)) for ip in table[host]]

    return resolve


def test_targets_are_exactly_what_was_typed():
    found = targets.parse_targets(
        ["10.0.0.5:8080", "web1:80"], resolve=resolver({"web1": ["10.0.0.7"]})
    )
    assert [(t.typed, t.address, t.port) for t in found] == [
        ("10.0.0.5:8080", "10.0.0.5", 8080),
        ("web1:80", "10.0.0.7", 80),
    ]


@pytest.mark.parametrize(
    "typed, message",
    [
        ("pool:80", "resolves to 3 addresses"),  # no scanning: one name, one server
        ("10.0.0.0/24:80", "neither an IPv4 address nor a host name"),
        ("10.0.0.1-20:80", "neither an IPv4 address nor a host name"),
        ("0.0.0.0:80", "not one server"),
        ("255.255.255.255:80", "not one server"),
        ("224.0.0.1:80", "not one server"),
        ("10.0.0.5", "HOST:PORT"),
        ("10.0.0.5:0", "HOST:PORT"),
        ("10.0.0.5:70000", "HOST:PORT"),
        ("[::1]:80", "neither an IPv4 address"),
        ("nowhere:80", "cannot resolve"),
        ("*:80", "neither an IPv4 address"),
    ],
)
def test_a_target_that_is_not_one_named_server_is_refused(typed, message):
    resolve = resolver({"pool": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]})
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        targets.parse_targets([typed], resolve=resolve)


def test_the_same_server_twice_is_refused():
    with pytest.raises(UsageError, match="the same server as web1:80"):
        targets.parse_targets(["web1:80", "10.0.0.7:80"], resolve=resolver({"web1": ["10.0.0.7"]}))


def test_sources_are_this_hosts_addresses():
    host = ["10.0.0.10", "10.0.0.9", "192.0.2.2"]
    assert targets.choose_sources(2, host) == ["10.0.0.9", "10.0.0.10"]  # in address order
    assert targets.choose_sources(None, host) == []  # each target's route decides
    with pytest.raises(UsageError, match="this host has 3"):
        targets.choose_sources(4, host)
    with pytest.raises(UsageError, match="not an address of this host"):
        targets.choose_sources(["198.51.100.77"], host)  # TEST-NET-2: never local
    with pytest.raises(UsageError, match="not an IPv4 address"):
        targets.choose_sources(["ten"], host)
    assert targets.choose_sources(["127.0.0.1"], host) == ["127.0.0.1"]


def test_pairs_are_every_source_with_every_target():
    named = targets.parse_targets(["127.0.0.1:80", "127.0.0.1:81"])
    pairs = targets.pairs(["127.0.0.2", "127.0.0.3"], named)
    assert pairs == [
        ("127.0.0.2", ("127.0.0.1", 80)),
        ("127.0.0.2", ("127.0.0.1", 81)),
        ("127.0.0.3", ("127.0.0.1", 80)),
        ("127.0.0.3", ("127.0.0.1", 81)),
    ]
    # no sources given: the route's, one pair per target
    assert targets.pairs([], named) == [
        ("127.0.0.1", ("127.0.0.1", 80)),
        ("127.0.0.1", ("127.0.0.1", 81)),
    ]


def test_target_layout_connects_only_and_counts_sources_per_destination():
    pairs = [("10.0.0.1", ("10.0.0.9", 80)), ("10.0.0.2", ("10.0.0.8", 80))]
    lay = layout.target_layout(50_000, [], pairs, 20_000)
    assert lay.acceptors == 0 and lay.reserve == layout.WORKER_RESERVE_FDS
    assert lay.per_worker == 19_984 and lay.connectors == [16_667, 16_667, 16_666]
    assert lay.source_count == 1 and len(lay.destinations) == 2
    assert lay.all_pairs() == pairs
    given = layout.target_layout(100, ["10.0.0.1", "10.0.0.2"], pairs[:1] * 2, 1024, processes=3)
    assert given.pairs is None and given.connectors == [34, 33, 33]


def test_ramp_caps_never_pass_a_workers_share():
    shares = layout.shares(10_001, 3)
    for total in range(3, 10_002, 997):
        caps = layout.shares(total, 3)
        assert sum(caps) == total and all(c <= s for c, s in zip(caps, shares, strict=True))


def test_the_client_estimate_for_a_target_layout():
    facts = HostFacts(
        sysctls={PORT_RANGE: "40000 40999", "fs.file-max": "100000", "fs.file-nr": "0 0 100000"},
        nofile=(1024, 20_000),
        mem_available=8 << 30,
    )
    c = model_constants.constants()
    lay = layout.target_layout(5000, [], [("10.0.0.1", ("10.0.0.9", 80))], 20_000)
    est = layout.same_settings_estimate(lay, facts, c, 20_000)
    assert (est.binding.key, est.binding.allows) == (PORT_RANGE, 1000)
    # an earlier run's ports still in TIME_WAIT: the fullest pair decides
    used = {("10.0.0.1", ("10.0.0.9", 80)): 155}
    est = layout.with_ports_in_use(est, lay, 1000, used)
    assert est.binding.allows == 845 and "155 already in use" in est.binding.detail


def test_loopback_estimate_counts_both_ends_against_file_max():
    facts = HostFacts(sysctls={"fs.file-max": "100000"}, nofile=(20_000, 20_000))
    facts.counters["files_allocated"] = 2000
    lay = layout.layout(200_000, 8, 1, 28_232, (32768, 60999), [], 20_000)
    est = layout.same_settings_estimate(lay, facts, model_constants.constants(), 20_000)
    file_max = next(lim for lim in est.limits if lim.key == "fs.file-max")
    assert file_max.allows == 49_000 and "both ends" in file_max.detail


def _ctx(**kw):
    base = dict(
        sources=2,
        destinations=3,
        port_range=(40000, 40999),
        usable_ports=1000,
        nofile=300,
        nofile_hard=20_000,
        processes=1,
        file_max=100_000,
        tcp_mem=[1, 2, 3],
    )
    return causes.Context(**{**base, **kw})


@pytest.mark.parametrize(
    "kind, op, side, key, in_fix",
    [
        ("EADDRNOTAVAIL", "connect", "client", PORT_RANGE, "x 2 source address(es) x 3"),
        ("EADDRINUSE", "connect", "client", PORT_RANGE, "6,000"),
        ("EMFILE", "socket", "client", "rlimit.nofile.soft", "300 files"),
        ("ENFILE", "socket", "client", "fs.file-max", "100,000"),
        ("ENOBUFS", "connect", "client", "memory", "net.ipv4.tcp_mem"),
        ("ENOMEM", "socket", "client", "memory", "1 2 3 pages"),
        ("timeout", "connect", "server", None, "net.core.somaxconn"),
        ("ETIMEDOUT", "connect", "server", None, "accept queue"),
        ("ECONNREFUSED", "connect", "server", None, "maxconn"),
        ("ECONNRESET", "connect", "server", None, "nf_conntrack_max"),
        ("ECONNRESET", "hold", "server", None, "idle timeout"),
        ("closed", "hold", "server", None, "timeout client"),
        ("EPIPE", "send", "server", None, "accept queue"),
        ("EHOSTUNREACH", "connect", "network", None, "ip route get"),
        ("EADDRNOTAVAIL", "bind", "client", None, "addresses of this host"),
        ("EWEIRD", "connect", "unknown", None, "connect(2)"),
    ],
)
def test_every_failure_maps_to_its_side_limit_and_fix(kind, op, side, key, in_fix):
    got_side, got_key, limit, meaning = causes.classify(kind, op)
    assert (got_side, got_key) == (side, key) and limit and meaning
    assert in_fix in causes.fix_for(kind, op, got_key, _ctx())


def test_causes_are_counted_by_destination_and_what_stopped_it_comes_first():
    rows = [
        ["ECONNREFUSED", "connect", "10.0.0.1", "10.0.0.9:80", 3],
        ["timeout", "connect", "10.0.0.1", "10.0.0.8:80", 40],
        ["ECONNREFUSED", "connect", "10.0.0.2", "10.0.0.9:80", 2],
        ["closed", "hold", "10.0.0.1", "10.0.0.8:80", 7],
    ]
    seen = {
        ("timeout", "connect"): causes.Seen(100, 2.0),
        ("ECONNREFUSED", "connect"): causes.Seen(90, 1.5),
        ("closed", "hold"): causes.Seen(120, 3.0),
    }
    found = causes.causes(rows, seen, ("timeout", "connect"), _ctx())
    assert [(c.kind, c.count) for c in found] == [
        ("timeout", 40),
        ("ECONNREFUSED", 5),
        ("closed", 7),
    ]
    refused = found[1]
    assert refused.by_destination == {"10.0.0.9:80": 5}
    assert refused.by_source == {"10.0.0.1": 3, "10.0.0.2": 2}
    assert refused.at_connections == 90


def test_the_report_puts_the_predicted_stop_beside_the_observed_one():
    from tunekit.output.probe_target import render_target

    facts = HostFacts(sysctls={PORT_RANGE: "40000 40999"}, nofile=(20_000, 20_000))
    c = model_constants.constants()
    pairs = [("10.0.0.1", ("10.0.0.9", 80))]
    lay = layout.target_layout(3000, [], pairs, 20_000)
    est = layout.same_settings_estimate(lay, facts, c, 20_000)
    out = TargetOutcome(connected=1000, connect_seconds=0.5)
    out.failures[1] = [["EADDRNOTAVAIL", "connect", "10.0.0.1", "10.0.0.9:80", 1]]
    out.first = ("EADDRNOTAVAIL", "connect")
    out.seen[out.first] = causes.Seen(1000, 0.5)
    out.plateaus.append(Plateau(1, 500, 500, 0, 0.2))
    named = targets.parse_targets(["10.0.0.9:80"])
    options = {"rate": None, "ramp": layout.Ramp(500, 1.0), "send": 0, "connect_timeout": 5.0}
    doc = causes.result(lay, out, est, _ctx(sources=1, destinations=1), named, "route", options)
    assert not doc.complete and doc.stopped_by.key == PORT_RANGE
    assert (doc.stop.predicted, doc.stop.observed, doc.stop.agrees) == (1000, 1000, True)
    assert doc.stop.diff_percent == 0.0 and doc.rate == 2000
    text = render_target(doc)
    assert "Stopped by: EADDRNOTAVAIL on connect() x 1" in text
    assert "Predicted (client-side estimate): stops at 1,000" in text
    assert "Observed: stopped at 1,000" in text and "STOPPED SHORT at 1,000." in text
    assert "step 1" in text and "agrees" in text


def test_ports_in_use_are_read_per_source_and_destination(tmp_path):
    from tunekit.host import ports

    def hexed(ip, port):
        return f"{ports._hex(ip)}:{port:04X}"

    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    rows = [
        (hexed("10.0.0.1", 40001), hexed("10.0.0.9", 80), "01"),  # established
        (hexed("10.0.0.1", 40002), hexed("10.0.0.9", 80), "06"),  # TIME_WAIT
        (hexed("10.0.0.1", 30000), hexed("10.0.0.9", 80), "01"),  # outside the range
        (hexed("10.0.0.2", 40003), hexed("10.0.0.9", 80), "01"),  # another source
        (hexed("10.0.0.1", 40004), hexed("10.0.0.9", 81), "01"),  # another destination
    ]
    table = tmp_path / "tcp"
    table.write_text(head + "".join(f" 0: {a} {b} {st} 0:0 0:0 00:0 0 0\n" for a, b, st in rows))
    pair = ("10.0.0.1", ("10.0.0.9", 80))
    used = ports.in_use([pair], (40000, 40999), False, path=str(table))
    assert used == {pair: 2}
    assert ports.in_use([pair], (40000, 40999), True, path=str(table)) == {pair: 1}
    assert ports.in_use([pair], (40000, 40999), False, path=str(tmp_path / "none")) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "10.0.0.1:80", "--conntrack"], "--conntrack: not with --target"),
        (["--target", "10.0.0.1:80", "--destinations", "2"], "--destinations: not with --target"),
        (["--ramp", "100/1"], "--ramp: not without --target"),
        (["--source-ips", "127.0.0.1"], "--source-ips LIST: not without --target"),
        (["--target", "10.0.0.1:80", "--ramp", "100"], "expected STEP/SECONDS"),
        (["--target", "10.0.0.1:80", "--ramp", "100/x"], "expected STEP/SECONDS"),
        (["--target", "10.0.0.1:80", "--ramp", "0/1"], "--ramp"),
        (["--target", "10.0.0.0/8:80"], "neither an IPv4 address nor a host name"),
        (["--target", "10.0.0.1:80", "--hold", "-1"], "--hold"),
        (["--target", "10.0.0.1:80", "--processes", "0"], "--processes"),
        (
            ["--target", "10.0.0.1:80", "--source-ips", "198.51.100.7"],
            "not an address of this host",
        ),
    ],
)
def test_target_bad_input_is_one_line_and_exit_2(args, message, monkeypatch):
    from tunekit.probe.client import TargetCoordinator

    def never(*a, **kw):
        raise AssertionError("the probe ran")

    monkeypatch.setattr(TargetCoordinator, "run", never)
    res = invoke("probe", "--conns", "1000", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_a_ramp_step_smaller_than_the_workers_is_refused(monkeypatch):
    res = invoke(
        "probe", "--conns", "1000", "--target", "127.0.0.1:9", "--processes", "4", "--ramp", "3/1"
    )
    assert res.exit_code == 2 and "at least the 4 connecting workers" in res.output
