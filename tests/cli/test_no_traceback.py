"""One line and the right exit code, never a traceback (issue 17, items 9 and 11-14): closed
and full standard streams, deep profiles, huge numbers, out-of-range constants, malformed
lines in an image, names too long or not UTF-8, a full disk under the lock; and the fuzz
test over `lint --root` on generated trees and profiles with generated nesting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, invoke, require_privileges, run_tunekit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TUNEKIT = [sys.executable, "-m", "tunekit"]


def one_line(r, code: int) -> None:
    """A CliRunner result (or CompletedProcess): the exit code, and one tunekit line."""
    err = r.stderr
    got = r.exit_code if hasattr(r, "exit_code") else r.returncode
    assert got == code, (got, err)
    assert err.startswith("tunekit: error:") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2, err


# --- 12: streams -------------------------------------------------------------------------


def test_closed_stdout_is_one_line_and_exit_2():
    r = subprocess.run(
        [*TUNEKIT, "check", "server-1M"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 2 and "standard output is closed" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_closed_stdin_for_dash_is_one_line_and_exit_2():
    r = subprocess.run(
        [*TUNEKIT, "lint", "-"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=REPO,
        preexec_fn=lambda: os.close(0),
    )
    one_line(r, 2)
    assert "standard input is closed" in r.stderr


@pytest.mark.parametrize("args", [["check", "server-1M"], ["check", "server-1M", "--json"]])
def test_stdout_on_a_full_device_is_one_line_and_exit_3(args):
    with open("/dev/full", "w") as full:
        r = subprocess.run([*TUNEKIT, *args], stdout=full, stderr=subprocess.PIPE, text=True)
    one_line(r, 3)
    assert "No space left on device" in r.stderr


def test_a_pipe_closed_by_its_reader_ends_tunekit_as_it_ends_any_tool():
    r = subprocess.run(
        f"{sys.executable} -m tunekit check server-1M --json | head -c 1 >/dev/null; "
        "echo ${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.stdout.strip() in ("0", "1", "141"), r  # done before the reader left, or SIGPIPE
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


# --- 12: input -----------------------------------------------------------------------------


def test_a_profile_nested_5000_deep_is_one_line(tmp_path, isolated_home):
    deep = tmp_path / "deep.toml"
    deep.write_text("[workload]\nconnections = " + "[" * 5000 + "]" * 5000 + "\n")
    one_line(invoke("check", deep), 2)
    config = isolated_home / ".config/tunekit/profiles"
    config.mkdir(parents=True)
    (config / "deep.toml").write_text(deep.read_text())
    r = invoke("profiles")
    assert r.exit_code == 0 and "deep" in r.stdout and "INVALID" in r.stdout, r.output


def test_a_100000_digit_number_is_a_finding(tmp_path):
    f = tmp_path / "big.conf"
    f.write_text("net.core.somaxconn = " + "9" * 100_000 + "\n")
    r = invoke("lint", f, "--json")
    assert r.exit_code == 1 and '"rule": "number-too-long"' in r.stdout, r.output
    assert len(r.stdout) < 20_000  # the line is shown cut, not echoed


@pytest.mark.parametrize(
    "const, message",
    [
        ("headroom=1e12", "headroom = 1e+12: expected 1 to 10"),
        ("fd_reserve=1e12", "fd_reserve"),
        ("orphan_seconds=1e12", "orphan_seconds"),
        ("skb_payload_bytes=0.5", "skb_payload_bytes = 0.5: expected 512"),
    ],
)
def test_constants_out_of_their_range_are_one_line(const, message, isolated_home):
    for args in (["estimate", "--conns", "1000"], ["check", "server-1M"]):
        r = invoke(*args, "--const", const)
        one_line(r, 2)
        assert message in r.stderr


def test_a_root_path_that_is_not_utf8_or_too_long(tmp_path, isolated_home):
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/r\xff"))
    (odd / "proc/sys/net/core").mkdir(parents=True)
    (odd / "proc/sys/net/core/somaxconn").write_text("128\n")
    for args in (["check", "server-1M", "--json"], ["apply", "server-1M", "--dry-run", "--json"]):
        r = invoke(*args, "--root", odd)
        assert r.exit_code in (0, 1, 5), r.output
        assert "\\udcff" in r.stdout  # JSON escapes what is not UTF-8
    long = tmp_path / ("a" * 300)
    for args in (["check", "--root", long], ["apply", "--dry-run", "--root", long]):
        one_line(invoke(*args), 2)
    one_line(invoke("check", str(long) + ".toml"), 2)
    one_line(invoke("apply", "--dry-run", "--state-dir", long), 3)


def test_enospc_when_the_lock_records_its_pid(tmp_path, isolated_home):
    """The state directory on a full filesystem (a 16 KiB tmpfs in a private mount
    namespace): one line, exit 3, and nothing applied."""
    require_privileges()
    from helpers import MEMINFO, TUNED, sysctl_files, write_tree

    root = write_tree(tmp_path / "root", {**sysctl_files(TUNED), "proc/meminfo": MEMINFO})
    full = tmp_path / "full"
    full.mkdir()
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {full} && mkdir -m 700 {full}/state "
        f"&& mkdir -m 700 {full}/state/journals && touch {full}/state/lock "
        f"&& (cat /dev/zero > {full}/fill 2>/dev/null; true) "
        f"&& {sys.executable} -m tunekit apply server-1M --conns 2M --root {root} "
        f"--state-dir {full}/state"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    one_line(r, 3)
    assert "No space left on device" in r.stderr or "cannot" in r.stderr


# --- 13: types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workload, message",
    [
        ("connections = true", "connections"),
        ('connections = "1000"', "connections"),
        ("connections = 10\nsoft_nofile_everywhere = 1", "soft_nofile_everywhere"),
    ],
)
def test_profile_values_of_the_wrong_type_are_refused(tmp_path, workload, message):
    p = tmp_path / "typed.toml"
    p.write_text(f"[workload]\n{workload}\n")
    r = invoke("check", p)
    one_line(r, 2)
    assert message in r.stderr


def test_a_target_no_kernel_accepts_does_not_load(tmp_path):
    p = tmp_path / "huge.toml"
    p.write_text(
        '[workload]\nconnections = 10\n[[targets]]\nkey = "rlimit.nofile.hard"\n'
        'value = 5000000000\nreason = "r"\nsource = "s"\n'
    )
    r = invoke("check", p)
    one_line(r, 2)
    assert "2147483584" in r.stderr


# --- 11 and 14: lint on an image's configuration ----------------------------------------


@pytest.mark.parametrize(
    "rel, text, rule",
    [
        ("etc/security/limits.conf", "hello\n", "bad-limits-line"),
        ("etc/sysctl.d/10-x.conf", "net..core.x = 1\n", "bad-name"),
        ("etc/sysctl.d/10-x.conf", "= 5\n", "not-assignment"),
    ],
)
def test_a_malformed_line_in_an_image_is_a_finding_not_a_refusal(tmp_path, rel, text, rule):
    root = tmp_path / "root"
    (root / "proc/sys/net/core").mkdir(parents=True)
    (root / "proc/sys/net/core/somaxconn").write_text("4096\n")
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    r = invoke("lint", "--root", root, "--json")
    assert r.exit_code == 1 and f'"rule": "{rule}"' in r.stdout, r.output
    assert invoke("check", "server-1M", "--root", root).exit_code in (0, 1, 5)


def test_an_unopenable_sysctl_d_is_listed_unreadable(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/sysctl.d").symlink_to("loop")
    (root / "etc/loop").symlink_to("sysctl.d")
    r = invoke("lint", "--root", root)
    assert "unreadable: /etc/sysctl.d: Too many levels of symbolic links" in r.stdout, r.output


def test_a_read_only_etc_names_only_what_failed(tmp_path, isolated_home):
    require_privileges()
    from helpers import MEMINFO, TUNED, sysctl_files, write_tree

    lowered = {**TUNED, "net.core.somaxconn": "128"}
    root = write_tree(tmp_path / "root", {**sysctl_files(lowered), "proc/meminfo": MEMINFO})
    (root / "etc").mkdir()
    etc = root / "etc"
    script = (
        f"mount --bind {etc} {etc} && mount -o remount,bind,ro {etc} && "
        f"{sys.executable} -m tunekit apply server-1M --root {root} --state-dir {tmp_path}/s"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    one_line(r, 4)
    assert "read-only file system" in r.stderr and "could not restore" not in r.stderr
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"


# --- the fuzz test: lint --root on generated trees, profiles with generated nesting -------

LINES = st.one_of(
    st.sampled_from(
        [
            "net.core.somaxconn = 4096",
            "net.ipv4.tcp_mem = 1 2 3",
            "fs.nr_open = 3000000000",
            "root hard nofile 2100000",
            "* soft nofile 1M",
            "options nf_conntrack hashsize",
            "[Manager]\nDefaultLimitNOFILE=1048576",
            "net..x = 1",
            "= =",
            "-net.ipv4.x.y = 1",
            "net.core.somaxconn = " + "9" * 5000,
        ]
    ),
    st.text(max_size=40).filter(lambda s: "\r" not in s),
)
FILES = st.sampled_from(
    [
        "etc/sysctl.d/10-a.conf",
        "etc/sysctl.conf",
        "etc/security/limits.conf",
        "etc/security/limits.d/x.conf",
        "etc/modprobe.d/x.conf",
        "etc/systemd/system.conf",
        "etc/modules-load.d/x.conf",
        "proc/sys/net/core/somaxconn",
        "proc/sys/kernel/osrelease",
        "proc/meminfo",
        "proc/modules",
    ]
)


@st.composite
def trees(draw):
    files = {}
    for _ in range(draw(st.integers(0, 8))):
        files[draw(FILES)] = "\n".join(draw(st.lists(LINES, max_size=5)))
    special = draw(st.sampled_from([None, "fifo", "loop", "dir"]))
    return files, special


def nested(depth: int, leaf: str) -> str:
    return "[" * depth + leaf + "]" * depth


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees(), depth=st.integers(0, 3000), field=st.sampled_from(["connections", "rate"]))
def test_fuzz_lint_root_and_nested_profiles(tmp_path_factory, tree, depth, field):
    top = tmp_path_factory.mktemp("fuzz")
    root = top / "root"
    (root / "etc").mkdir(parents=True)
    files, special = tree
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    target = root / "etc/sysctl.d/zz.conf"
    target.parent.mkdir(parents=True, exist_ok=True)
    if special == "fifo":
        os.mkfifo(target)
    elif special == "loop":
        target.symlink_to(target.name)
    elif special == "dir":
        target.mkdir()
    profile = top / "nested.toml"
    profile.write_text(f"[workload]\n{field} = {nested(depth, '1')}\n")
    for args in (
        ["lint", "--root", root],
        ["check", "server-1M", "--root", root],
        ["check", profile],
    ):
        r = invoke(*args)
        assert r.exit_code in (0, 1, 2, 3, 5), (args, files, special, r.output)
        assert "internal error" not in r.stderr, (args, r.stderr)


def test_sigint_is_documented_as_130():
    text = (REPO / "docs/apply.md").read_text() + (REPO / "README.md").read_text()
    assert "130" in text and "interrupted" in text
    assert run_tunekit("--help").returncode == 0
