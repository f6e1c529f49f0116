"""How long `tunekit lint` takes on a large file: N sysctl.conf lines on a handful of keys
(a generated fleet file, or a concatenation of guides), and the same lines as a NixOS
module, a shell script and a Dockerfile's RUN here-document. Prints seconds per run and
microseconds per line.

    python bench/lint.py [--lines 20000] [--runs 3] [--tunekit PATH]

Timed end to end (the process, as a user runs it); figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYS = (
    "net.core.somaxconn",
    "net.ipv4.tcp_fin_timeout",
    "vm.swappiness",
    "net.ipv4.tcp_sack",
    "net.example.unknown",
    "fs.file-max",
)


def files(n: int, where: Path) -> dict[str, Path]:
    pairs = [(KEYS[i % len(KEYS)], 1000 + i) for i in range(n)]
    conf = where / "big.conf"
    conf.write_text("".join(f"{k} = {v}\n" for k, v in pairs))
    nix = where / "big.nix"
    body = "".join(f'  boot.kernel.sysctl."{k}" = {v};\n' for k, v in pairs)
    nix.write_text("{\n" + body + "}\n")
    script = where / "big.sh"
    script.write_text("#!/bin/sh\n" + "".join(f"sysctl -w {k}={v}\n" for k, v in pairs))
    # a RUN here-document: the rows that are not RUN lines are blank to the script reader,
    # where a `^\s*` pattern over the whole text once took quadratic time (review 13)
    docker = where / "Dockerfile"
    body = "".join(f"sysctl -w {k}={v}\n" for k, v in pairs)
    docker.write_text(f"FROM alpine\nRUN <<EOF\n{body}EOF\n")
    return {"sysctl.conf": conf, "nix": nix, "script": script, "dockerfile": docker}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tunekit", default=str(Path(sys.executable).parent / "tunekit"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files(a.lines, Path(tmp)).items():
            times = []
            for _ in range(a.runs):
                t = time.perf_counter()
                subprocess.run([a.tunekit, "lint", str(path)], capture_output=True, check=False)
                times.append(time.perf_counter() - t)
            best = min(times)
            print(
                f"{name:<12} {a.lines:>7,} lines  best {best:6.2f} s  median "
                f"{statistics.median(times):6.2f} s  {best / a.lines * 1e6:7.1f} us/line"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
