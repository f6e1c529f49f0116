#!/usr/bin/env python3
"""Prove the estimate's stopping points: for each limit, `tunekit estimate` predicts the
connection count at which it stops the climb, the probe stops there with that limit
named, and the two are within 2 %.

    sudo .venv/bin/python bench/stops.py                     # ports, nofile, target-ports
    sudo .venv/bin/python bench/stops.py file-max memory     # the lead, on a quiet machine

Cases:
- ports: a loopback probe from a throw-away namespace (`unshare -n`) whose port range is
  narrowed to 5,000 ports, 2 source addresses, 1 destination: 10,000.
- target-ports: `probe --target` against HAProxy (tests/servers.py), the client's range
  narrowed to 5,000 ports, 1 source, 2 targets: 10,000.
- nofile: a loopback probe with one connecting process (`--processes 1`) at the hard
  RLIMIT_NOFILE (20,000 without CAP_SYS_RESOURCE); `tunekit estimate --processes 1` is told
  the probe worker's reserve (`--const fd_reserve=17`: 16 of its own and the listener).
- file-max: a loopback probe until ENFILE. fs.file-max is GLOBAL: the bench lowers it for
  the run to (files in use + 2 x --file-max-conns) with `tunekit apply` of a profile
  pinning it, and `tunekit rollback` afterwards, in a finally; every process on the host
  meets the lowered limit meanwhile. Both ends of each connection hold a descriptor, so
  the probe stops at half what the estimate's file-max limit allows.
- file-max-live: the same stop at the host's own fs.file-max, changed by nothing: the probe
  asks for 5 % more than half the free file handles and stops at ENFILE (for a quiet
  machine: meanwhile no process without CAP_SYS_ADMIN can open a file).
- memory: hold the largest N whose sockets (both ends) and workers fit in 80 % of
  MemAvailable by the estimate's socket_bytes (near 2,000,000 on 23.5 GiB), with the
  measured bytes per socket and per connection beside the estimate's. 2N descriptors pass
  this host's fs.file-max, so it is raised for the run (at least 2N + 1,000,000) with
  `tunekit apply`, and rolled back in a finally.

file-max and memory change a global setting and must not run where others work; neither
runs by default. If the bench is killed between apply and rollback:
    TUNEKIT_STATE_DIR=/var/tmp/tunekit-bench-stops tunekit rollback
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

STATE = Path("/var/tmp/tunekit-bench-stops")
WORKER_BYTES = 8 << 20  # tunekit/probe/layout.py: a worker's own memory, as the probe counts it
PER_WORKER = 20_000 - 17  # a loopback worker's sockets within the 20,000 hard limit


def tunekit(*args: str, setup: str | None = None, env=None, timeout=3600) -> dict:
    """tunekit ... --json, in a fresh `unshare -n` namespace after `setup` if given."""
    cmd = [sys.executable, "-m", "tunekit", *args, "--json"]
    if setup is not None:
        cmd = ["unshare", "-n", "sh", "-ec", f"{setup}\nexec " + " ".join(cmd)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    if not done.stdout:
        raise SystemExit(f"tunekit {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def row(case: str, predicted: int, predicted_by: str, probe: dict, observed: int) -> None:
    stop = probe.get("failure") or probe.get("stopped_by") or {}
    diff = (predicted - observed) / observed * 100 if observed else float("nan")
    ok = "yes" if abs(diff) <= 2 else "NO"
    print(
        f"{case:<13} {predicted:>10,}  {predicted_by:<34} {observed:>10,}  "
        f"{stop.get('kind', '-'):<14} {stop.get('key') or '-':<30} {diff:>+6.2f} %  {ok}",
        flush=True,
    )


def binding(est: dict) -> tuple[int, str]:
    b = est["binding"]
    return b["allows"], b["key"] or b["name"]


def case_ports() -> None:
    setup = "ip link set lo up\necho '40000 44999' > /proc/sys/net/ipv4/ip_local_port_range"
    shape = ("--conns", "20000", "--source-ips", "2", "--destinations", "1")
    predicted, key = binding(tunekit("estimate", "--role", "client", *shape, setup=setup))
    r = tunekit("probe", *shape, "--hold", "0", setup=setup)
    row("ports", predicted, key, r, r["established"])


def case_target_ports() -> None:
    from servers import Frontend, haproxy_target

    setup = "echo '40000 44999' > /proc/sys/net/ipv4/ip_local_port_range"
    with haproxy_target([Frontend(8000), Frontend(8001)]) as pair:
        targets = f"{pair.server_ip}:8000,{pair.server_ip}:8001"
        est = pair.tunekit(
            "estimate", "--role", "client", "--conns", "20000", "--source-ips", "1",
            "--destinations", "2", "--json", setup=setup, cwd=REPO,
        )  # fmt: skip
        done = pair.tunekit(
            "probe", "--target", targets, "--conns", "20000", "--hold", "0", "--json",
            setup=setup, cwd=REPO, timeout=600,
        )  # fmt: skip
    predicted, key = binding(json.loads(est.stdout))
    r = json.loads(done.stdout)
    row("target-ports", predicted, key, r, r["held"])


def case_nofile() -> None:
    est = tunekit(
        "estimate", "--role", "client", "--conns", "30000", "--processes", "1",
        "--source-ips", "4", "--destinations", "1", "--const", "fd_reserve=17",
    )  # fmt: skip
    predicted, key = binding(est)
    r = tunekit("probe", "--conns", "30000", "--processes", "1", "--hold", "0")
    row("nofile", predicted, key, r, r["established"])


def _profile(tmp: Path, op: str, value: int) -> Path:
    path = tmp / "bench-file-max.toml"
    path.write_text(
        'name = "bench-file-max"\n'
        '[workload]\nrole = "client"\nconnections = 1\nprocesses = 1\n'
        f'[[targets]]\nkey = "fs.file-max"\nop = "{op}"\nvalue = {value}\n'
        'reason = "bench/stops.py: for the run, rolled back after it"\n'
        'source = "bench/stops.py"\n'
    )
    return path


DRY_RUN = False  # --dry-run: apply --dry-run only, and no probe where the limit is global


class GlobalFileMax:
    """fs.file-max set for the run with `tunekit apply --no-persist`, rolled back after."""

    def __init__(self, op: str, value: int):
        self.op, self.value = op, value
        self.env = {**os.environ, "TUNEKIT_STATE_DIR": str(STATE)}

    def __enter__(self):
        STATE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            profile = _profile(Path(tmp), self.op, self.value)
            print(f"  (tunekit apply: fs.file-max {self.op} {self.value:,}; rollback after)")
            cmd = [sys.executable, "-m", "tunekit", "apply", str(profile), "--no-persist"]
            done = subprocess.run(
                cmd + (["--dry-run"] if DRY_RUN else []),
                cwd=REPO,
                env=self.env,
                capture_output=True,
                text=True,
            )
            if DRY_RUN:
                print("  " + done.stdout.strip().replace("\n", "\n  "))
            if done.returncode:
                raise SystemExit(f"tunekit apply failed: {done.stderr.strip()}")
        return self

    def __exit__(self, *exc):
        if DRY_RUN:
            return
        done = subprocess.run(
            [sys.executable, "-m", "tunekit", "rollback"], cwd=REPO, env=self.env, text=True,
            capture_output=True,
        )  # fmt: skip
        state = "rolled back" if done.returncode == 0 else f"ROLLBACK FAILED: {done.stderr}"
        print(f"  (fs.file-max {state}: now {Path('/proc/sys/fs/file-max').read_text().strip()})")


def _files_in_use() -> int:
    return int(Path("/proc/sys/fs/file-nr").read_text().split()[0])


def case_file_max(conns: int) -> None:
    with GlobalFileMax("exactly", _files_in_use() + 2 * conns):
        est = tunekit("estimate", "--role", "client", "--conns", str(2 * conns))
        lim = next(x for x in est["limits"] if x["key"] == "fs.file-max")
        if DRY_RUN:
            print(f"  (dry run: the estimate's file-max limit now allows {lim['allows']:,})")
            return
        r = tunekit("probe", "--conns", str(2 * conns), "--hold", "0")
    # both ends of each loopback connection hold one of the host's file handles
    row("file-max", lim["allows"] // 2, "fs.file-max (/ 2: both ends)", r, r["established"])
    print(f"  the probe's own estimate: {r['estimate']['predicted_stop']}")


def case_file_max_live() -> None:
    """The host's own fs.file-max, unchanged: a loopback probe asked for 5 % more
    connections than half the free file handles stops at ENFILE (its workers have no
    CAP_SYS_ADMIN). Nothing is written; while it holds them, other processes without
    CAP_SYS_ADMIN on the host cannot open files either, so this is for a quiet machine."""
    est = tunekit("estimate", "--role", "client", "--conns", "1000000")
    lim = next(x for x in est["limits"] if x["key"] == "fs.file-max")
    conns = int(lim["allows"] // 2 * 1.05)
    print(f"  (fs.file-max {Path('/proc/sys/fs/file-max').read_text().strip()}, unchanged; "
          f"asking for {conns:,})")  # fmt: skip
    if DRY_RUN:
        return
    r = tunekit("probe", "--conns", str(conns), "--hold", "0", timeout=7200)
    row("file-max-live", lim["allows"] // 2, "fs.file-max (/ 2: both ends)", r, r["established"])
    print(f"  the probe's own estimate: {r['estimate']['predicted_stop']}")
    mem = r.get("memory") or {}
    print(
        f"  per socket {mem.get('per_socket') or 0:,.0f} B (estimate "
        f"{est['constants']['socket_bytes']:,.0f} B, {mem.get('diff_percent')} %); per "
        f"connection {mem.get('slab_per_conn') or 0:,.0f} B"
    )


def case_memory() -> None:
    est = tunekit("estimate", "--role", "client", "--conns", "1000")
    socket_bytes = est["constants"]["socket_bytes"]
    avail = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemAvailable:")
            )
        )
        * 1024
    )
    # both sockets of each connection, and its share of the two workers holding them
    n = int(0.8 * avail / (2 * socket_bytes + 2 * WORKER_BYTES / PER_WORKER))
    print(
        f"  80 % of MemAvailable ({avail / 2**30:.1f} GiB) / (2 x {socket_bytes:,.0f} B + "
        f"workers) = {n:,} connections"
    )
    with GlobalFileMax("at_least", 2 * n + 1_000_000):
        if DRY_RUN:
            return
        r = tunekit("probe", "--conns", str(n), "--hold", "10", timeout=7200)
    mem = r["memory"] or {}
    print(
        f"memory        held {r['held']:,} of {n:,} ({r['rate']:,}/s); per socket "
        f"{mem.get('per_socket') or 0:,.0f} B (estimate {socket_bytes:,.0f} B, "
        f"{mem.get('diff_percent')} %); per connection {mem.get('slab_per_conn') or 0:,.0f} B "
        f"(estimate {2 * socket_bytes:,.0f} B); failure: "
        f"{(r['failure'] or {}).get('kind', 'none')}",
        flush=True,
    )


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the probes create network namespaces")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "cases",
        nargs="*",
        help="ports target-ports nofile (default); file-max-live; file-max memory",
    )
    parser.add_argument("--file-max-conns", type=int, default=100_000)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="file-max, memory: show the apply plan and the prediction; change nothing",
    )
    args = parser.parse_args()
    global DRY_RUN
    DRY_RUN = args.dry_run
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs")
    print(
        f"{'case':<13} {'predicted':>10}  {'by the estimate':<34} {'observed':>10}  "
        f"{'stopped by':<14} {'limit':<30} {'diff':>8}  within 2 %"
    )
    run = {
        "ports": case_ports,
        "target-ports": case_target_ports,
        "nofile": case_nofile,
        "file-max": lambda: case_file_max(args.file_max_conns),
        "file-max-live": case_file_max_live,
        "memory": case_memory,
    }
    for case in args.cases or ["ports", "target-ports", "nofile"]:
        if case not in run:
            raise SystemExit(f"no case {case!r}: one of {', '.join(run)}")
        run[case]()


if __name__ == "__main__":
    main()
