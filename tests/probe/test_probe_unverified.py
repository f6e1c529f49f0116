"""A probe that could not measure what it claims says INCOMPLETE (exit 5), never passes.

The real probe runs in a whole process, as a user runs it, with one of its readings
pointed at a path that cannot be read (a directory: EISDIR) through the module attribute
it reads from (netns.SOCKSTAT, netns.SLABINFO, ports.TCP): nothing of /proc is broken."""

import json
import subprocess
import sys

import pytest
from helpers import REPO, invoke, require_privileges, require_tool
from servers import Frontend, haproxy_target, namespaces

from tunekit.errors import ExitCode
from tunekit.probe.verdicts import probe_verdict

SCRIPT = """
import runpy, sys
import {module} as m
m.{name} = {path!r}
sys.argv = ["tunekit", *{args!r}]
runpy.run_module("tunekit", run_name="__main__")
"""


def tunekit_with(
    module: str, name: str, path, *args: str, prefix=()
) -> subprocess.CompletedProcess:
    script = SCRIPT.format(module=module, name=name, path=str(path), args=list(args))
    return subprocess.run(
        [*prefix, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )


def test_the_verdict_of_a_probe():
    assert probe_verdict(False, []) == "complete"
    assert probe_verdict(False, ["held: ..."]) == "incomplete"
    assert probe_verdict(True, ["held: ..."]) == "stopped-short"  # stopping short says more
    assert probe_verdict(True, []) == "stopped-short"


def test_the_schemas_publish_the_verdict():
    for kind in ("probe", "probe-target"):
        schema = json.loads(invoke("schema", kind).stdout)
        assert {"verdict", "unverified", "complete"} <= set(schema["properties"]), kind
        assert set(schema["properties"]["verdict"]["enum"]) == {
            "complete",
            "stopped-short",
            "incomplete",
        }
    held = json.loads(invoke("schema", "probe").stdout)["properties"]["held"]
    assert {"type": "null"} in held["anyOf"]  # null: not counted


@pytest.fixture
def privileged():
    require_privileges()
    before = namespaces()
    yield
    assert namespaces() == before, "a network namespace was left behind"


def test_an_unreadable_sockstat_makes_the_loopback_probe_incomplete(privileged, tmp_path):
    args = ("probe", "--conns", "200", "--hold", "0")
    done = tunekit_with("tunekit.probe.netns", "SOCKSTAT", tmp_path, *args, "--json")
    assert done.returncode == ExitCode.INCOMPLETE == 5, done.stderr
    r = json.loads(done.stdout)
    assert r["verdict"] == "incomplete" and r["complete"] is False
    assert r["established"] == 200 and r["failure"] is None
    assert r["held"] is None, "not counted, rather than a made-up 0"
    assert r["memory"] is None, "no bytes per connection from a reading of 0"
    assert len(r["unverified"]) == 2
    memory, held = r["unverified"]  # in the order measured: after the climb, after the hold
    assert held.startswith(f"held: {tmp_path} (TCP: inuse, mem) could not be read")
    assert memory.startswith("memory: ") and str(tmp_path) in memory

    done = tunekit_with("tunekit.probe.netns", "SOCKSTAT", tmp_path, *args)
    assert done.returncode == 5
    assert "INCOMPLETE: 2 figure(s) not verified:" in done.stdout
    assert "not counted" in done.stdout and "HELD" not in done.stdout


def test_an_unreadable_slabinfo_leaves_held_counted_and_memory_out(privileged, tmp_path):
    done = tunekit_with(
        "tunekit.probe.netns", "SLABINFO", tmp_path, "probe", "--conns", "200", "--json"
    )
    assert done.returncode == 5, done.stderr
    r = json.loads(done.stdout)
    assert r["held"] == 200 and r["memory"] is None and r["verdict"] == "incomplete"
    assert r["unverified"] == [
        f"memory: {tmp_path} (slab caches) could not be read: what the connections cost "
        "was not measured"
    ]


def test_a_probe_that_stops_short_stays_exit_1_whatever_was_not_read(privileged, tmp_path):
    setup_free = ("probe", "--conns", "3000", "--nofile", "300", "--processes", "1", "--json")
    done = tunekit_with("tunekit.probe.netns", "SOCKSTAT", tmp_path, *setup_free)
    r = json.loads(done.stdout)
    assert done.returncode == 1 and r["verdict"] == "stopped-short", done.stderr
    assert r["unverified"], "still listed"


def test_a_target_probe_whose_ports_in_use_were_not_read_is_incomplete(privileged, tmp_path):
    require_tool("haproxy")
    require_tool("nsenter")
    with haproxy_target([Frontend(8000)]) as pair:
        args = ("probe", "--target", f"{pair.server_ip}:8000", "--conns", "300", "--hold", "0")
        prefix = ("nsenter", f"--net=/run/netns/{pair.client}")
        done = tunekit_with("tunekit.host.ports", "TCP", tmp_path, *args, "--json", prefix=prefix)
        text = tunekit_with("tunekit.host.ports", "TCP", tmp_path, *args, prefix=prefix)
    assert done.returncode == 5, done.stderr
    r = json.loads(done.stdout)
    assert r["held"] == 300 and r["verdict"] == "incomplete" and not r["complete"]
    assert r["layout"]["ports_in_use"] is None
    assert r["unverified"] == [
        f"stop.predicted: {tmp_path} could not be read: the ports already in use toward "
        "the targets (an earlier run's TIME_WAIT) were not subtracted from the prediction"
    ]
    assert text.returncode == 5 and "INCOMPLETE: held 300, but 1 not verified:" in text.stdout
