"""The exports read by the real tools: TuneD's own profile loader (Debian's tuned, installed
by .ci/run), the running kernel inside a throw-away network namespace, and ansible-playbook
against a temporary root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import (
    ansible_playbook,
    lowered_root,
    require_ansible,
    require_privileges,
    require_tool,
    task_results,
    tree_bytes,
)

from tunekit.knowledge import catalogue as K
from tunekit.ops.export import ExportOptions, export

SYSTEM_PYTHON = "/usr/bin/python3"  # tuned is a Debian python3 package
MEM = 32 << 30  # an empty root has no proc/meminfo: the boot values that scale with RAM

# TuneD's loader, as the daemon uses it (tuned/daemon/application.py builds the same four),
# merging a profile shipped with TuneD and the exported one, which is listed last and so
# wins; then TuneD's own assignment modifier on each value.
TUNED_LOAD = """
import json, sys
from tuned.profiles.loader import Loader
from tuned.profiles.locator import Locator
from tuned.profiles.factory import Factory
from tuned.profiles.merger import Merger
from tuned.profiles.variables import Variables
from tuned.utils.global_config import GlobalConfig
from tuned.plugins.base import Plugin
import tuned.consts as consts

dirs = consts.LOAD_DIRECTORIES + [sys.argv[1]]
loader = Loader(Locator(dirs), Factory(), Merger(), GlobalConfig(), Variables())
profile = loader.load(["network-throughput", sys.argv[2]])
units = {name: dict(unit.options) for name, unit in profile.units.items()}
modify = Plugin._process_assignment_modifiers
mods = {k: [modify(None, v, "0"), modify(None, v, "9" * 25)]
        for k, v in units.get("sysctl", {}).items()}
print(json.dumps({"units": units, "modified": mods, "summary": profile.options.get("summary")}))
"""


@pytest.fixture(autouse=True)
def _state_under_the_root(monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR", raising=False)


@pytest.fixture
def empty_root(tmp_path) -> Path:
    (tmp_path / "empty/etc").mkdir(parents=True)
    return tmp_path / "empty"


def tuned_python() -> str:
    require_tool("tuned-adm")
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import tuned.profiles"], capture_output=True)
    if r.returncode != 0:
        pytest.fail("tuned-adm is installed but its Python package is not importable")
    return SYSTEM_PYTHON


def section(text: str, name: str) -> dict[str, str]:
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == name and line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


@pytest.mark.parametrize("profile", ["server-1M", "host-conntrack"])
def test_tuned_loads_and_merges_the_exported_profile_as_written(profile, empty_root, tmp_path):
    python = tuned_python()
    name = f"tunekit-{profile}"
    doc = export(
        ExportOptions(
            "tuned", profile, root=empty_root, output=tmp_path / "p" / name, mem_total=MEM
        )
    )
    text = doc.files[0].content
    r = subprocess.run(
        [python, "-c", TUNED_LOAD, str(tmp_path / "p"), name], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout)
    written = section(text, "sysctl")
    assert written, text
    for key, value in written.items():
        assert loaded["units"]["sysctl"][key] == value, key
    assert len(loaded["units"]["sysctl"]) > len(written), "merged with network-throughput's"
    for module, params in section(text, "modules").items():
        assert loaded["units"]["modules"][module] == params
    if profile == "host-conntrack":
        assert loaded["units"]["modules"]["nf_conntrack"].startswith("hashsize=")
    assert loaded["summary"] == f"tunekit {profile}, planned against root {empty_root}"
    # TuneD's own modifier: '>N' raises a lower value to N and leaves a higher one alone;
    # every plain value is written as it is.
    for key, value in written.items():
        on_low, on_high = loaded["modified"][key]
        if value.startswith(">"):
            assert (on_low, on_high) == (value[1:], None), key
        else:
            assert on_low == on_high == value, key


def test_tuned_cannot_take_greater_than_on_a_triple_as_the_export_says():
    python = tuned_python()
    code = (
        "from tuned.plugins.base import Plugin; "
        "print(Plugin._process_assignment_modifiers(None, '>1 2 3', '4 5 6'))"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    # int('1 2 3') fails: TuneD would write '>1 2 3' itself, which the kernel rejects
    assert r.stdout.strip() == ">1 2 3", r.stderr


@pytest.mark.parametrize("profile", ["server-1M", "client-flood"])
def test_every_pod_sysctl_is_per_namespace_on_this_kernel(profile, empty_root):
    """Inside a fresh network namespace every key of the pod fragment exists and takes a
    write (its own value, written back): the namespace's own."""
    require_privileges()
    doc = export(ExportOptions("kubernetes", profile, root=empty_root))
    pod = yaml.safe_load(doc.files[0].content)["securityContext"]["sysctls"]
    paths = ["/" + K.lookup(e["name"]).proc_path for e in pod]
    assert paths
    script = (
        "import sys\n"
        "for p in sys.argv[1:]:\n"
        "    v = open(p).read()\n"
        "    open(p, 'w').write(v)\n"
        "print('ok')\n"
    )
    r = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script, *paths], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    node = yaml.safe_load(doc.files[-1].content).get("node", {}).get("sysctls", [])
    assert all(K.lookup(e["name"]).scope == "global" for e in node)


def test_exported_ansible_tasks_write_the_files_of_export_sysctl(tmp_path):
    """The task list, run by the real ansible-playbook against a temporary root, leaves
    exactly the files `export sysctl` gives, mode 0644; a second run changes nothing; the
    running kernel is not touched (tunekit_root is set)."""
    require_privileges()
    require_ansible()
    planned = lowered_root(tmp_path / "planned")
    role = tmp_path / "role"
    export(ExportOptions("ansible", "server-1M", 1000, output=role, root=planned))
    expected = export(ExportOptions("sysctl", "server-1M", 1000, root=planned))
    target = tmp_path / "target"
    target.mkdir()
    book = f"""
- hosts: all
  gather_facts: false
  vars:
    tunekit_root: "{target}"
  roles:
    - role: "{role}"
"""
    inventory = f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    code, doc = ansible_playbook(tmp_path, book, inventory)
    assert code == 0, doc["stats"]
    written = {k: v for k, v in tree_bytes(target).items() if v is not None}
    assert written == {f.path: f.content.encode() for f in expected.files}
    for f in expected.files:
        assert os.stat(target / f.path).st_mode & 0o777 == 0o644
    loads = [t for t in doc["plays"][0]["tasks"] if "into the running kernel" in t["task"]["name"]]
    assert loads and all(h.get("skipped") for t in loads for h in t["hosts"].values())
    code, doc = ansible_playbook(tmp_path, book, inventory)
    assert code == 0 and doc["stats"]["localhost"]["changed"] == 0
    assert task_results(doc, loads[0]["task"]["name"])["localhost"].get("skipped")
