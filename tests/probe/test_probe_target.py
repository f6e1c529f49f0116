"""probe --target against a real server: Debian's HAProxy in a throw-away network
namespace, the probe in another, joined by a veth pair (tests/servers.py). Nothing runs
in the host's own namespace, and both namespaces are gone afterwards."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO
from servers import Frontend, haproxy_target, namespaces

PORT_RANGE = "net.ipv4.ip_local_port_range"


pytestmark = pytest.mark.usefixtures("haproxy_namespaces")


def probe(pair, *args: str, setup: str = "") -> tuple[int, dict]:
    done = pair.tunekit("probe", "--json", *args, setup=setup, timeout=180, cwd=REPO)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def target(pair, *ports: int) -> str:
    return ",".join(f"{pair.server_ip}:{p}" for p in ports)


def host_net_sysctls() -> dict[str, str]:
    out = {}
    for p in sorted(Path("/proc/sys/net/ipv4").iterdir()):
        try:
            out[p.name] = p.read_text()
        except OSError:
            pass
    return out


def test_holds_n_at_a_real_haproxy_and_the_server_sees_them():
    before = host_net_sysctls()
    with haproxy_target([Frontend(8000)]) as pair:
        hold = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{pair.client}",
                sys.executable,
                "-m",
                "tunekit",
                "probe",
                "--target",
                target(pair, 8000),
                "--conns",
                "3000",
                "--hold",
                "4",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        said = []
        for line in hold.stderr:
            said.append(line)
            if "holding" in line:
                break
        time.sleep(0.5)
        at_server = pair.established(8000)
        out, err = hold.communicate(timeout=60)
        err = "".join(said) + err
    assert hold.returncode == 0, err
    r = json.loads(out)
    assert r["complete"] and r["established"] == 3000 and r["held"] == 3000
    assert r["lost"] == 0 and r["causes"] == [] and r["rate"] > 0
    assert at_server == 3000  # HAProxy's namespace holds them: real connections
    assert r["layout"]["sources"] == [pair.client_ips[0]]
    assert r["layout"]["source_from"] == "route"
    assert r["stop"]["predicted"] is None and r["stop"]["observed"] is None
    assert "client-side estimate" in err  # said before it started
    assert host_net_sysctls() == before


def test_a_narrow_port_range_stops_it_where_predicted_and_names_the_range():
    setup = "echo '40000 40999' > /proc/sys/net/ipv4/ip_local_port_range"
    with haproxy_target([Frontend(8000)]) as pair:
        code, r = probe(
            pair, "--target", target(pair, 8000), "--conns", "3000", "--hold", "0", setup=setup
        )
        est = pair.tunekit(
            "estimate",
            "--role",
            "client",
            "--conns",
            "3000",
            "--source-ips",
            "1",
            "--destinations",
            "1",
            "--json",
            setup=setup,
            cwd=REPO,
        )
    assert code == 1
    assert r["established"] == 1000 and r["held"] == 1000
    stop = r["stopped_by"]
    assert (stop["kind"], stop["op"], stop["side"]) == ("EADDRNOTAVAIL", "connect", "client")
    assert stop["key"] == PORT_RANGE and "40000-40999" in stop["fix"]
    assert stop["by_destination"] == {f"{pair.server_ip}:8000": stop["count"]}
    assert r["stop"]["predicted"] == 1000 and r["stop"]["observed"] == 1000
    assert r["stop"]["agrees"] is True and r["stop"]["diff_percent"] == 0.0
    binding = json.loads(est.stdout)["binding"]  # and tunekit estimate says the same
    assert (binding["key"], binding["allows"]) == (PORT_RANGE, 1000)


def test_ports_are_per_source_and_destination():
    """200 ports, 2 source addresses, 2 targets: 800, each pair full."""
    setup = "echo '40000 40199' > /proc/sys/net/ipv4/ip_local_port_range"
    with haproxy_target([Frontend(8000), Frontend(8001)], sources=2) as pair:
        code, r = probe(
            pair,
            "--target",
            target(pair, 8000, 8001),
            "--source-ips",
            ",".join(pair.client_ips),
            "--conns",
            "2000",
            "--hold",
            "0",
            setup=setup,
        )
    assert code == 1 and r["layout"]["pairs"] == 4
    assert r["stop"]["predicted"] == 800
    assert 780 <= r["established"] <= 800  # the first exhausted pair stops every worker
    assert r["stopped_by"]["key"] == PORT_RANGE


def test_a_small_worker_nofile_names_rlimit_nofile():
    with haproxy_target([Frontend(8000)]) as pair:
        code, r = probe(
            pair,
            "--target",
            target(pair, 8000),
            "--conns",
            "3000",
            "--nofile",
            "300",
            "--hold",
            "0",
        )
    assert code == 1
    stop = r["stopped_by"]
    assert stop["kind"] == "EMFILE" and stop["key"] == "rlimit.nofile.soft"
    assert stop["side"] == "client" and "300" in stop["fix"]
    assert 280 <= r["established"] < 300
    assert r["stop"]["predicted"] == 284 and r["stop"]["agrees"] is True


def test_a_server_that_stops_accepting_is_named_as_the_server_side():
    """HAProxy maxconn 100 with a backlog of 50: the accept queue fills, SYNs are dropped,
    connects time out."""
    with haproxy_target([Frontend(8000, maxconn=100, backlog=50)]) as pair:
        code, r = probe(
            pair,
            "--target",
            target(pair, 8000),
            "--conns",
            "1000",
            "--connect-timeout",
            "2",  # past the first SYN retransmission (initial RTO 1 s)
            "--hold",
            "0",
        )
    assert code == 1
    stop = r["stopped_by"]
    assert (stop["kind"], stop["side"], stop["key"]) == ("timeout", "server", None)
    assert "somaxconn" in stop["fix"] and "maxconn" in stop["fix"]
    assert 100 <= r["established"] <= 200
    assert r["stop"]["predicted"] is None  # the client side allows all of them
    assert r["symptoms"].get("TCPSynRetrans", 0) > 0


def test_connections_the_server_closes_while_held_are_counted():
    with haproxy_target([Frontend(8000, timeout_client="1s")]) as pair:
        code, r = probe(pair, "--target", target(pair, 8000), "--conns", "500", "--hold", "3")
    assert code == 1
    assert r["established"] == 500 and r["lost"] == 500 and r["held"] == 0
    stop = r["stopped_by"]
    assert (stop["kind"], stop["op"], stop["side"]) == ("closed", "hold", "server")
    assert stop["count"] == 500


def test_refused_connections_are_the_server_side():
    with haproxy_target([Frontend(8000)]) as pair:
        code, r = probe(pair, "--target", target(pair, 8999), "--conns", "100", "--hold", "0")
    assert code == 1 and r["established"] == 0
    stop = r["stopped_by"]
    assert (stop["kind"], stop["side"]) == ("ECONNREFUSED", "server")


def test_a_ramp_climbs_in_plateaus():
    with haproxy_target([Frontend(8000)]) as pair:
        code, r = probe(
            pair,
            "--target",
            target(pair, 8000),
            "--conns",
            "1500",
            "--ramp",
            "500/0.5",
            "--processes",
            "2",
            "--hold",
            "0",
        )
    assert code == 0, r
    assert [(p["target"], p["established"]) for p in r["plateaus"]] == [(500, 500), (1000, 1000)]
    assert r["held"] == 1500 and r["layout"]["ramp"] == {"step": 500, "seconds": 0.5}


def _holding(pair, *args: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{pair.client}", sys.executable, "-m", "tunekit"]
        + ["probe", "--target", target(pair, 8000), "--hold", "60", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    for line in proc.stderr:
        if "holding" in line:
            break
    return proc, Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()


def test_a_worker_that_dies_is_reported_with_what_it_held():
    with haproxy_target([Frontend(8000)]) as pair:
        proc, workers = _holding(pair, "--conns", "3000", "--processes", "3", "--json")
        os.kill(int(workers[0]), signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    r = json.loads(out)
    assert proc.returncode == 1 and not r["complete"]
    assert r["stopped_by"]["kind"] == "worker_died" and r["stopped_by"]["side"] == "client"
    assert r["lost"] == 1000 and r["held"] == 2000


def test_sigint_tears_the_client_down():
    with haproxy_target([Frontend(8000)]) as pair:
        proc, children = _holding(pair, "--conns", "2000")
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode == 130
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children and not [c for c in children if Path(f"/proc/{c}").exists()]
        time.sleep(0.5)
        assert pair.established(8000) == 0  # the server saw them close


def test_the_namespaces_go_even_when_the_body_fails():
    before = namespaces()
    with pytest.raises(ZeroDivisionError):
        with haproxy_target([Frontend(8000)]) as pair:
            assert pair.server in namespaces()
            1 / 0  # noqa: B018
    assert namespaces() == before


def test_the_use_case_is_one_typed_call_as_a_module_makes_it():
    """The Ansible module calls tunekit.ops.probe.probe_target with typed options and gets
    the probe-target document back: no CLI, no typer."""
    script = (
        "from tunekit.probe import TargetProbeOptions, run_target\n"
        "from tunekit.output.documents.probe_target import ProbeTarget\n"
        "run = run_target(TargetProbeOptions(targets=[{t!r}], conns=500, hold=0))\n"
        "assert isinstance(run.doc, ProbeTarget)\n"
        "print(run.doc.model_dump_json())\n"
    )
    with haproxy_target([Frontend(8000)]) as pair:
        done = pair.run(
            [sys.executable, "-c", script.format(t=target(pair, 8000))], cwd=REPO, timeout=120
        )
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["complete"] and r["held"] == 500
