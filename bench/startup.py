#!/usr/bin/env python3
"""Wall-clock time of whole `tunekit` processes, as a user runs them (cold start each run).

    python bench/startup.py [--runs 21] [-- ARGS...]      default ARGS: check server-1M

Prints median, min and max; the targets: `check server-1M` a median of at most 200 ms,
`lint` (no argument: everything that applies at boot) at most 300 ms.
A bare `python -c pass` is measured alongside, as the floor. Also prints the slowest imports
(python -X importtime) so the next person knows what dominates.
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


def show(label: str, runs: list[tuple[float, float]]) -> None:
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    print(
        f"{label:34s} wall median {statistics.median(wall):6.1f} ms  min {min(wall):6.1f}  "
        f"max {max(wall):6.1f}  | cpu median {statistics.median(cpu):6.1f} ms  ({len(runs)} runs)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("args", nargs="*", default=["check", "server-1M"])
    ns = ap.parse_args()
    exe = shutil.which("tunekit")
    if not exe:
        sys.exit("tunekit is not on PATH: pip install . first")
    # Interleaved, so the floor and the command see the same machine: the speed of these
    # VMs drifts by +-30 % from minute to minute.
    # The dependency floor: what typer 0.29 loads to parse any command line (it builds a
    # pydantic TypeAdapter per parameter, which loads pydantic's plugin entry points).
    deps = (
        "import gc; gc.disable(); import typer, typer._adapters, pydantic.plugin._loader, tomllib"
    )
    floor, dep_floor, target = [], [], []
    for _ in range(ns.runs):
        floor.append(once([sys.executable, "-c", "pass"]))
        dep_floor.append(once([sys.executable, "-c", deps]))
        target.append(once([exe, *ns.args]))
    show("python -c pass", floor)
    show("typer + pydantic (dependency floor)", dep_floor)
    show("tunekit " + " ".join(ns.args), target)
    res = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            f"import sys; sys.argv=['tunekit', *{ns.args!r}]; from tunekit.cli import main; main()",
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


if __name__ == "__main__":
    main()
