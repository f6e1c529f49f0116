"""The collection tunekit.tunekit, built and installed by the real ansible-galaxy and run by
the real ansible-playbook (`-c local`, the venv's Python as ansible_python_interpreter)
against temporary roots, inside a throw-away network namespace: nothing of the host is
read for its settings or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import (
    ANSIBLE_BIN,
    COLLECTION,
    ansible_env,
    ansible_playbook,
    install_collection,
    lowered_root,
    require_privileges,
    task_results,
    tree_bytes,
)

import tunekit

PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: tune
      tunekit.tunekit.tune:
        profile: server-1M
        conns: 1000
        root: "{{ tunekit_root }}"
        state: STATE
      register: tuned
    - name: after
      ansible.builtin.debug:
        msg: "{{ tuned.journal | default(None) }}"
"""


@pytest.fixture(scope="module")
def collections(tmp_path_factory) -> Path:
    return install_collection(tmp_path_factory.mktemp("collection"))


def inventory(hosts: dict[str, Path], python: str = sys.executable) -> str:
    lines = ["[fleet]"]
    lines += [
        f"{name} ansible_connection=local tunekit_root={root}" for name, root in hosts.items()
    ]
    return "\n".join(lines + ["[all:vars]", f"ansible_python_interpreter={python}", ""])


def play(tmp: Path, collections: Path, state: str, hosts: dict[str, Path], *args: str):
    return ansible_playbook(
        tmp, PLAY.replace("STATE", state), inventory(hosts), *args, collections=collections
    )


def test_galaxy_metadata_follows_tunekit():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("tunekit", "tunekit")
    assert galaxy["version"] == tunekit.__version__
    runtime = yaml.safe_load((COLLECTION / "meta/runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=")


def test_ansible_doc_renders_the_module(collections, tmp_path):
    r = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-doc"), "tunekit.tunekit.tune"],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path, collections),
    )
    assert r.returncode == 0, r.stderr
    for word in ("state", "rolled_back", "state_dir", "EXAMPLES", "RETURN VALUES", "journal"):
        assert word in r.stdout, word


def test_ansible_doc_renders_the_probe_module(collections, tmp_path):
    r = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-doc"), "tunekit.tunekit.probe"],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path, collections),
    )
    assert r.returncode == 0, r.stderr
    for word in ("target", "fail_short", "would_probe", "stopped_by", "EXAMPLES", "RETURN VALUES"):
        assert word in r.stdout, word


def test_check_apply_again_rollback_round_trip(collections, tmp_path):
    """--check changes nothing and says it would; apply changes; again is changed=0;
    rolled_back restores the tree byte for byte, and is changed=0 the second time."""
    require_privileges()
    root = lowered_root(tmp_path / "root")
    hosts = {"server": root}
    before = tree_bytes(root)

    code, doc = play(tmp_path, collections, "applied", hosts, "--check", "--diff")
    assert code == 0, doc["stats"]
    result = task_results(doc, "tune")["server"]
    assert result["changed"] is True and result["journal"] is None
    assert tree_bytes(root) == before, "check mode must not write"
    assert not (root / "var").exists()
    headers = [d["after_header"] for d in result["diff"]]
    assert (
        headers[0] == "running kernel (after apply)" and "/etc/sysctl.d/90-tunekit.conf" in headers
    )
    assert "somaxconn = 10000" in result["diff"][0]["after"]

    code, doc = play(tmp_path, collections, "applied", hosts)
    assert code == 0 and doc["stats"]["server"]["changed"] == 1
    result = task_results(doc, "tune")["server"]
    assert Path(result["journal"]).is_file() and result["verdict"] == "incomplete"
    assert all(u.startswith("rlimit.") for u in result["unverified"]), "a tree has no rlimits"
    assert result["estimate"]["capacity"] >= 1000 and result["estimate"]["binding"]["name"]
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "10000"
    assert tree_bytes(root) != before

    code, doc = play(tmp_path, collections, "applied", hosts)
    assert code == 0 and doc["stats"]["server"]["changed"] == 0, "a second apply changes nothing"

    code, doc = play(tmp_path, collections, "rolled_back", hosts, "--check")
    assert code == 0 and doc["stats"]["server"]["changed"] == 1
    assert tree_bytes(root) != before, "check mode must not roll back"
    code, doc = play(tmp_path, collections, "rolled_back", hosts)
    assert code == 0 and doc["stats"]["server"]["changed"] == 1
    assert tree_bytes(root) == before, "rollback restores the tree byte for byte"
    code, doc = play(tmp_path, collections, "rolled_back", hosts)
    assert code == 0 and doc["stats"]["server"]["changed"] == 0


def test_a_host_that_cannot_comply_fails_alone(collections, tmp_path):
    """Two hosts; one's /proc/sys is read-only: it fails with tunekit's one line and hint,
    the other is tuned and goes on to the next task."""
    require_privileges()
    good = lowered_root(tmp_path / "good")
    bad = lowered_root(tmp_path / "bad")
    (bad / "proc/sys/fs/file-max").chmod(0o444)
    before_bad = tree_bytes(bad)
    code, doc = play(tmp_path, collections, "applied", {"good": good, "bad": bad})
    assert code != 0  # a failed host fails the run
    results = task_results(doc, "tune")
    assert results["bad"]["failed"] is True and results["bad"]["exit_code"] == 3
    assert results["bad"]["msg"].startswith("/proc/sys is read-only here")
    assert "(hint: " in results["bad"]["msg"]
    assert results["good"]["changed"] is True
    assert "good" in task_results(doc, "after") and "bad" not in task_results(doc, "after")
    assert doc["stats"]["good"]["failures"] == 0 and doc["stats"]["bad"]["failures"] == 1
    assert tree_bytes(bad) == before_bad


def test_checked_fails_the_hosts_that_are_not_compliant(collections, tmp_path):
    require_privileges()
    tuned = lowered_root(tmp_path / "tuned", net__core__somaxconn="65535")
    (tuned / "proc/sys/net/ipv4/tcp_max_orphans").write_text("65536\n")
    hosts = {"low": lowered_root(tmp_path / "low"), "tuned": tuned}
    code, doc = play(tmp_path, collections, "checked", hosts)
    results = task_results(doc, "tune")
    # a tree shows no open-files limits: the tuned host is incomplete, and fails too
    assert results["tuned"]["failed"] is True and results["tuned"]["changed"] is False
    assert results["tuned"]["msg"].startswith("incomplete against server-1M")
    assert all(u.startswith("rlimit.") for u in results["tuned"]["unverified"])
    assert results["low"]["failed"] is True and results["low"]["compliant"] is False
    assert "not compliant with server-1M" in results["low"]["msg"]
    fails = {f["key"] for f in results["low"]["findings"] if f["verdict"] == "fail"}
    assert len(fails) == 2 and results["low"]["estimate"]["binding"]
    assert code != 0


def test_without_tunekit_the_module_says_how_to_install_it(collections, tmp_path):
    """A Python on the managed host that has no tunekit: missing_required_lib and the
    install line, not a traceback."""
    require_privileges()
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    hosts = {"bare": lowered_root(tmp_path / "root")}
    book = PLAY.replace("STATE", "checked")
    code, doc = ansible_playbook(
        tmp_path, book, inventory(hosts, str(venv / "bin/python")), collections=collections
    )
    result = task_results(doc, "tune")["bare"]
    assert code != 0 and result["failed"] is True
    assert "Failed to import the required Python library (tunekit)" in result["msg"]
    assert "python3 -m pip install tunekit" in result["msg"]


def fenced(text: str, lang: str) -> str:
    block = text.split(f"```{lang}\n", 1)[1]
    return block.split("```", 1)[0]


def test_the_fleet_guide_playbook_and_inventory_parse(collections, tmp_path):
    """docs/fleet.md's inventory and playbook, as written, pass ansible-playbook's
    --syntax-check and --list-hosts with the collection installed."""
    from helpers import REPO

    guide = (REPO / "docs/fleet.md").read_text()
    (tmp_path / "fleet.yml").write_text(fenced(guide, "yaml"))
    (tmp_path / "inventory.ini").write_text(fenced(guide, "ini"))
    env = ansible_env(tmp_path, collections)
    base = [str(ANSIBLE_BIN / "ansible-playbook"), "-i", "inventory.ini", "fleet.yml"]
    r = subprocess.run(
        [*base, "--syntax-check"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr
    env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    r = subprocess.run(
        [*base, "--list-hosts"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert "loadgen-20.lab.example" in r.stdout and "broker-1.lab.example" in r.stdout
