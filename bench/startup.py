#!/usr/bin/env python3
"""Wall-clock time of whole `tunekit` processes, as a user runs them (cold start each run).

    python bench/startup.py [--runs 21] [--compare OTHER_TUNEKIT] [-- ARGS...]
                                                  # default ARGS: check server-1M

Measured interleaved, so every line sees the same machine (these VMs drift by up to 2x from
day to day and +-30 % from minute to minute):
- `python -c pass`: the interpreter alone;
- `python -c 'import typer, pydantic'`: the floor the target is set against;
- one pydantic model defined and validated: what any program that uses a pydantic model
  pays on top of that floor (`import pydantic` is lazy: it loads neither BaseModel's
  machinery nor the plugin loader, which imports importlib.metadata, until a model is
  built);
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

# As tunekit's own models are: extra fields refused, a bound, a model validator; started
# as tunekit's entry point starts (tunekit/cli/__init__.py): plugins off, no cyclic
# collector, os._exit at the end.
ONE_MODEL = """
import gc, os
gc.disable()
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
import typer
from pydantic import BaseModel, ConfigDict, Field, model_validator
class One(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int = Field(ge=0)
    @model_validator(mode="before")
    @classmethod
    def _same(cls, data):
        return data
One(x=1).model_dump_json()
os._exit(0)
"""


def once(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def show(label: str, runs: list[tuple[float, float]], floors: tuple[float, ...] = ()) -> float:
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    median = statistics.median(wall)
    ratio = ""
    if floors:
        ratio = f"  = {median / floors[0]:.2f}x the floor, {median / floors[1]:.2f}x one model"
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
        "one pydantic model validated": [sys.executable, "-c", ONE_MODEL],
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
    floors: list[float] = []
    for label, measured in runs.items():
        is_tunekit = label.startswith(("tunekit", "/"))
        median = show(label, measured, tuple(floors) if is_tunekit else ())
        if "(the floor)" in label or label == "one pydantic model validated":
            floors.append(median)
    slowest_imports(ns.args)


if __name__ == "__main__":
    main()
