"""tunekit as root against a hostile or careless user (issue 10): writes confined to the
root, journals checked before they are trusted, a safe state directory and lock, every
written value validated, exact restore, and a history rollback walks back one apply at a
time. The kill -9 battery is in test_crash.py."""

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, invoke, sysctl_files, write_tree

LOWERED = {**TUNED, "net.core.somaxconn": "128", "net.ipv4.tcp_max_orphans": "4096"}


def snapshot(top: Path) -> dict:
    """Every path under `top`: kind, mode, owner, bytes or link target."""
    out = {}
    for p in sorted(top.rglob("*")):
        st = os.lstat(p)
        rel = str(p.relative_to(top))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = (
                "file",
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
    return out


@pytest.fixture
def root(tmp_path, isolated_home):
    files = sysctl_files(LOWERED)
    files["proc/meminfo"] = MEMINFO
    files["etc/hostname"] = "image\n"
    return write_tree(tmp_path / "root", files)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("precious\n")
    return d


def state(root: Path) -> Path:
    return Path(os.environ["TUNEKIT_STATE_DIR"])


# --- 1. writes cannot escape --root -----------------------------------------------------------


@pytest.mark.parametrize(
    "link", ["etc/sysctl.d", "etc", "etc/security", "proc/sys", "proc/sys/net/core/somaxconn"]
)
def test_a_symlink_pointing_outside_the_root_is_resolved_inside_it(root, outside, link):
    path = root / link
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    # absolute, as links are inside real images: outside the tree, it would escape
    path.symlink_to(outside / "victim" if link.endswith("somaxconn") else outside)
    before = snapshot(outside)
    r = invoke("apply", "server-1M", "--root", root)
    assert r.exit_code in (0, 2, 3, 4), r.output
    assert "Traceback" not in r.output
    assert snapshot(outside) == before, "a write left the root"


def test_a_dot_dot_link_cannot_climb_out(root, outside):
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/sysctl.d").symlink_to("../../../../../../../../" + str(outside).lstrip("/"))
    before = snapshot(outside)
    invoke("apply", "server-1M", "--root", root)
    assert snapshot(outside) == before


# --- 2. rollback trusts no journal ----------------------------------------------------------


def _plant(root: Path, doc: dict, name="000001.applied.toml", mode=0o600) -> Path:
    import tomli_w

    j = state(root) / "journals"
    j.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state(root), 0o700)
    path = j / name
    path.write_text(tomli_w.dumps(doc))
    os.chmod(path, mode)
    return path


def _journal(root: Path, **kw) -> dict:
    doc = {
        "version": 2,
        "profile": "evil",
        "created": "now",
        "root": str(root.resolve()),
        "runtime": [],
        "files": [],
        "created_dirs": [],
    }
    doc.update(kw)
    return doc


@pytest.mark.parametrize(
    "entry",
    [
        {"files": [{"path": "../../../outside/victim", "before": {"kind": "absent"}}]},
        {"files": [{"path": "tmp/x", "before": {"kind": "absent"}}]},
        {"files": [{"path": "etc/passwd", "before": {"kind": "absent"}}]},
        {"runtime": [{"key": "x", "kind": "sysctl", "path": "etc/shadow", "old": "1", "new": "2"}]},
        {
            "runtime": [
                {
                    "key": "x",
                    "kind": "sysctl",
                    "path": "proc/sys/../../etc/shadow",
                    "old": "1",
                    "new": "2",
                }
            ]
        },
        {
            "runtime": [
                {"key": "x", "kind": "rlimit", "path": "pid 1; rm", "old": "1 1", "new": "2 2"}
            ]
        },
        {"created_dirs": ["etc"]},
    ],
)
def test_rollback_refuses_a_journal_naming_what_tunekit_does_not_write(root, outside, entry):
    _plant(root, _journal(root, **entry))
    before, inside = snapshot(outside), snapshot(root / "etc")
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 3 and "refusing" in r.stderr, r.output
    assert snapshot(outside) == before and snapshot(root / "etc") == inside


def test_rollback_refuses_a_journal_written_for_another_root(root, tmp_path):
    other = write_tree(tmp_path / "other", {"etc/hostname": "b\n"})
    _plant(root, _journal(other))
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 3 and "written for root" in r.stderr


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_rollback_refuses_a_journal_others_can_write(root, mode):
    _plant(root, _journal(root), mode=mode)
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 3 and "writable by others" in r.stderr


def test_rollback_refuses_a_journal_owned_by_another_user(root):
    path = _plant(root, _journal(root))
    os.chown(path, 1000, 1000)
    r = invoke("rollback", "--root", root)
    assert r.exit_code == 3 and "not owned" in r.stderr


# --- 3. lock and state directory --------------------------------------------------------------


def test_a_lock_planted_as_a_symlink_is_refused(root, outside):
    s = state(root)
    s.mkdir(mode=0o700)
    (s / "lock").symlink_to(outside / "victim")
    r = invoke("apply", "server-1M", "--root", root)
    assert r.exit_code == 3 and "lock" in r.stderr
    assert (outside / "victim").read_text() == "precious\n"


def test_a_state_directory_others_can_write_is_refused(root):
    s = state(root)
    s.mkdir()
    os.chmod(s, 0o777)
    r = invoke("apply", "server-1M", "--root", root)
    assert r.exit_code == 3 and "writable by others" in r.stderr
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"


def test_a_state_directory_that_is_a_file_is_one_line_exit_3(root, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("TUNEKIT_STATE_DIR", str(tmp_path / "afile"))
    r = invoke("apply", "server-1M", "--root", root)
    assert r.exit_code == 3 and r.stderr.startswith("tunekit: error:")


# --- 4. every written value is validated ----------------------------------------------------


def _profile(tmp_path: Path, targets: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text('[workload]\nrole = "server"\nconnections = 10\nrate = 0\n' + targets)
    return p


def _target(key, value, op="at_least"):
    return (
        f'[[targets]]\nkey = "{key}"\nop = "{op}"\nvalue = {json.dumps(value)}\n'
        'reason = "r"\nsource = "s"\n'
    )


@pytest.mark.parametrize(
    "targets, message",
    [
        (_target("rlimit.nofile.hard", 5_000_000), "above fs.nr_open"),
        (
            _target("rlimit.nofile.hard", 3000) + _target("rlimit.nofile.soft", 4000),
            "above the hard limit",
        ),
        (_target("net.netfilter.nf_conntrack_buckets", 0), "outside 1.."),
        (_target("net.ipv4.ip_local_port_range", [60000, 2000], "exactly"), "low < high"),
        (_target("net.ipv4.ip_local_port_range", [2000, 70001], "exactly"), "outside"),
    ],
)
def test_values_that_only_reach_files_are_validated_too(root, tmp_path, targets, message):
    (root / "proc/sys/net/ipv4/ip_local_port_range").unlink()  # absent under the root
    before = snapshot(root)
    r = invoke("apply", _profile(tmp_path, targets), "--root", root)
    assert r.exit_code == 2 and message in r.stderr, r.output
    assert snapshot(root) == before


def test_pid_and_unit_make_no_sense_with_a_root(root):
    for flag in (["--pid", "1"], ["--unit", "nginx"]):
        r = invoke("apply", "server-1M", "--root", root, *flag, "--dry-run")
        assert r.exit_code == 2 and "live host" in r.stderr


# --- 7. every apply can be undone, one at a time ------------------------------------------------


def test_four_applies_in_one_second_walk_back_one_at_a_time(root, tmp_path):
    original = snapshot(root)
    steps = [original]
    for conns in ("100", "200", "300", "400"):
        # above 4096, the boot value that apply never writes below
        p = _profile(tmp_path, _target("net.core.somaxconn", int(conns) * 100))
        assert invoke("apply", p, "--root", root).exit_code == 0
        steps.append(snapshot(root))
    for expected in reversed(steps[:-1]):
        r = invoke("rollback", "--root", root)
        assert r.exit_code == 0, r.output
        assert snapshot(root) == expected
    assert "Nothing to undo" in invoke("rollback", "--root", root).stdout


# --- 8. restore is exact: bytes, mode, owner, links ---------------------------------------------


def test_rollback_restores_bytes_mode_owner_and_symlinks(root):
    d = root / "etc/sysctl.d"
    d.mkdir(parents=True)
    (d / "90-tunekit.conf").write_bytes(b"# crlf\r\nnet.core.somaxconn = 1\r\n\xe9t\xe9\r\n")
    os.chmod(d / "90-tunekit.conf", 0o600)
    os.chown(d / "90-tunekit.conf", 1000, 1000)
    lim = root / "etc/security/limits.d"
    lim.mkdir(parents=True)
    (root / "etc/security/real.conf").write_text("# the real one\n")
    (lim / "90-tunekit.conf").symlink_to("/etc/security/real.conf")
    before = snapshot(root)
    assert invoke("apply", "server-1M", "--root", root).exit_code == 0
    assert snapshot(root) != before
    assert (root / "etc/security/real.conf").read_text() == "# the real one\n"  # not followed
    assert invoke("rollback", "--root", root).exit_code == 0
    assert snapshot(root) == before
