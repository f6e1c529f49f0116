"""The state directory and the journals in it, second round (issue 17, items 1 and 4-10):
one set of checks for every reader and writer, a state directory that cannot leave its
root, journals that cannot reach a live process from a root, restores that finish, and
numbers past 999999. Every test here failed on the main before issue 17."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, invoke, sysctl_files, write_tree

from tunekit.persist.calibration import implausible

LOWERED = {**TUNED, "net.core.somaxconn": "128", "net.ipv4.tcp_max_orphans": "4096"}


@pytest.fixture
def root(tmp_path, isolated_home, monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR")  # the state lives inside the root
    files = sysctl_files(LOWERED)
    files["proc/meminfo"] = MEMINFO
    return write_tree(tmp_path / "root", files)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "OUT"
    d.mkdir()
    return d


def tree(top: Path) -> dict[str, str]:
    return {str(p.relative_to(top)): p.read_text() if p.is_file() else "" for p in top.rglob("*")}


def journal(path: Path, *, root: str, runtime: str = "", files: str = "", mode=0o600) -> None:
    """A journal that passes the TOML reader: what a hand or an attacker could plant."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    top = "" if runtime else "runtime = []\n"
    top += "" if files else "files = []\n"
    path.write_text(
        f'version = 2\nprofile = "server-1M"\ncreated = "2026-12-01T00:00:00+00:00"\n'
        f'root = "{root}"\nstatus = "applied"\ncreated_dirs = []\n{top}{files}{runtime}'
    )
    path.chmod(mode)


# --- 1. the state directory of a root is inside that root ----------------------------------


def test_a_state_dir_under_the_root_follows_no_symlink_out_of_it(root, outside):
    (root / "var").symlink_to(outside / "var")  # absolute: inside the image, /OUT/var
    (outside / "var").mkdir()
    r = invoke("apply", "server-1M", "--root", root, "--state-dir", root / "var/lib/tunekit")
    assert r.exit_code in (0, 3, 4), r.output
    assert not (outside / "var/lib").exists(), "the state directory left the root"
    r = invoke("check", "--root", root, "--json")
    assert "from " + str(outside) not in r.stdout


def test_the_default_state_dir_of_a_root_is_resolved_inside_it(root, outside):
    (root / "var").symlink_to("/OUT/var")  # an image's absolute link: /OUT inside the root
    (root / "OUT/var").mkdir(parents=True)
    assert invoke("apply", "server-1M", "--root", root).exit_code == 0
    assert list((root / "OUT/var/lib/tunekit/journals").glob("*.applied.toml"))
    assert not any(outside.iterdir())


# --- 4. every reader of a journal checks it as rollback does ------------------------------


def test_check_and_apply_with_no_profile_refuse_a_journal_that_is_not_ours(root, tmp_path):
    evil = tmp_path / "evil.toml"
    evil.write_text(
        '[workload]\nconnections = 10\n[[targets]]\nkey = "kernel.randomize_va_space"\n'
        'op = "exactly"\nvalue = 0\nreason = "r"\nsource = "s"\n'
    )
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/randomize_va_space").write_text("2\n")
    j = root / "var/lib/tunekit/journals/000001.applied.toml"
    journal(j, root=str(root.resolve()), mode=0o666)
    j.write_text(j.read_text().replace('profile = "server-1M"', f'profile = "{evil}"'))
    os.chown(j, 65534, 65534)  # nobody's
    for args in (["apply"], ["check"], ["rollback"]):
        r = invoke(*args, "--root", root)
        assert r.exit_code == 3, (args, r.output)
        assert "not owned by" in r.stderr
    assert (root / "proc/sys/kernel/randomize_va_space").read_text() == "2\n"


# --- 5. a journal for a root holds only that root's files ---------------------------------


def test_rollback_under_a_root_never_touches_a_live_process(root):
    from helpers import child_with_nofile

    with child_with_nofile(500, 600) as pid:
        entry = (
            '[[runtime]]\nkey = "rlimit.nofile"\nkind = "rlimit"\n'
            f'path = "pid {pid}"\nold = "100 200"\nnew = "500 600"\n'
        )
        journal(
            root / "var/lib/tunekit/journals/000001.applied.toml",
            root=str(root.resolve()),
            runtime=entry,
        )
        r = invoke("rollback", "--root", root)
        assert r.exit_code == 3 and "process limit" in r.stderr, r.output
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert "Max open files            500                  600" in limits


# --- 6. a journal that passes validation cannot crash rollback ---------------------------


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            'files = [{path = "etc/sysctl.d/90-tunekit.conf", new = "x", before = {kind = "file", data = "", uid = 1099511627776}}]\n',
            "uid",
        ),
        (
            '[[runtime]]\nkey = "rlimit.nofile"\nkind = "rlimit"\npath = "pid 1"\nold = "abc"\nnew = "1 2"\n',
            "SOFT HARD",
        ),
    ],
)
def test_values_restore_would_use_are_validated_first(root, entry, message):
    kind = "runtime" if "runtime" in entry else "files"
    journal(
        root / "var/lib/tunekit/journals/000001.applied.toml",
        root=str(root.resolve()),
        **{kind: entry},
    )
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 3 and message in r.stderr and "Traceback" not in r.output, r.output


def test_a_restore_that_fails_on_one_item_goes_on_and_keeps_the_journal(root):
    assert invoke("apply", "server-1M", "--root", root).exit_code == 0
    drop_in = root / "etc/sysctl.d/90-tunekit.conf"
    drop_in.write_text("# edited by hand after the apply\n")
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 4, r.output
    assert "changed since this apply" in r.stdout and "kept for another try" in r.stdout
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"  # went on
    assert drop_in.read_text() == "# edited by hand after the apply\n"  # not clobbered
    journals = root / "var/lib/tunekit/journals"
    assert [p.name for p in journals.iterdir()] == ["000001.applied.toml"]
    drop_in.unlink()  # the obstacle removed: the next try finishes it
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 0, r.output
    assert [p.name for p in journals.iterdir()] == ["000001.rolled-back.toml"]


# --- 7. journal numbers past 999999 -------------------------------------------------------


def test_journal_numbering_goes_past_six_digits(root):
    journals = root / "var/lib/tunekit/journals"
    journal(journals / "999999.rolled-back.toml", root=str(root.resolve()))
    journal(journals / "1000000.rolled-back.toml", root=str(root.resolve()))
    (root / "var/lib/tunekit").chmod(0o700)
    assert invoke("apply", "server-1M", "--root", root).exit_code == 0
    assert (journals / "1000001.applied.toml").exists()
    assert (journals / "1000000.rolled-back.toml").exists()  # never overwritten
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 0 and "Rolled back" in r.stdout, r.output
    assert (journals / "1000001.rolled-back.toml").exists()


# --- 8. one root, two state directories --------------------------------------------------


def test_rolling_back_the_older_of_two_state_dirs_leaves_the_newer_apply_alone(root, tmp_path):
    import json

    a, b = tmp_path / "state-a", tmp_path / "state-b"
    assert invoke("apply", "server-1M", "--root", root, "--state-dir", a).exit_code == 0
    r = invoke("apply", "server-1M", "--conns", "2M", "--root", root, "--state-dir", b, "--json")
    assert r.exit_code == 0, r.output
    by_b = {c["path"]: (root / c["path"]).read_text() for c in json.loads(r.stdout)["changes"]}
    assert by_b, "the second apply changed nothing: the test would prove nothing"
    after_b = tree(root / "etc")
    r = invoke("rollback", "--root", root, "--state-dir", a)
    assert r.exit_code == 4, r.output
    assert "another state directory" in r.stdout
    assert tree(root / "etc") == after_b  # b's drop-ins, not a's originals
    assert {path: (root / path).read_text() for path in by_b} == by_b
    assert invoke("rollback", "--root", root, "--state-dir", b).exit_code == 0
    assert invoke("rollback", "--root", root, "--state-dir", a).exit_code == 0
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"


# --- 9. a state directory that is not a directory ----------------------------------------


@pytest.mark.parametrize("args", [["check"], ["apply", "--dry-run"], ["estimate", "--conns", "5"]])
def test_a_state_dir_that_is_a_device_is_one_line(args, monkeypatch, isolated_home):
    monkeypatch.setenv("TUNEKIT_STATE_DIR", "/dev/null")
    r = invoke(*args)
    assert r.exit_code == 3 and "not a directory" in r.stderr, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


# --- 10. the calibration is read and written with the same trust -------------------------


def test_a_symlinked_calibration_is_not_used(tmp_path, isolated_home, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "outside.toml").write_text(
        'kernel = "' + os.uname().release + '"\n[constants]\nsocket_bytes = 9999.0\n'
    )
    (state / "calibration.toml").symlink_to(tmp_path / "outside.toml")
    monkeypatch.setenv("TUNEKIT_STATE_DIR", str(state))
    r = invoke("estimate", "--conns", "1000", "--json")
    assert r.exit_code == 0, r.output
    assert '"socket_bytes": 4200.0' in r.stdout and "symlink" in r.stdout


def test_calibrate_refuses_a_symlinked_state_dir_before_it_measures(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    r = invoke("probe", "--conns", "1000", "--calibrate", "--state-dir", tmp_path / "link")
    assert r.exit_code == 3 and "symlink" in r.stderr, r.output


def test_an_impossible_measurement_is_refused_and_says_why():
    assert implausible({"socket_bytes": -37025.8}) == [
        "socket_bytes = -37025.8 is outside 1000..100000"
    ]
    assert implausible({"socket_bytes": 4200.0, "buffer_factor": 1.0}) == []


def test_a_state_dir_writable_by_others_is_refused_for_the_calibration_too(
    tmp_path, isolated_home, monkeypatch
):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    monkeypatch.setenv("TUNEKIT_STATE_DIR", str(state))
    r = invoke("estimate", "--conns", "1000")
    assert r.exit_code == 3 and "writable by others" in r.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o777  # nothing changed it
