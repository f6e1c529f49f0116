"""What the tests share: factories (facts, fake root trees, a CLI runner, a child with
given rlimits) and the policy for tests that need root.

Tests that need root or a network namespace call `require_privileges()`. Without them
they skip with the reason, unless TUNEKIT_REQUIRE_PRIVILEGED=1 (set by .ci/run), in which
case they fail: CI runs as root and must run them. pytest puts tests/ on sys.path
(pyproject.toml: pythonpath), so every test module imports this as `helpers`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GIB = 1 << 30


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


def facts(
    sysctls: dict[str, str] | None = None,
    *,
    preset: dict[str, str] | None = None,
    mem_gib: int | None = None,
    **kw,
):
    """HostFacts over plain data. Sysctls: `preset`, then `sysctls`, then keywords with
    '__' for each dot (net__core__somaxconn="128"); other keywords are HostFacts fields;
    `mem_gib` sets the memory (MemAvailable one GiB less)."""
    from tunekit.model.facts import HostFacts

    values = dict(preset or {})
    values.update(sysctls or {})
    values.update({k.replace("__", "."): v for k, v in kw.items() if "__" in k})
    fields = {k: v for k, v in kw.items() if "__" not in k}
    if mem_gib is not None:
        fields.setdefault("mem_total", mem_gib * GIB)
        fields.setdefault("mem_available", (mem_gib - 1) * GIB)
    return HostFacts(sysctls=values, **fields)


def invoke(*args, env=None):
    """tunekit's CLI in this process (typer's CliRunner), every argument as text."""
    from typer.testing import CliRunner

    from tunekit.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], env=env)


# --- Ansible (ansible-core, a test extra): the real ansible-galaxy and ansible-playbook -----

ANSIBLE_BIN = Path(sys.executable).parent
COLLECTION = REPO / "ansible" / "tunekit"


def ansible_env(tmp: Path, collections: Path | None = None) -> dict[str, str]:
    """An environment in which Ansible reads and writes only under `tmp` (its home, its
    temporary files), prints one JSON document, and finds the collections installed under
    `collections`."""
    home = tmp / "ansible-home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",  # ansible-core refuses a locale that is not UTF-8
        "HOME": str(home),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        # async jobs: the wrapper writes under $HOME but async_status looks under the
        # passwd entry's home (/root) unless the directory is given
        "ANSIBLE_ASYNC_DIR": str(home / "async"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests/ansible/callback_plugins"),
        "ANSIBLE_STDOUT_CALLBACK": "results_json",
    }
    env.pop("TUNEKIT_STATE_DIR", None)
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env


def require_ansible() -> None:
    if not (ANSIBLE_BIN / "ansible-playbook").exists():
        require_tool("ansible-playbook")  # skips locally, fails in CI (.[test] brings it)


def install_collection(tmp: Path) -> Path:
    """Build the collection from ansible/tunekit with the real ansible-galaxy (offline) and
    install the tarball under tmp; returns the collections path."""
    require_ansible()
    dist, collections = tmp / "dist", tmp / "collections"
    env = ansible_env(tmp)
    galaxy = str(ANSIBLE_BIN / "ansible-galaxy")
    for args in (
        [galaxy, "collection", "build", str(COLLECTION), "--output-path", str(dist)],
        [galaxy, "collection", "install", "-p", str(collections)],
    ):
        if args[2] == "install":
            args.insert(3, str(next(dist.glob("tunekit-tunekit-*.tar.gz"))))
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    return collections


def playbook_command(
    tmp: Path,
    playbook: str,
    inventory: str,
    *args: str,
    collections: Path | None = None,
    netns: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The real ansible-playbook's command line and environment: inside a throw-away
    network namespace (`unshare -n`), or inside the named one (/run/netns/NAME, e.g. the
    client namespace of servers.haproxy_target) with `netns`."""
    book, inv = tmp / "playbook.yml", tmp / "inventory.ini"
    book.write_text(playbook)
    inv.write_text(inventory)
    cmd = [str(ANSIBLE_BIN / "ansible-playbook"), "-i", str(inv), str(book), *args]
    inside = ["unshare", "-n"] if netns is None else ["nsenter", f"--net=/run/netns/{netns}"]
    return [*inside, *cmd], ansible_env(tmp, collections)


def playbook_json(stdout: str, stderr: str) -> dict:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"ansible-playbook printed no JSON:\n{stdout}\n{stderr}") from None


def ansible_playbook(
    tmp: Path,
    playbook: str,
    inventory: str,
    *args: str,
    collections: Path | None = None,
    netns: str | None = None,
) -> tuple[int, dict]:
    """Run the real ansible-playbook (see playbook_command); (exit code, the JSON
    callback's document)."""
    cmd, env = playbook_command(
        tmp, playbook, inventory, *args, collections=collections, netns=netns
    )
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    return r.returncode, playbook_json(r.stdout, r.stderr)


def task_results(doc: dict, task: str) -> dict[str, dict]:
    """Each host's result of the task named `task` (the JSON callback's document)."""
    for play in doc["plays"]:
        for t in play["tasks"]:
            if t["task"]["name"] == task:
                return t["hosts"]
    raise AssertionError(f"no task {task!r} in the play")


def tree_bytes(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under root, but tunekit's state dir."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.startswith("var/lib/tunekit") or rel in ("var", "var/lib"):
            continue
        out[rel] = p.read_bytes() if p.is_file() else None
    return out


def lowered_root(path: Path, **sysctls: str) -> Path:
    """A fake root that fails server-1M at 1,000 connections on two keys (somaxconn,
    tcp_max_orphans), with a sysctl.d file of its own; keywords override sysctls ('__' for
    each dot)."""
    values = {**TUNED, "net.core.somaxconn": "128", "net.ipv4.tcp_max_orphans": "4096"}
    values.update({k.replace("__", "."): v for k, v in sysctls.items()})
    files = sysctl_files(values)
    files["proc/meminfo"] = MEMINFO
    files["etc/sysctl.d/50-other.conf"] = "vm.swappiness = 10\n"
    return write_tree(path, files)
