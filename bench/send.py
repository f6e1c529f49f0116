#!/usr/bin/env python3
"""What buffered bytes cost: `tunekit probe --send BYTES` at each size, next to the estimate.

    sudo .venv/bin/python bench/send.py [--conns N] [BYTES ...]
                                          (default: 50000 connections; 0 1024 4096 16384 65536)

Each connection sends BYTES that the accepting side never reads, so they sit in receive
queues, charged to tcp_mem by skb truesize in whole pages per socket. For every size it
prints the measured tcp_mem pages per connection (/proc/net/sockstat TCP mem) next to the
capacity model's, the same in bytes, and the slab growth per connection (both sockets and
the queued skb heads). tcp_mem is global and the probe does not change it: a size whose
pages would pass 80 % of the host's tcp_mem pressure runs with as many connections as fit,
and the table says so. The probe works in a network namespace of its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tunekit.host.facts import read_facts
from tunekit.knowledge import catalogue
from tunekit.model import capacity, constants
from tunekit.model.profiles import Workload

SIZES = (0, 1024, 4096, 16384, 65536)


def fitting_conns(conns: int, send: int, c: dict[str, float], facts) -> int:
    """`conns`, or fewer if their buffers would pass 80 % of tcp_mem pressure."""
    tcp_mem = facts.ints(catalogue.TCP_MEM.name)
    pages = capacity.buffer_pages(Workload(connections=1, bytes_buffered=send), facts, c)
    if not pages or not tcp_mem:
        return conns
    return min(conns, int(0.8 * tcp_mem[1] // pages) // 1000 * 1000)


def run(conns: int, send: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "tunekit",
        "probe",
        "--conns",
        str(conns),
        "--send",
        str(send),
        "--hold",
        "0",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if not done.stdout.strip():
        raise SystemExit(f"probe failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conns", type=int, default=50_000)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    args = parser.parse_args()
    facts = read_facts(Path("/"), addresses=False)
    c = constants.constants()
    print(
        f"kernel {facts.kernel}; tcp_mem {facts.sysctls.get(catalogue.TCP_MEM.name)}; "
        f"constants skb_overhead_bytes={c['skb_overhead_bytes']:g} "
        f"skb_payload_bytes={c['skb_payload_bytes']:g} buffer_factor={c['buffer_factor']:g}"
    )
    print(
        f"{'send B':>7} {'conns':>7} {'held':>7} {'pages/conn':>10} {'estimate':>8} "
        f"{'diff':>7} {'buf B/conn':>10} {'est B':>7} {'slab B/conn':>11}"
    )
    worst = 0.0
    for send in args.sizes:
        n = fitting_conns(args.conns, send, c, facts)
        r = run(n, send)
        m = r["memory"]
        measured = m["tcp_mem_pages_per_conn"] or 0.0
        est = m["estimate_tcp_mem_pages_per_conn"] or 0.0
        diff = (est - measured) / measured * 100 if measured else 0.0
        if send:
            worst = max(worst, abs(diff))
        page = facts.page_size
        print(
            f"{send:>7,} {n:>7,} {r['held']:>7,} {measured:>10.3f} {est:>8.2f} "
            f"{diff:>+6.1f}% {measured * page:>10,.0f} {est * page:>7,.0f} "
            f"{m['slab_per_conn']:>11,.0f}"
            + ("" if n == args.conns else "   (fewer: tcp_mem pressure is global)")
        )
    print(f"largest |diff| of the page estimate: {worst:.1f} % (target 10 %)")


if __name__ == "__main__":
    main()
