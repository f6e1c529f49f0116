"""tunekit status on the real kernel: a scene of listeners and connections in a throw-away
network namespace (status_scene.py), read by `status --json` from inside it (nsenter), and
every figure compared with what iproute2 (`ss`, `nstat`) says for the same namespace at
the same moment. Nothing is changed outside the namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import REPO, require_privileges, require_tool

from tunekit.knowledge import catalogue as K

SCENE = Path(__file__).with_name("status_scene.py")


@pytest.fixture(autouse=True)
def privileged():
    require_privileges()
    for tool in ("ss", "nstat", "nsenter", "ip"):
        require_tool(tool)


@contextmanager
def scene():
    proc = subprocess.Popen(
        ["unshare", "-n", sys.executable, str(SCENE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, "the scene did not start"
        yield json.loads(line)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def inside(pid: int, *cmd: str) -> str:
    done = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", *cmd],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def status(pid: int, *args: str) -> dict:
    return json.loads(inside(pid, sys.executable, "-m", "tunekit", "status", "--json", *args))


def ss_states(pid: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in inside(pid, "ss", "-Htan").splitlines():
        state = line.split()[0]
        counts[state] = counts.get(state, 0) + 1
    return counts


def ss_listeners(pid: int) -> list[tuple[str, int, int]]:
    """(local address:port, Recv-Q, Send-Q) of each LISTEN socket, as `ss -lnt` prints."""
    out = []
    for line in inside(pid, "ss", "-Hltn").splitlines():
        _, recv_q, send_q, local, _ = line.split()[:5]
        out.append((local, int(recv_q), int(send_q)))
    return sorted(out)


def overflows(pid: int) -> int:
    text = inside(pid, "nstat", "-asz", "TcpExtListenOverflows")
    return int(next(line.split()[1] for line in text.splitlines() if "ListenOverflows" in line))


def steady(read, tries: int = 10):
    """ss and status read a moment apart; retry until the ss reading on both sides of
    the status reading agree (a SYN retried in between changes the figures)."""
    for _ in range(tries):
        before, doc, after = read()
        if before == after:
            return before, doc
        time.sleep(0.3)
    raise AssertionError("the namespace never held still")


def rows(doc: dict, resource: str) -> list[dict]:
    return [r for r in doc["rows"] if r["resource"] == resource]


def test_status_matches_ss_for_listeners_states_ports_and_overflows():
    with scene() as s:
        pid = s["pid"]

        def read():
            before = (ss_listeners(pid), ss_states(pid), overflows(pid))
            doc = status(pid)
            return before, doc, (ss_listeners(pid), ss_states(pid), overflows(pid))

        (listeners, states, grew), doc = steady(read)

        # every listener: its queue (Recv-Q) and backlog (Send-Q); the SO_REUSEPORT pair
        # on 7002 is one row with two members, not two rows, nor merged away
        queues = rows(doc, "listen queue")
        by_port = {r["labels"]["port"]: r for r in queues}
        assert sorted(by_port) == ["7001", "7002"]
        assert [(local, q, b) for local, q, b in listeners if local.endswith(":7001")] == [
            ("127.0.0.1:7001", by_port["7001"]["used"], by_port["7001"]["limit"])
        ]
        assert by_port["7001"]["limit"] == 2 and by_port["7001"]["used"] == 3
        assert by_port["7002"]["members"] == 2
        assert [b for local, _, b in listeners if local.endswith(":7002")] == [16, 16]
        assert by_port["7002"]["limit"] == 16 and by_port["7002"]["used"] == 0
        assert any(f"pid {pid}" in o for o in by_port["7001"]["owners"])
        # the full queue overflowed: ListenOverflows as nstat reads it, and the row is hit
        symptoms = {x["counter"]: x for x in doc["symptoms"]}
        assert symptoms["ListenOverflows"]["total"] == grew > 0
        assert by_port["7001"]["verdict"] == "hit"
        assert by_port["7001"]["fix"] == K.SOMAXCONN.usage.beyond  # backlog 2 < somaxconn

        # sockets by state, as ss counts them (sockstat's tw counts FIN_WAIT2 orphans,
        # which wait as minisockets, with TIME_WAIT)
        socks = doc["sockets"]
        assert socks["established"] == states.get("ESTAB", 0) == 146
        assert socks["close_wait"] == states.get("CLOSE-WAIT", 0) == 5
        assert socks["syn_recv"] == states.get("SYN-RECV", 0)
        assert socks["others"]["SYN_SENT"] == states.get("SYN-SENT", 0) == 5
        assert socks["time_wait"] == states.get("TIME-WAIT", 0) + states.get("FIN-WAIT-2", 0)
        assert rows(doc, "TIME_WAIT")[0]["used"] == socks["time_wait"]

        # ports per (source, destination) against the namespace's 100-port range
        ports = {r["labels"]["destination"]: r for r in rows(doc, "ephemeral ports")}
        for dest in ("127.0.0.1:7001", "127.0.0.1:7002"):
            lines = inside(pid, "ss", "-Htan", "dst", dest).splitlines()
            assert ports[dest]["used"] == len(lines), dest
            assert ports[dest]["limit"] == 100
        assert ports["127.0.0.1:7002"]["used"] == 85
        assert ports["127.0.0.1:7002"]["verdict"] == "near"
        assert K.PORT_RANGE.name in ports["127.0.0.1:7002"]["fix"]

        # the scene's own descriptors against its soft limit of 190
        mine = [r for r in rows(doc, "open files") if r["labels"]["pid"] == str(pid)]
        assert mine and mine[0]["limit"] == 190
        assert mine[0]["used"] == len(os.listdir(f"/proc/{pid}/fd"))
        assert mine[0]["verdict"] == "near" and "LimitNOFILE=" in mine[0]["fix"]


def test_watch_reports_growth_between_readings_as_json_lines():
    with scene() as s:
        pid = s["pid"]
        proc = subprocess.Popen(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-m", "tunekit"]
            + ["status", "--watch", "2.5", "--json", "--no-kernel-log"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        try:
            first, second = (json.loads(proc.stdout.readline()) for _ in range(2))
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0  # SIGTERM ends a watch as Ctrl-C does
        assert first["interval"] is None and second["interval"] > 2
        a = {x["counter"]: x for x in first["symptoms"]}["ListenOverflows"]
        b = {x["counter"]: x for x in second["symptoms"]}["ListenOverflows"]
        assert b["grown"] == b["total"] - a["total"]
        row = {r["labels"].get("port"): r for r in rows(second, "listen queue")}["7001"]
        assert row["rate"] == 0.0 and row["seconds_to_limit"] == 0.0  # full, and staying so
