"""The module tunekit.tunekit.tune in this process, with plain pytest: its parameters set
as Ansible sets them (ansible.module_utils.testing), its exit_json/fail_json read back,
against temporary roots."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from helpers import COLLECTION, lowered_root, tree_bytes

pytest.importorskip("ansible")  # a test extra; .ci/run installs it
from ansible.module_utils.testing import patch_module_args  # noqa: E402


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    """The module, imported as Ansible names it (ansible_collections.tunekit.tunekit)."""
    base = tmp_path_factory.mktemp("collections")
    (base / "ansible_collections/tunekit").mkdir(parents=True)
    (base / "ansible_collections/tunekit/tunekit").symlink_to(COLLECTION)
    sys.path.insert(0, str(base))
    try:
        yield importlib.import_module("ansible_collections.tunekit.tunekit.plugins.modules.tune")
    finally:
        sys.path.remove(str(base))


@pytest.fixture(autouse=True)
def _state_under_the_root(monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR", raising=False)  # the journal goes under --root


def run(module, capsys, **args) -> dict:
    """main() with these arguments; the JSON it printed (exit_json or fail_json)."""
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_check_mode_reports_the_change_and_writes_nothing(module, capsys, tmp_path):
    root = lowered_root(tmp_path / "root")
    before = tree_bytes(root)
    out = run(
        module, capsys, profile="server-1M", conns=1000, root=str(root), _ansible_check_mode=True
    )
    assert out["changed"] is True and out["journal"] is None
    assert out["plan"]["files"] == [
        "etc/sysctl.d/90-tunekit.conf",
        "etc/security/limits.d/90-tunekit.conf",
        "etc/systemd/system.conf.d/90-tunekit.conf",
    ]
    # tcp_max_orphans: server-1M needs 25,000, but a 64 GiB host gets 262,144 at boot (half
    # the established hash) and tunekit never writes a value below that
    assert [c["new"] for c in out["plan"]["changes"]] == ["262144", "10000"]
    assert out["compliant"] is False  # the findings before the apply, in check mode
    assert tree_bytes(root) == before and not (root / "var").exists()


def test_apply_returns_the_journal_and_the_findings_after(module, capsys, tmp_path):
    root = lowered_root(tmp_path / "root")
    out = run(module, capsys, profile="server-1M", conns=1000, root=str(root))
    # every sysctl passes after the apply; the open-files limits of a tree cannot be read,
    # so the check is incomplete, never compliant
    assert out["changed"] is True and out["compliant"] is False
    assert out["verdict"] == "incomplete"
    assert out["unverified"] and all(u.startswith("rlimit.") for u in out["unverified"])
    assert out["journal"].startswith(str(root / "var/lib/tunekit/journals/000001."))
    assert out["estimate"]["capacity"] >= 1000 and out["estimate"]["connections"] == 1000
    again = run(module, capsys, profile="server-1M", conns=1000, root=str(root))
    assert again["changed"] is False and again["journal"] is None


def test_rolled_back_in_check_mode_lists_what_it_would_undo(module, capsys, tmp_path):
    root = lowered_root(tmp_path / "root")
    run(module, capsys, profile="server-1M", conns=1000, root=str(root))
    applied = tree_bytes(root)
    out = run(module, capsys, state="rolled_back", root=str(root), _ansible_check_mode=True)
    assert out["changed"] is True and [j["profile"] for j in out["rolled_back"]] == ["server-1M"]
    removed = [d for d in out["diff"] if d["after_header"].endswith("(removed)")]
    assert len(removed) == 3 and all(d["after"] == "" for d in removed)
    assert tree_bytes(root) == applied


def test_tunekit_errors_fail_with_their_line_hint_and_exit_code(module, capsys, tmp_path):
    root = lowered_root(tmp_path / "root")
    out = run(module, capsys, profile="no-such-profile", root=str(root))
    assert out["failed"] is True and out["exit_code"] == 2
    assert out["msg"].startswith(out["error"]) and "\n" not in out["msg"]


def test_checked_fails_a_host_it_could_not_verify(module, capsys, tmp_path):
    """Every sysctl of this tree passes, but a tree shows no open-files limits: the task
    fails as incomplete rather than passing the host on what was not checked."""
    root = lowered_root(
        tmp_path / "root", net__core__somaxconn="65535", net__ipv4__tcp_max_orphans="65536"
    )
    out = run(module, capsys, profile="server-1M", conns=1000, root=str(root), state="checked")
    assert out["failed"] is True and out["msg"].startswith("incomplete against server-1M")
    assert out["verdict"] == "incomplete" and out["compliant"] is False
    assert [f for f in out["findings"] if f["verdict"] == "fail"] == []
    assert all(u.startswith("rlimit.") for u in out["unverified"])


def test_checked_fails_when_not_compliant(module, capsys, tmp_path):
    root = lowered_root(tmp_path / "root")
    out = run(module, capsys, profile="server-1M", conns=1000, root=str(root), state="checked")
    assert out["failed"] is True and out["changed"] is False
    assert out["msg"].startswith("not compliant with server-1M: 2 target(s) fail")


def test_without_tunekit_fails_with_the_install_line(module, capsys, monkeypatch):
    utils = sys.modules["ansible_collections.tunekit.tunekit.plugins.module_utils.tunekit_ops"]
    monkeypatch.setattr(utils, "IMPORT_ERROR", "Traceback: No module named 'tunekit'")
    out = run(module, capsys, state="checked")
    assert out["failed"] is True
    assert "Failed to import the required Python library (tunekit)" in out["msg"]
    assert utils.INSTALL in out["msg"]


def test_diffs_are_the_plans_before_and_after(module):
    from tunekit.model.plan import FileWrite, Plan, RuntimeChange

    utils = sys.modules["ansible_collections.tunekit.tunekit.plugins.module_utils.tunekit_ops"]
    plan = Plan(
        profile="p",
        profile_why="test",
        root="/",
        changes=[
            RuntimeChange(
                key="k.a", kind="sysctl", path="proc/sys/k/a", old="1", new="2", reason=""
            )
        ],
        files=[
            FileWrite(path="etc/x.conf", content="new\n", old="old\n"),
            FileWrite(path="etc/same.conf", content="same\n", old="same\n"),
        ],
    )
    diff = utils.plan_diff(plan)
    assert diff[0]["before"] == "k.a = 1\n" and diff[0]["after"] == "k.a = 2\n"
    assert diff[1] == {
        "before_header": "/etc/x.conf",
        "after_header": "/etc/x.conf",
        "before": "old\n",
        "after": "new\n",
    }
    assert len(diff) == 2, "an unchanged file is no part of the diff"


def test_another_apply_running_fails_with_tunekits_line(module, capsys, tmp_path, monkeypatch):
    from tunekit.persist.state import StateDir

    root = lowered_root(tmp_path / "root")
    monkeypatch.setenv("TUNEKIT_LOCK_WAIT", "0")
    state = StateDir.open(root / "var/lib/tunekit", root, create=True)
    assert state is not None
    before = tree_bytes(root)
    with state, state.locked():  # held, as by an apply on that host
        out = run(module, capsys, profile="server-1M", conns=1000, root=str(root))
    assert out["failed"] is True and out["exit_code"] == 3
    assert out["error"].startswith("another tunekit apply or rollback is running")
    assert out["hint"] and tree_bytes(root) == before


@pytest.fixture(scope="module")
def probe_module(module):
    """tunekit.tunekit.probe, imported beside tune (the same collections path)."""
    return importlib.import_module("ansible_collections.tunekit.tunekit.plugins.modules.probe")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"target": ["127.0.0.1:9"], "conns": 0}, "--conns 0: expected 1 to 100,000,000"),
        ({"target": ["nowhere"], "conns": 10}, "expected HOST:PORT"),
        ({"target": ["127.0.0.1:9"], "conns": 10, "hold": -1}, "--hold -1: expected 0 to"),
        ({"target": ["127.0.0.1:9"], "conns": 10, "ramp": {"step": 0, "seconds": 1}}, "step"),
    ],
)
def test_probe_bad_options_fail_with_tunekits_line(probe_module, capsys, args, says):
    out = run(probe_module, capsys, **args, _ansible_check_mode=True)
    assert out["failed"] is True and out["exit_code"] == 2
    assert says in out["msg"] and "Traceback" not in out["msg"] and "exception" not in out


def test_probe_check_mode_plans_and_opens_nothing(probe_module, capsys):
    out = run(
        probe_module,
        capsys,
        target=["127.0.0.1:9"],
        conns=500,
        processes=2,
        _ansible_check_mode=True,
    )
    assert out["changed"] is False and "failed" not in out
    plan = out["would_probe"]
    assert plan["connections"] == 500 and plan["targets"] == ["127.0.0.1:9"]
    assert plan["connect_workers"] == 2 and plan["sources"] == ["127.0.0.1"]
    assert out["msg"] == "would open 500 connections to 127.0.0.1:9 from 127.0.0.1"
