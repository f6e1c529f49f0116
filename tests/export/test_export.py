"""export: every format from the plan apply makes, through the same writers; what each
format says and what it cannot say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import invoke, lowered_root, tree_bytes
from hypothesis import given
from hypothesis import strategies as st

from tunekit.export import yaml as tkyaml
from tunekit.knowledge import catalogue as K
from tunekit.ops.apply import ApplyOptions, apply
from tunekit.ops.export import ExportOptions, export
from tunekit.output.documents.export import Export


@pytest.fixture(autouse=True)
def _state_under_the_root(monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR", raising=False)


MEM = 32 << 30  # the RAM an empty root's boot values are computed for (--mem-total)


@pytest.fixture
def empty_root(tmp_path) -> Path:
    """A tree with nothing in it: every target is exported at its profile's value, or at
    the boot value of a 32 GiB host where that is higher."""
    (tmp_path / "empty/etc").mkdir(parents=True)
    return tmp_path / "empty"


def files_of(doc: Export) -> dict[str, str]:
    return {f.path: f.content for f in doc.files}


def test_sysctl_export_is_byte_for_byte_what_apply_writes(tmp_path):
    root = lowered_root(tmp_path / "root")
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    before = tree_bytes(root)
    doc = export(ExportOptions("sysctl", "server-1M", 1000, output=tmp_path / "out", root=root))
    assert tree_bytes(root) == before and not (root / "var").exists(), "export writes nothing"
    applied = apply(ApplyOptions("server-1M", 1000, root=copy))
    assert sorted(files_of(doc)) == sorted(f.path for f in applied.files)
    for f in applied.files:
        assert (tmp_path / "out" / f.path).read_bytes() == (copy / f.path).read_bytes()


def test_tuned_uses_greater_than_for_at_least_integers_only(empty_root):
    doc = export(ExportOptions("tuned", "server-1M", root=empty_root, mem_total=MEM))
    text = files_of(doc)["tuned.conf"]
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    assert lines[K.SOMAXCONN.name] == ">10000"
    assert lines[K.NETDEV_BACKLOG.name].startswith(">")
    # 32 GiB give 10% of RAM in KiB (> 1,251,280) at boot, and more under systemd
    assert K.FILE_MAX.name not in lines
    assert any(n.startswith(K.FILE_MAX.name + ": nothing to persist") for n in doc.left_alone)
    assert lines[K.SYNCOOKIES.name] == "1", "an 'exactly' target is a plain value"
    assert not lines[K.TCP_MEM.name].startswith(">"), "TuneD's int() cannot compare a triple"
    assert len(lines[K.TCP_MEM.name].split()) == 3
    assert any("reapply_sysctl" in n and "tuned#816" in n for n in doc.notes)
    assert any(K.TCP_MEM.name in n and "set exactly" in n for n in doc.notes)
    assert "\n[main]\nsummary=tunekit server-1M" in text


def test_kubernetes_splits_by_the_catalogue_scope(empty_root):
    doc = export(ExportOptions("kubernetes", "server-1M", root=empty_root, mem_total=MEM))
    files = files_of(doc)
    pod = yaml.safe_load(files["pod-sysctls.yaml"])["securityContext"]["sysctls"]
    names = [e["name"] for e in pod]
    assert names and all(K.lookup(n).scope == "netns" for n in names)
    assert all(isinstance(e["value"], str) for e in pod), "Kubernetes takes values as strings"
    unsafe = yaml.safe_load(files["kubelet-config.yaml"])
    assert unsafe["kind"] == "KubeletConfiguration"
    assert K.SOMAXCONN.name in unsafe["allowedUnsafeSysctls"]
    assert K.SYNCOOKIES.name in names and K.SYNCOOKIES.name not in unsafe["allowedUnsafeSysctls"]
    node = yaml.safe_load(files["node-sysctls.yaml"])["node"]
    assert {e["name"] for e in node["sysctls"]} >= {K.TCP_MEM.name, K.NETDEV_BACKLOG.name}
    assert all(K.lookup(e["name"]).scope == "global" for e in node["sysctls"])
    assert "RLIMIT_NOFILE" in node["limits"][0]


def test_a_key_safe_only_from_a_kernel_is_unsafe_before_it():
    from tunekit.export.kubernetes import where
    from tunekit.model.plan import Setting

    s = Setting(K.FIN_TIMEOUT, 30, [], True)
    assert where(s, "6.18.0") == "pod-safe" and where(s, "4.4.0") == "pod-unsafe"
    assert where(Setting(K.TCP_MEM, [1, 2, 3], [], True), "6.18.0") == "node"


def test_ansible_tasks_carry_the_sysctl_files_with_ansible_core_modules_only(empty_root):
    tasks_doc = export(ExportOptions("ansible", "server-1M", root=empty_root, mem_total=MEM))
    sysctl = files_of(export(ExportOptions("sysctl", "server-1M", root=empty_root, mem_total=MEM)))
    tasks = yaml.safe_load(files_of(tasks_doc)["tasks/main.yml"])
    modules = {k for t in tasks for k in t if k.startswith("ansible.")}
    assert modules == {"ansible.builtin.file", "ansible.builtin.copy", "ansible.builtin.command"}
    copies = {
        t["ansible.builtin.copy"]["dest"].split("}}/", 1)[1]: t["ansible.builtin.copy"]["content"]
        for t in tasks
        if "ansible.builtin.copy" in t
    }
    assert copies == sysctl
    assert any("never lowers" in n for n in tasks_doc.notes)


def test_a_compliant_host_exports_nothing_and_says_so(tmp_path):
    root = lowered_root(tmp_path / "root", net__core__somaxconn="65535")
    (root / "proc/sys/net/ipv4/tcp_max_orphans").write_text("65536\n")
    doc = export(ExportOptions("tuned", "server-1M", 1000, root=root))
    assert "[sysctl]" not in doc.files[0].content
    assert any("already meets every target" in n for n in doc.notes)


@given(st.text(max_size=60))
def test_yaml_strings_read_back_as_written(text):
    doc = {"k": text, "list": [text, {"name": text, "value": "10000"}]}
    assert yaml.safe_load(tkyaml.dump(doc, ["a comment: with # signs"])) == doc


def test_yaml_file_contents_are_literal_blocks_and_read_back():
    content = "# a header\n\nkey = 1 2 3\n*    hard nofile 10\n"
    text = tkyaml.dump([{"content": content}])
    assert "content: |\n" in text
    assert yaml.safe_load(text) == [{"content": content}]


def test_cli_prints_the_one_file_and_the_notes_on_stderr(empty_root):
    r = invoke("export", "tuned", "server-1M", "--root", empty_root, "--mem-total", "32G")
    assert r.exit_code == 0, r.output
    doc = export(ExportOptions("tuned", "server-1M", root=empty_root, mem_total=MEM))
    assert r.stdout == doc.files[0].content
    assert "note: TuneD applies" in r.stderr


def test_cli_json_is_the_export_document(empty_root, tmp_path):
    r = invoke("export", "kubernetes", "--root", empty_root, "--output", tmp_path / "k", "--json")
    assert r.exit_code == 0, r.output
    doc = Export.model_validate_json(r.stdout)
    assert doc.output == str(tmp_path / "k") and doc.profile == "server-1M"
    for f in doc.files:
        assert (tmp_path / "k" / f.path).read_text() == f.content
    assert json.loads(r.stdout)["format"] == "kubernetes"


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "puppet"], "unknown format"),
        (["export", "sysctl", "--output", "/"], "--output /"),
    ],
)
def test_bad_export_input_exits_2(args, message, empty_root):
    r = invoke(*args, "--root", empty_root)
    assert r.exit_code == 2 and message in r.stderr, r.output


def test_kubernetes_safe_keys_are_the_kubelets_and_per_namespace():
    # pkg/kubelet/sysctl/safe_sysctls.go (read 2026-12), the keys of it the catalogue has
    expected = {
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
    safe = {k.name for k in K.KEYS.values() if k.kubernetes_safe is not None}
    assert safe == expected
    assert all(K.KEYS[n].scope == "netns" for n in safe)


@given(st.lists(st.text(max_size=20).filter(lambda s: "\n" not in s), max_size=6))
def test_yaml_file_contents_of_any_lines_read_back(lines):
    content = "\n".join(lines) + "\n"
    assert yaml.safe_load(tkyaml.dump([{"content": content}])) == [{"content": content}]
