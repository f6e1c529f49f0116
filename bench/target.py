#!/usr/bin/env python3
"""Benchmark `tunekit probe --target` against bench/connect_ref.c --target, both loading the
same real server: Debian's HAProxy in a throw-away network namespace, the client in
another, joined by a veth pair (tests/servers.py).

    sudo .venv/bin/python bench/target.py [--rounds R] [N ...]     (default: 3 rounds of 30000)

For each N, R interleaved rounds of, one after the other: the C reference, then
`tunekit probe --target ... --hold 0 --json`. Each run gets a fresh pair of namespaces and
fresh HAProxy processes (one per 9,000 connections: HAProxy sizes its descriptors at two
per connection, within the 20,000 hard limit), so no run inherits another's TIME_WAIT
ports; both use the same targets, source addresses (enough that each (source, target)
pair is at most 30 % full, as the loopback probe's layout) and connections per process.
It prints the median connections/s of both, their range, and the ratio (goal: >= 0.9).
Nothing is changed outside the two namespaces.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from servers import Frontend, haproxy_target  # noqa: E402

PER_HAPROXY = 9_000
PORT_FILL = 0.3
USABLE_PORTS = 28_232  # the default range in a fresh namespace: 32768-60999


def plan(n: int) -> tuple[list[Frontend], int]:
    """HAProxy frontends (one process each) and source addresses for N connections."""
    servers = math.ceil(n / PER_HAPROXY)
    sources = math.ceil(n / (servers * USABLE_PORTS * PORT_FILL))
    return [Frontend(8000 + i) for i in range(servers)], sources


def c_reference(n: int, binary: Path, per_worker: int) -> float:
    frontends, sources = plan(n)
    with haproxy_target([[f] for f in frontends], sources=sources) as pair:
        dsts = ",".join(f"{pair.server_ip}:{f.port}" for f in frontends)
        done = pair.run(
            [str(binary), "--target", str(n), str(per_worker), ",".join(pair.client_ips), dsts],
            timeout=1800,
        )
    if done.returncode:
        raise SystemExit(f"connect_ref failed: {done.stderr.strip()}")
    return float(done.stdout.split(": ")[1].split("/s")[0])


def tunekit_probe(n: int) -> dict:
    frontends, sources = plan(n)
    with haproxy_target([[f] for f in frontends], sources=sources) as pair:
        dsts = ",".join(f"{pair.server_ip}:{f.port}" for f in frontends)
        done = pair.tunekit(
            "probe",
            "--target",
            dsts,
            "--source-ips",
            ",".join(pair.client_ips),
            "--conns",
            str(n),
            "--hold",
            "0",
            "--json",
            timeout=3600,
            cwd=HERE.parent,
        )
    if not done.stdout:
        raise SystemExit(f"probe failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("sizes", type=int, nargs="*", default=[30_000])
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    per_worker = hard - 16  # the probe's: WORKER_RESERVE_FDS, no listener in target mode
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp, "connect_ref")
        subprocess.run(["cc", "-O2", "-o", str(binary), str(HERE / "connect_ref.c")], check=True)
        haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
        print(
            f"kernel {os.uname().release}, {os.cpu_count()} CPUs, {haproxy.splitlines()[0]}, "
            f"RLIMIT_NOFILE hard {hard:,}"
        )
        print(f"median of {args.rounds} interleaved round(s) each; range in brackets")
        head = ("N", "servers", "sources", "probe/s", "C/s", "ratio", "held", "failures")
        print("{:>9} {:>7} {:>7} {:>24} {:>24} {:>6} {:>9}  {}".format(*head), flush=True)
        for n in args.sizes:
            c_rates, runs = [], []
            for _ in range(args.rounds):
                c_rates.append(c_reference(n, binary, per_worker))
                runs.append(tunekit_probe(n))
            rates = [r["rate"] for r in runs]
            failures = sorted({c["kind"] for r in runs for c in r["causes"]})
            frontends, sources = plan(n)
            print(
                f"{n:>9,} {len(frontends):>7} {sources:>7} {spread(rates):>24} "
                f"{spread(c_rates):>24} "
                f"{statistics.median(rates) / statistics.median(c_rates):>6.0%} "
                f"{min(r['held'] for r in runs):>9,}  {', '.join(failures) or 'none'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
