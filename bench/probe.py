#!/usr/bin/env python3
"""Benchmark tunekit probe against a minimal C program doing the same connect/accept loop.

    sudo .venv/bin/python bench/probe.py [--rounds R] [N ...]
                                  (default: 3 rounds of 50000 200000 1000000)

For each N that this host's memory allows, R rounds of, one at a time:
1. bench/connect_ref.c (compiled here with cc -O2) in a fresh `unshare -n` namespace, with
   the same source addresses and the same sockets per process as the probe's layout;
2. `tunekit probe --conns N --hold 2 --json`.
It prints the median connections/s of both (and their range over the rounds: a VM's speed
drifts, and interleaving the two keeps the drift out of the ratio) and their ratio, the
lowest peak held, and the median kernel bytes per socket next to the estimate's. Both work
in namespaces of their own, so the host's settings are never changed: there is nothing to
restore.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tunekit.errors import UsageError
from tunekit.host.facts import read_facts
from tunekit.model.constants import CONSTANTS
from tunekit.probe import layout, verdicts

HERE = Path(__file__).resolve().parent


def c_reference(n: int, sources: int, per_worker: int, binary: Path) -> float:
    done = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-ec",
            f"ip link set lo up\nexec {binary} {n} {sources} {per_worker}",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode:
        raise SystemExit(f"connect_ref failed: {done.stderr.strip()}")
    return float(done.stdout.split(": ")[1].split("/s")[0])


def tunekit_probe(n: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tunekit", "probe", "--conns", str(n), "--hold", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=HERE.parent,
    )
    if not done.stdout:
        raise SystemExit(f"probe failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def spread(values: list[float]) -> str:
    """median [lowest-highest], in whole connections/s"""
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: both sides create a network namespace")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side per N")
    parser.add_argument("sizes", type=int, nargs="*", default=[50_000, 200_000, 1_000_000])
    args = parser.parse_args()
    facts = read_facts(addresses=False)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp, "connect_ref")
        subprocess.run(["cc", "-O2", "-o", str(binary), str(HERE / "connect_ref.c")], check=True)
        print(
            f"kernel {os.uname().release}, {os.cpu_count()} CPUs, "
            f"{(facts.mem_total or 0) / 2**30:.1f} GiB, RLIMIT_NOFILE hard {hard:,}"
        )
        print(f"median of {args.rounds} interleaved round(s) each; range in brackets")
        head = ("N", "probe/s", "C/s", "ratio", "held", "B/socket", "estimate", "diff", "failures")
        print("{:>9} {:>24} {:>24} {:>6} {:>9} {:>9} {:>9} {:>7}  {}".format(*head), flush=True)
        for n in args.sizes:
            lay = layout.layout_for(facts, n, hard)
            try:
                layout.check_memory(lay, CONSTANTS["socket_bytes"].value, facts.mem_available)
            except UsageError as err:
                print(f"{n:>9,} skipped: {err.message}")
                continue
            c_rates, runs = [], []
            for _ in range(args.rounds):
                c_rates.append(c_reference(n, len(lay.sources), lay.per_worker, binary))
                runs.append(tunekit_probe(n))
            rates = [r["rate"] for r in runs]
            per_socket = statistics.median(r["memory"]["per_socket"] for r in runs)
            estimate = runs[0]["memory"]["estimate_per_socket"]
            failures = sorted({r["failure"]["kind"] for r in runs if r["failure"]})
            print(
                f"{n:>9,} {spread(rates):>24} {spread(c_rates):>24} "
                f"{statistics.median(rates) / statistics.median(c_rates):>6.0%} "
                f"{min(r['held'] for r in runs):>9,} {per_socket:>9,.0f} {estimate:>9,.0f} "
                f"{verdicts.percent_diff(estimate, per_socket):>+6.1f}%  "
                f"{', '.join(failures) or 'none'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
