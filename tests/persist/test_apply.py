"""apply and rollback against a temporary root: files, journal, failures, the lock."""

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, invoke, require_privileges, sysctl_files, write_tree

LOWERED = {
    **TUNED,
    "net.core.somaxconn": "128",
    "fs.nr_open": "1000000",
    "net.ipv4.tcp_mem": "1000 2000 3000",
    "net.ipv4.tcp_max_orphans": "4096",
}


@pytest.fixture
def host_root(tmp_path, isolated_home, monkeypatch):
    """A fake root with server-1M failing on four keys, and an existing sysctl.d tree."""
    monkeypatch.delenv("TUNEKIT_STATE_DIR")
    files = sysctl_files(LOWERED)
    files["proc/meminfo"] = MEMINFO
    files["etc/sysctl.d/99-sysctl.conf"] = "net.core.somaxconn = 1024\n"
    files["etc/security/limits.d/90-tunekit.conf"] = "# an older file, replaced and restored\n"
    return write_tree(tmp_path / "root", files)


def tree(root: Path) -> dict[str, str]:
    """Every file and directory under root (but the state dir) with a hash of its bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel in ("var", "var/lib") or rel.startswith("var/lib/tunekit"):
            continue  # the state directory holds the journal and the lock
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def test_dry_run_changes_nothing_byte_for_byte(host_root):
    before = tree(host_root)
    r = invoke("apply", "server-1M", "--root", str(host_root), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "net.core.somaxconn: 128 -> 10000" in r.stdout and "nothing was changed" in r.stdout
    assert "/etc/security/limits.d/90-tunekit.conf (changed)" in r.stdout
    assert tree(host_root) == before and not (host_root / "var").exists()


def test_dry_run_json_is_the_plan(host_root):
    doc = json.loads(
        invoke("apply", "server-1M", "--root", str(host_root), "--dry-run", "--json").stdout
    )
    assert doc["dry_run"] is True and doc["applied"] is False
    keys = [c["key"] for c in doc["changes"]]
    assert keys[0] == "fs.nr_open" and "net.core.somaxconn" in keys
    assert any("99-sysctl.conf sets net.core.somaxconn = 1024" in c for c in doc["conflicts"])


def test_apply_then_check_passes_then_rollback_restores_the_tree(host_root):
    before = tree(host_root)
    r = invoke("apply", "server-1M", "--root", str(host_root))
    assert r.exit_code == 0, r.output
    assert (host_root / "proc/sys/net/core/somaxconn").read_text().strip() == "10000"
    # 1M x 4 KiB buffered = 2 pages each (skb truesize), x1.25 = min; the kernel's shape
    assert (host_root / "proc/sys/net/ipv4/tcp_mem").read_text().split() == [
        "2500000",
        "3333334",
        "5000000",
    ]
    sysctl_d = (host_root / "etc/sysctl.d/90-tunekit.conf").read_text()
    assert "net.core.somaxconn = 10000" in sysctl_d and "# " in sysctl_d
    assert oct((host_root / "etc/sysctl.d/90-tunekit.conf").stat().st_mode & 0o777) == "0o644"
    assert "root hard nofile" in (host_root / "etc/security/limits.d/90-tunekit.conf").read_text()

    check = invoke("check", "server-1M", "--root", str(host_root), "--json")
    verdicts = {f["key"]: f["verdict"] for f in json.loads(check.stdout)["findings"]}
    assert verdicts["net.core.somaxconn"] == "pass" and verdicts["net.ipv4.tcp_mem"] == "pass"

    again = invoke("apply", "server-1M", "--root", str(host_root))
    assert again.exit_code == 0 and "already complies" in again.stdout

    # With no profile named, the last applied one is used, and said.
    dry = invoke("apply", "--root", str(host_root), "--dry-run")
    assert "last applied" in dry.stdout

    r = invoke("rollback", "--root", str(host_root))
    assert r.exit_code == 0 and "net.core.somaxconn: 10000 -> 128" in r.stdout
    assert tree(host_root) == before
    r = invoke("rollback", "--root", str(host_root))
    assert r.exit_code == 0 and "Nothing to undo" in r.stdout
    doc = json.loads(invoke("rollback", "--root", str(host_root), "--json").stdout)
    assert doc == {
        "rolled_back": False,
        "profile": None,
        "runtime": [],
        "files": [],
        "problems": [],
        "recovered": [],
    }


def test_failure_half_way_restores_and_exits_4(host_root):
    before = tree(host_root)
    # The runtime writes succeed; the limits.d directory cannot be created: a file is there.
    (host_root / "etc/security/limits.d/90-tunekit.conf").unlink()
    (host_root / "etc/security/limits.d").rmdir()
    (host_root / "etc/security/limits.d").write_text("not a directory\n")
    before = tree(host_root)
    r = invoke("apply", "server-1M", "--root", str(host_root))
    assert r.exit_code == 4, r.output
    assert "limits.d" in r.stderr and "restored" in r.stderr
    assert tree(host_root) == before
    assert not list((host_root / "var/lib/tunekit/journals").iterdir())


def test_kernel_refusal_is_named_and_rolled_back(host_root):
    """tcp_max_orphans (a server-1M write) is a real read-only sysctl holding one number
    below its target (cap_last_cap, mode 0444), bind-mounted over the tree's file in a
    private mount namespace: the kernel refuses the write even to root, and everything
    already written is restored."""
    require_privileges()
    target = host_root / "proc/sys/net/ipv4/tcp_max_orphans"
    before = tree(host_root)
    script = (
        f'mount --bind /proc/sys/kernel/cap_last_cap "{target}" && '
        f'exec "{sys.executable}" -m tunekit apply server-1M --root "{host_root}"'
    )
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(host_root.parent / "home")},
    )
    assert r.returncode == 4, r.stdout + r.stderr
    assert "net.ipv4.tcp_max_orphans" in r.stderr and "EACCES" in r.stderr
    assert "restored" in r.stderr
    assert tree(host_root) == before
    assert (host_root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"


def test_invalid_value_exits_2_and_writes_nothing(host_root, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[workload]\nconnections = 10\n[[targets]]\nkey = "net.ipv4.ip_local_port_range"\n'
        'op = "exactly"\nvalue = [2000, 65000]\nreason = "r"\nsource = "s"\n'
    )
    before = tree(host_root)
    r = invoke("apply", str(bad), "--root", str(host_root))
    assert r.exit_code == 2 and "parity" in r.stderr
    assert tree(host_root) == before and not (host_root / "var").exists()


def test_second_apply_waits_then_refuses(host_root, monkeypatch):
    state = host_root / "var/lib/tunekit"
    state.mkdir(parents=True)
    fd = os.open(state / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    monkeypatch.setenv("TUNEKIT_LOCK_WAIT", "0.3")
    try:
        r = invoke("apply", "server-1M", "--root", str(host_root))
    finally:
        os.close(fd)
    assert r.exit_code == 3 and "another tunekit apply" in r.stderr


def test_not_root_on_the_live_host_exits_3(monkeypatch, isolated_home):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = invoke("apply", "server-1M")
    assert r.exit_code == 3 and "run it as root" in r.stderr
    assert invoke("apply", "server-1M", "--dry-run").exit_code == 0


def test_bad_scope_and_unit(isolated_home):
    assert invoke("apply", "--scope", "galaxy", "--dry-run").exit_code == 2
    r = invoke("apply", "--unit", "../evil", "--dry-run")
    assert r.exit_code == 2 and "unit name" in r.stderr


def test_failed_apply_keeps_the_earlier_apply_undoable(host_root, tmp_path):
    assert invoke("apply", "server-1M", "--root", str(host_root)).exit_code == 0
    # A second apply (more connections) fails half-way: limits.d cannot be created.
    (host_root / "etc/security/limits.d/90-tunekit.conf").unlink()
    (host_root / "etc/security/limits.d").rmdir()
    (host_root / "etc/security/limits.d").write_text("not a directory\n")
    r = invoke("apply", "server-1M", "--conns", "2M", "--root", str(host_root))
    assert r.exit_code == 4, r.output
    assert (host_root / "proc/sys/net/core/somaxconn").read_text().strip() == "10000"
    # The first apply is still recorded: rollback undoes it (once the obstacle is gone).
    (host_root / "etc/security/limits.d").unlink()
    (host_root / "etc/security/limits.d").mkdir()
    r = invoke("rollback", "--root", str(host_root))
    assert r.exit_code == 0, r.output
    assert "net.core.somaxconn: 10000 -> 128" in r.stdout
    assert (host_root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"
