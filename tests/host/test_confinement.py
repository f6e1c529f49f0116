"""Nothing under a --root reaches outside it (issue 17, items 2 and 3), checked as the attack
on issue 10 checked it: with strace, every path-taking system call of a whole tunekit run,
against a tree whose links point out of it. And a hard link planted at a key file is never
written through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, invoke, require_tool, sysctl_files, write_tree

LOWERED = {**TUNED, "net.core.somaxconn": "128"}


@pytest.fixture
def root(tmp_path, isolated_home, monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR")
    files = sysctl_files(LOWERED)
    files["proc/meminfo"] = MEMINFO
    files["proc/modules"] = ""
    return write_tree(tmp_path / "root", files)


def test_a_hard_link_at_a_key_file_is_not_written_through(root, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("128\n")  # reads as the key's value: apply wants to raise it
    key = root / "proc/sys/net/core/somaxconn"
    key.unlink()
    os.link(victim, key)  # the same inode as a file outside the root
    r = invoke("apply", "server-1M", "--root", root)
    assert r.exit_code == 4 and "hard link" in r.stderr, r.output
    assert victim.read_text() == "128\n"


def test_module_and_proc_sys_facts_are_read_through_the_root(root, tmp_path):
    """sys/module and proc/sys resolve inside the root: a link to the host's is the root's."""
    from tunekit.host import procfs

    (root / "sys").mkdir()
    (root / "sys/module").symlink_to("/sys/module")  # inside the image: ROOT/sys/module
    mods, _ = procfs.modules(root)
    assert mods == set(), "listed the host's /sys/module through the image's link"
    (root / "proc/sys/fs").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/fs/file-max").write_text("1\n")
    (root / "proc/sys/fs/file-max").chmod(0o444)
    assert procfs.proc_sys_writable(root) is False  # the tree's own file, not the host's


# every system call that takes a path, as strace names it: open, openat, openat2, stat...
PATH_CALL = re.compile(r'^\d+\s+(\w+)\((?:[A-Z_]+|\d+)?,?\s*"([^"]*)"')


def _paths_touched(args: list[str], log: Path, env: dict) -> list[str]:
    strace = require_tool("strace")
    subprocess.run(
        [strace, "-f", "-qq", "-o", str(log), "-e", "trace=%file,openat2",
         sys.executable, "-m", "tunekit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )  # fmt: skip
    return [m.group(2) for line in log.read_text().splitlines() if (m := PATH_CALL.match(line))]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "server-1M"],
        ["apply", "server-1M"],
        ["apply", "server-1M", "--dry-run"],
        ["lint"],
        ["rollback"],
    ],
)
def test_strace_sees_no_path_outside_the_root(root, tmp_path, args):
    """The tree's links point at a canary directory outside it (absolute and relative) and
    at the host's own files; no system call of the run names the canary, and none opens the
    host's /proc/sys, /sys/module, /etc/sysctl.d or /var/lib/tunekit."""
    canary = tmp_path / "CANARY"
    for d in ("sysctl.d", "security", "modprobe.d", "var"):
        (canary / d).mkdir(parents=True)
    (canary / "sysctl.d/99.conf").write_text("net.core.somaxconn = 5\n")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/sysctl.d").symlink_to(canary / "sysctl.d")  # absolute
    (root / "etc/security").symlink_to(os.path.relpath(canary / "security", root / "etc"))
    (root / "etc/modprobe.d").symlink_to("/etc/modprobe.d")  # the host's
    (root / "var").symlink_to(canary / "var")  # the default state dir under it
    (root / "sys").mkdir()
    (root / "sys/module").symlink_to("/sys/module")
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    env.pop("TUNEKIT_STATE_DIR", None)
    if args[0] == "rollback":
        _paths_touched(["apply", "server-1M", "--root", str(root)], tmp_path / "first.log", env)
    touched = _paths_touched([*args, "--root", str(root)], tmp_path / "trace.log", env)
    assert touched, "strace saw no system call: the test would prove nothing"
    outside = [p for p in touched if p.startswith(str(canary)) or "CANARY" in p]
    host = [
        p
        for p in touched
        if p.startswith(("/proc/sys", "/sys/module", "/etc/sysctl.d", "/var/lib/tunekit"))
    ]
    assert outside == [] and host == [], (outside, host)
    assert not (canary / "var/lib").exists()
    assert (canary / "sysctl.d/99.conf").read_text() == "net.core.somaxconn = 5\n"
