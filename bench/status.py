#!/usr/bin/env python3
"""What one `tunekit status` reading costs, path by path, with N sockets held.

    sudo .venv/bin/python bench/status.py [--rounds R] [--slow-max M] [N ...]
                                  (default: 100000 1000000 connections)

For each N: `tunekit probe --conns N --hold S` holds N connections (2N sockets) in a
namespace of its own, in the background; once its sockets are all there (sockstat read
through `nsenter --net=/proc/PID/ns/net`), this script runs itself inside that namespace
and times each way of reading the sockets and counters, best of R rounds:

- /proc/net/sockstat, snmp, netstat, fs.file-nr (counters.read_counters): the counter rows
- inet_diag LISTEN only (sockets.listeners): the listener rows
- inet_diag rare states (sockets.states: SYN_RECV, CLOSE_WAIT, ...)
- inet_diag ports in the ephemeral range, kernel-filtered (sockets.ports): the client rows;
  and the same dump received but not parsed (the kernel's share)
- inet_diag every state, parsed with struct (sockets.dump, one pass over the messages)
- every process's descriptors (processes.open_files: stat(/proc/PID/fd))
- /proc/net/tcp and tcp6, read whole; `ss -tan`; psutil.net_connections("tcp");
  pyroute2's DiagSocket for every state (the slow ones: run only up to --slow-max)

then one whole reading, `tunekit status --json` as a process in the namespace: its own
figure (read_ms.total), the process's wall time (Python start-up included) and its peak
RSS (wait4). Targets (issue 19): one reading under 0.5 s and 100 MB at 100,000 sockets,
under 3 s at 1,000,000; listener and counter rows in constant time. The probe's namespace
is its own: no setting of the host changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _best(func, rounds: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def _full_dump() -> int:
    from tunekit.host import sockets

    n = 0
    for batch in sockets.dump(sockets.ALL_STATES):
        n += sum(1 for _ in sockets._messages(batch))
    return n


def _ports_kernel_only(lo: int, hi: int) -> int:
    """The kernel's share of the ports dump: the batches received, not parsed."""
    from tunekit.host import sockets

    code = sockets.port_range_bytecode(lo, hi)
    return sum(len(b) for b in sockets.dump(sockets.PORT_STATES, code))


def _live(parallel: bool) -> int:
    """What a reading reads from the running host (host/status.read_live), the two
    inet_diag dumps one after the other or side by side."""
    from tunekit.host.facts import read_facts
    from tunekit.host.status import Timer, read_live
    from tunekit.model.status import Snapshot

    snap = Snapshot(at=0.0, facts=read_facts(addresses=False))
    read_live(snap, 5, None, Timer(), parallel)
    return len(snap.ports or {})


def _proc_net_tcp() -> int:
    n = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name, "rb") as f:
            n += f.read().count(b"\n") - 1
    return n


def _ss() -> int:
    out = subprocess.run(["ss", "-tan"], capture_output=True, check=True).stdout
    return out.count(b"\n") - 1


def _psutil() -> int:
    import psutil

    return len(psutil.net_connections("tcp"))


def _pyroute2() -> int:
    from pyroute2 import DiagSocket

    with DiagSocket() as ds:
        ds.bind()
        n = 0
        for family in (2, 10):
            n += len(ds.get_sock_stats(family=family, states=0xFFF))
        return n


def measure(rounds: int, slow: bool) -> dict:
    """Inside the namespace: every path, best of `rounds` (the slow ones once)."""
    from tunekit.host import counters, processes, sockets

    lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    listening = {s.port for s in sockets.listeners()}
    paths = {
        "sockstat+snmp+netstat (counter rows)": (lambda: counters.read_counters(), rounds),
        "inet_diag LISTEN (listener rows)": (lambda: len(sockets.listeners()), rounds),
        "inet_diag rare states": (lambda: sum(sockets.states().counts.values()), rounds),
        "inet_diag ports, kernel-filtered": (
            lambda: sockets.ports(lo, hi, listening).sockets,
            rounds,
        ),
        "inet_diag ports, kernel's share (bytes)": (lambda: _ports_kernel_only(lo, hi), rounds),
        "inet_diag every state, struct": (_full_dump, rounds),
        "descriptors of every process": (lambda: len(processes.open_files()), rounds),
        "/proc/net/tcp + tcp6": (_proc_net_tcp, 1),
        "ss -tan": (_ss, 1),
    }
    if slow:
        paths["psutil.net_connections"] = (_psutil, 1)
        paths["pyroute2 DiagSocket, every state"] = (_pyroute2, 1)
    for way in ("in turn", "side by side"):
        paths[f"live part of a reading, dumps {way}"] = (
            lambda way=way: _live(way == "side by side"),
            rounds,
        )
    out = {}
    for name, (func, r) in paths.items():
        seconds, result = _best(func, r)
        out[name] = {
            "seconds": seconds,
            "result": result if isinstance(result, int) else None,
        }
    return out


def whole_reading(pid: int) -> dict:
    cmd = ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-m", "tunekit"]
    cmd += ["status", "--json", "--no-kernel-log"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    doc = json.loads(out)
    return {
        "wall": wall,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "read_ms": doc["read_ms"],
        "ports_rows": [r["used"] for r in doc["rows"] if r["resource"] == "ephemeral ports"],
        "listeners": [
            (r["labels"]["port"], r["used"], r["limit"], r["owners"][:1])
            for r in doc["rows"]
            if r["resource"] == "listen queue"
        ],
        "notes": doc["notes"],
    }


def sockets_in(pid: int) -> int:
    text = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "cat", "/proc/net/sockstat"],
        capture_output=True,
        text=True,
    ).stdout
    for line in text.splitlines():
        if line.startswith("TCP:"):
            f = line.split()
            return int(f[f.index("inuse") + 1])
    return 0


def run(n: int, rounds: int, slow_max: int) -> None:
    hold = 3600
    probe = subprocess.Popen(
        [sys.executable, "-m", "tunekit", "probe", "--conns", str(n), "--hold", str(hold)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if probe.poll() is not None:
                raise SystemExit(f"the probe ended early (exit {probe.returncode})")
            try:
                theirs = os.stat(f"/proc/{probe.pid}/ns/net").st_ino
            except OSError:
                theirs = mine
            if theirs != mine and sockets_in(probe.pid) >= 2 * n:
                break
            time.sleep(1)
        else:
            raise SystemExit("the probe did not reach its connections in time")
        time.sleep(2)  # settle
        inside = subprocess.run(
            ["nsenter", f"--net=/proc/{probe.pid}/ns/net", sys.executable, __file__]
            + ["--measure", "--rounds", str(rounds)]
            + (["--slow"] if n <= slow_max else []),
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if inside.returncode:
            raise SystemExit(inside.stderr)
        paths = json.loads(inside.stdout)
        whole = whole_reading(probe.pid)
    finally:
        probe.terminate()
        probe.wait(timeout=600)
    print(f"\n{n:,} connections ({2 * n:,} sockets), best of {rounds}:")
    for name, r in paths.items():
        shown = f"{r['result']:,}" if r["result"] is not None else ""
        print(f"  {name:40} {r['seconds'] * 1000:10,.1f} ms  {shown}")
    if n > slow_max:
        print(f"  (psutil and pyroute2 skipped above {slow_max:,} connections: --slow-max)")
    print(
        f"  one reading (tunekit status --json): {whole['read_ms']['total']:,.0f} ms of its "
        f"own, {whole['wall'] * 1000:,.0f} ms as a process, peak RSS {whole['maxrss_mb']:,.0f} MB"
    )
    parts = ", ".join(f"{k} {v:,.1f}" for k, v in whole["read_ms"].items() if k != "total")
    print(f"    read_ms: {parts}")
    print(f"    listeners (port, queue, backlog, owner): {whole['listeners']}")
    print(f"    busiest ports rows: {whole['ports_rows']}")
    for note in whole["notes"]:
        print(f"    note: {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("counts", nargs="*", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--slow-max", type=int, default=200_000)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--slow", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.rounds, args.slow)))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the probe makes a network namespace")
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs; tunekit probe holds the sockets")
    for n in args.counts:
        run(n, args.rounds, args.slow_max)


if __name__ == "__main__":
    main()
