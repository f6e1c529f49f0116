#!/usr/bin/env python3
"""Wall-clock time of whole `tunekit` processes, as a user runs them (cold start each run).

    python bench/startup.py [--runs 21] [--compare OTHER_TUNEKIT] [-- ARGS...]
                                                  # default ARGS: check server-1M

Measured interleaved, so every line sees the same machine (these VMs drift by up to 2x from
day to day and +-30 % from minute to minute):
- `python -c pass`: the interpreter alone;
- `python -c 'import typer, pydantic'`: the floor the target is set against;
- `sysctl -a`: what the tool being replaced costs;
- `tunekit ARGS` (and, with --compare, another install's tunekit, e.g. the last release).
Prints median, min and max of each, and tunekit's median over the floor. The target:
`check server-1M` at most 1.5x the floor. Then the slowest imports (python -X importtime)
so the next person knows what dominates.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time


def once(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def show(label: str, runs: list[tuple[float, float]], floor: float | None = None) -> float:
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    median = statistics.median(wall)
    ratio = f"  = {median / floor:.2f}x the floor" if floor else ""
    print(
        f"{label:40s} wall median {median:6.1f} ms  min {min(wall):6.1f}  "
        f"max {max(wall):6.1f}  | cpu median {statistics.median(cpu):6.1f} ms{ratio}"
    )
    return median


def slowest_imports(args: list[str]) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import os, sys; os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', '__all__'); "
            f"sys.argv = ['tunekit', *{args!r}]; from tunekit.cli.app import run; run()",
        ],
        capture_output=True,
        text=True,
    )
    rows = []
    for line in res.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = [r for r in rows if not r[1].startswith("   ")]  # top-level imports only
    print("slowest top-level imports (cumulative, one run):")
    for us, name in sorted(top, reverse=True)[:8]:
        print(f"  {us / 1000:6.1f} ms  {name.strip()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--compare", help="another tunekit executable, measured interleaved")
    ap.add_argument("args", nargs="*", default=["check", "server-1M"])
    ns = ap.parse_args()
    exe = shutil.which("tunekit")
    if not exe:
        sys.exit("tunekit is not on PATH: pip install . first")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import typer, pydantic (the floor)": [sys.executable, "-c", "import typer, pydantic"],
        "tunekit " + " ".join(ns.args): [exe, *ns.args],
    }
    if shutil.which("sysctl"):
        commands["sysctl -a"] = ["sysctl", "-a"]
    if ns.compare:
        commands[f"{ns.compare} {' '.join(ns.args)}"] = [ns.compare, *ns.args]
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for _ in range(ns.runs):
        for label, cmd in commands.items():
            runs[label].append(once(cmd))
    floor = None
    for label, measured in runs.items():
        median = show(label, measured, floor if label.startswith(("tunekit", "/")) else None)
        if "(the floor)" in label:
            floor = median
    slowest_imports(ns.args)


if __name__ == "__main__":
    main()
