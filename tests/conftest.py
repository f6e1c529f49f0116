"""Shared fixtures: fake root trees, and the policy for tests that need root.

Tests that need root or a network namespace call `require_privileges()`. Without them
they skip with the reason, unless TUNEKIT_REQUIRE_PRIVILEGED=1 (set by .ci/run), in which
case they fail: CI runs as root and must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def require_privileges() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "needs root (CI runs as root)"
    elif not shutil.which("unshare"):
        problem = "needs unshare(1) from util-linux"
    else:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            problem = f"cannot create a network namespace: {probe.stderr.strip()}"
    if problem:
        if os.environ.get("TUNEKIT_REQUIRE_PRIVILEGED") == "1":
            pytest.fail(f"privileged test could not run: {problem}")
        pytest.skip(problem)


def require_tool(name: str) -> str:
    """A command the test needs; skipped with the reason locally, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("TUNEKIT_REQUIRE_PRIVILEGED") == "1":
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def sysctl_files(values: dict[str, str]) -> dict[str, str]:
    return {"proc/sys/" + k.replace(".", "/"): v + "\n" for k, v in values.items()}


# A host tuned for server-1M: every derived target is met.
TUNED = {
    "fs.file-max": "9000000",
    "fs.nr_open": "2000000",
    "fs.file-nr": "1000\t0\t9000000",
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "65535",
    "net.ipv4.tcp_syncookies": "1",
    "net.core.netdev_max_backlog": "16384",
    "net.ipv4.ip_local_port_range": "1024\t65535",
    "net.ipv4.ip_local_reserved_ports": "",
    "net.ipv4.tcp_mem": "2500000\t3400000\t5000000",
    "net.ipv4.tcp_rmem": "4096\t131072\t33554432",
    "net.ipv4.tcp_wmem": "4096\t16384\t4194304",
    "net.ipv4.tcp_max_tw_buckets": "4000000",
    "net.ipv4.tcp_max_orphans": "4000000",
    "net.ipv4.tcp_tw_reuse": "1",
    "net.ipv4.tcp_fin_timeout": "60",
    "kernel.osrelease": "6.18.0-test",
}
MEMINFO = "MemTotal:       67108864 kB\nMemFree:        60000000 kB\nMemAvailable:   64000000 kB\n"


@pytest.fixture
def tuned_root(tmp_path: Path) -> Path:
    """A fake root whose sysctls satisfy server-1M."""
    files = sysctl_files(TUNED)
    files["proc/meminfo"] = MEMINFO
    files["proc/self/status"] = "Name:\tpython\nCapEff:\t000001ffffffffff\n"
    return write_tree(tmp_path / "root", files)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user profiles from the real ~/.config, and no journal from the real state dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TUNEKIT_STATE_DIR", str(tmp_path / "state"))
    return home


@contextmanager
def child_with_nofile(soft: int, hard: int):
    """A real running process whose RLIMIT_NOFILE is (soft, hard); killed afterwards."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import resource, time;"
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); print('ok', flush=True);"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ok"
        yield child.pid
    finally:
        child.kill()
        child.wait()


def run_tunekit(*args: str, **kw) -> subprocess.CompletedProcess:
    """tunekit as a user runs it: a whole process (python -m tunekit)."""
    return subprocess.run(
        [sys.executable, "-m", "tunekit", *args], capture_output=True, text=True, **kw
    )
