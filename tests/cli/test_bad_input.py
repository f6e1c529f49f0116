"""Bad input, hostile files and special files (issue 10, items 9-11): one line on stderr,
exit 2 (bad input) or 3 (environment), never a traceback, never a hang; and a fuzz test
that throws generated profiles, snapshots and options at check, estimate and apply."""

import json
import os
import time
from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, invoke, run_tunekit, sysctl_files, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def one_line(r, code: int) -> None:
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.stderr.startswith("tunekit: error:") and "Traceback" not in r.output


@pytest.fixture
def root(tmp_path, isolated_home):
    files = sysctl_files({**TUNED, "net.core.somaxconn": "128"})
    files["proc/meminfo"] = MEMINFO
    files["etc/hostname"] = "h\n"
    return write_tree(tmp_path / "root", files)


def profile(tmp_path: Path, text: str | bytes, name="p.toml") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


W = "[workload]\nconnections = 10\n"
T = '[[targets]]\nreason = "r"\nsource = "s"\n'


@pytest.mark.parametrize(
    "text, message",
    [
        (b"# caf\xe9\n" + W.encode(), "not UTF-8"),
        (W + "rate =\n", "invalid TOML"),
        (W + T + 'key = "net.ipv4.ip_local_port_range"\nvalue = [2000]\n', "list of 2"),
        (W + T + 'key = "net.ipv4.tcp_rmem"\nvalue = [1, 2]\n', "list of 3"),
        (W + T + 'key = "net.core.somaxconn"\nvalue = ""\n', "numbers, not text"),
        (W + T + 'key = "net.core.somaxconn"\nvalue = true\n', "value"),
        ("workload = 5\n", "workload must be a table"),
        ("targets = 5\n" + W, "targets must be tables"),
        ('targets = ["a"]\n' + W, "targets must be tables"),
        (
            W
            + T
            + 'key = "net.core.somaxconn"\nvalue = 100000\n'
            + T
            + 'key = "net.core.somaxconn"\nop = "at_most"\nvalue = 50\n',
            "two targets",
        ),
    ],
)
def test_bad_profiles(tmp_path, isolated_home, text, message):
    r = invoke("check", profile(tmp_path, text))
    one_line(r, 2)
    assert message in r.stderr


def test_bad_shapes_are_caught_through_extends_too(tmp_path, isolated_home):
    parent = profile(tmp_path, W, "parent.toml")
    r = invoke(
        "check",
        profile(tmp_path, f'extends = "{parent.stem}"\ntargets = 5\n[workload]\nrate = 1\n'),
    )
    one_line(r, 2)  # the child is found by path; its parent by name in the search path
    profile(tmp_path, W, "d0.toml")
    home = Path(os.environ["HOME"]) / ".config/tunekit/profiles"
    home.mkdir(parents=True)
    for i in range(1, 1500):
        (home / f"d{i}.toml").write_text(f'extends = "d{i - 1}"\n')
    (home / "d0.toml").write_text(W)
    r = invoke("check", "d1499")
    one_line(r, 2)
    assert "deep" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["estimate", "--conns", "9" * 400], "not a number"),
        (["estimate", "--conns", "1,,,,0"], "not a number"),
        (["estimate", "--conns", "1000", "--const", "socket_bytes=nan"], "NAME=NUMBER"),
        (["estimate", "--conns", "1000", "--const", "socket_bytes=inf"], "NAME=NUMBER"),
        (["estimate", "--conns", "1000", "--const", "socket_bytes=1e400"], "NAME=NUMBER"),
        (["estimate", "--conns", "1000", "--const", "socket_bytes=1e-310"], "NAME=NUMBER"),
        (["apply", "", "--dry-run"], "empty profile name"),
        (["apply", "--unit", "nginx\n", "--dry-run"], "unit name"),
        (["apply", "--unit", ".", "--dry-run"], "unit name"),
        (["check", "--root", ""], "give the directory of a root filesystem"),
    ],
)
def test_bad_options(isolated_home, args, message):
    r = invoke(*args)
    one_line(r, 2)
    assert message in r.stderr


def test_a_mistyped_root_is_not_a_compliant_host(tmp_path, isolated_home):
    (tmp_path / "empty").mkdir()
    r = invoke("check", "server-1M", "--root", tmp_path / "empty")
    one_line(r, 2)
    assert "not a root filesystem" in r.stderr
    r = invoke("apply", "server-1M", "--root", tmp_path / "empty")
    one_line(r, 2)
    assert list((tmp_path / "empty").iterdir()) == []


def test_lock_wait_from_the_environment_is_validated(root):
    r = invoke("apply", "server-1M", "--root", root, env={"TUNEKIT_LOCK_WAIT": "abc"})
    one_line(r, 2)
    assert "TUNEKIT_LOCK_WAIT" in r.stderr


def test_latin1_in_a_snapshot_and_a_sysctl_d_file_is_read(root, tmp_path):
    snap = tmp_path / "snap.txt"
    snap.write_bytes(b"# r\xe9glages\nnet.core.somaxconn = 4096\n")
    assert invoke("check", "server-1M", "--snapshot", snap).exit_code in (0, 1, 5)
    (root / "etc/sysctl.d").mkdir(parents=True)
    (root / "etc/sysctl.d/10-x.conf").write_bytes(b"# r\xe9seau\nnet.core.somaxconn = 1\n")
    r = invoke("apply", "server-1M", "--root", root, "--dry-run")
    assert r.exit_code == 0, r.output


def test_a_journal_that_is_not_utf8_is_one_line(root):
    j = Path(os.environ["TUNEKIT_STATE_DIR"]) / "journals"
    j.mkdir(parents=True, mode=0o700)
    os.chmod(j.parent, 0o700)
    (j / "000001.applied.toml").write_bytes(b"profile = '\xe9'\n")
    os.chmod(j / "000001.applied.toml", 0o600)
    one_line(invoke("rollback", "--root", root), 2)


def test_snapshot_values_that_do_not_parse_are_invalid_not_absent(tmp_path, isolated_home):
    snap = tmp_path / "snap.txt"
    snap.write_text(
        "net.core.somaxconn = a b c\nfs.file-max = 0x1000\n"
        "net.ipv4.ip_local_reserved_ports = 1-20000000\n"
    )
    start = time.monotonic()
    r = invoke("check", "server-1M", "--snapshot", snap, "--json")
    assert time.monotonic() - start < 5  # the port range is never expanded

    found = {f["key"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["net.core.somaxconn"]["verdict"] == "unreadable"
    assert "invalid value" in found["net.core.somaxconn"]["actual"]
    assert "invalid value" in found["fs.file-max"]["actual"]


def test_a_drop_in_path_that_is_a_directory_fails_cleanly(root):
    (root / "etc/sysctl.d/90-tunekit.conf").mkdir(parents=True)
    r = invoke("apply", "server-1M", "--root", root)
    one_line(r, 4)
    assert (root / "proc/sys/net/core/somaxconn").read_text().strip() == "128"


# --- special files: no hang ------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["proc/sys/net/core/somaxconn", "etc/sysctl.d/10-fifo.conf", "etc/sysctl.d/90-tunekit.conf"],
)
def test_a_fifo_never_hangs(tmp_path, where):
    files = sysctl_files({**TUNED, "net.core.somaxconn": "128"})
    files["proc/meminfo"] = MEMINFO
    root = write_tree(tmp_path / "root", files)
    fifo = root / where
    fifo.parent.mkdir(parents=True, exist_ok=True)
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    env = {**os.environ, "TUNEKIT_STATE_DIR": str(tmp_path / "state")}
    for args in (
        ["check", "server-1M", "--root", str(root)],
        ["apply", "server-1M", "--root", str(root)],
    ):
        r = run_tunekit(*args, timeout=30, env=env)  # a hang would raise TimeoutExpired
        assert r.returncode in (0, 1, 2, 3, 4, 5) and "Traceback" not in r.stderr, r.stderr


def test_a_fifo_as_snapshot_or_profile_never_hangs(tmp_path):
    os.mkfifo(tmp_path / "snap")
    os.mkfifo(tmp_path / "p.toml")
    for args in (
        ["check", "server-1M", "--snapshot", str(tmp_path / "snap")],
        ["check", str(tmp_path / "p.toml")],
    ):
        r = run_tunekit(*args, timeout=30)
        assert r.returncode == 2 and r.stderr.startswith("tunekit: error:"), r.stderr


def test_typer_usage_errors_are_one_tunekit_line():
    for args in (["check", "--bogus"], ["estimate"], ["probe", "--conns", "1", "--rate", "x"]):
        r = run_tunekit(*args, timeout=30)
        assert r.returncode == 2 and r.stderr.startswith("tunekit: error:"), r.stderr
        assert len(r.stderr.splitlines()) <= 2 and "Usage:" not in r.stderr


# --- fuzz ------------------------------------------------------------------------------------

KEYS = [
    "net.core.somaxconn",
    "net.ipv4.tcp_mem",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "fs.nr_open",
    "rlimit.nofile.hard",
    "rlimit.nofile.soft",
    "net.netfilter.nf_conntrack_buckets",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_congestion_control",
    "net/../x",
    "kernel.osrelease",
    "a",
    "",
]
SCALARS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.text(max_size=12),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.integers(-10, 2**40), max_size=4),
)


def _toml_value(v) -> str:

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan"
            if v != v
            else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
        )
    return json.dumps(v)


@st.composite
def profiles(draw):
    lines = ["[workload]"]
    for field in draw(
        st.lists(
            st.sampled_from(
                [
                    "role",
                    "connections",
                    "rate",
                    "destinations",
                    "bytes_buffered",
                    "closes",
                    "processes",
                    "listen_backlog",
                    "soft_nofile_everywhere",
                    "bogus",
                ]
            ),
            max_size=5,
            unique=True,
        )
    ):
        lines.append(f"{field} = {_toml_value(draw(SCALARS))}")
    if draw(st.booleans()):
        lines.append("connections = " + str(draw(st.integers(1, 3_000_000))))
    for _ in range(draw(st.integers(0, 3))):
        lines += [
            "[[targets]]",
            f"key = {_toml_value(draw(st.sampled_from(KEYS)))}",
            f"op = {_toml_value(draw(st.sampled_from(['at_least', 'at_most', 'exactly', 'range', 'x'])))}",
            f"value = {_toml_value(draw(SCALARS))}",
            'reason = "r"',
            'source = "s"',
        ]
        if draw(st.booleans()):
            lines.append(f"index = {draw(st.integers(-1, 3))}")
    return "\n".join(lines) + "\n"


@st.composite
def snapshots(draw):
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(KEYS[:-3] + ["kernel.osrelease", "x.y"]))
        value = draw(
            st.one_of(
                st.text(max_size=20).filter(lambda s: "\n" not in s and "\r" not in s),
                st.integers(-(2**40), 2**70).map(str),
            )
        )
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=profiles(),
    snap=snapshots(),
    conns=st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 10**9).map(str)),
)
def test_fuzz_no_traceback_and_a_known_exit_code(tmp_path, isolated_home, text, snap, conns):
    p = tmp_path / "fuzz.toml"
    p.write_text(text)
    s = tmp_path / "snap.txt"
    s.write_text(snap)
    extra = [] if conns is None else ["--conns", conns]
    for args in (
        ["check", str(p), "--snapshot", str(s), *extra],
        ["estimate", "--conns", conns or "1000", "--snapshot", str(s)],
        ["apply", str(p), "--dry-run", *extra],
    ):
        r = invoke(*args)
        assert r.exception is None or isinstance(r.exception, SystemExit), (
            args,
            text,
            snap,
            repr(r.exception),
        )
        assert r.exit_code in (0, 1, 2, 3, 5), (args, r.output)


def test_a_fifo_planted_as_a_journal_does_not_hang_check(tmp_path):
    """check with no profile reads the last applied journal's profile: only a regular file,
    and refused as rollback refuses it (issue 17, item 4: one set of checks for every
    reader of a journal): one line, no hang, and on stdout only the error document."""
    journals = tmp_path / "state/journals"
    journals.mkdir(parents=True, mode=0o700)
    (tmp_path / "state").chmod(0o700)
    os.mkfifo(journals / "000001.applied.toml", 0o600)
    env = {**os.environ, "TUNEKIT_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path)}
    r = run_tunekit("check", "--json", timeout=30, env=env)  # a hang raises TimeoutExpired
    assert r.returncode == 2 and "not a regular file" in json.loads(r.stdout)["error"], r.stderr
    assert r.stderr.startswith("tunekit: error:") and "not a regular file" in r.stderr
    with_profile = run_tunekit("check", "server-1M", "--json", timeout=30, env=env)
    assert with_profile.returncode in (0, 1, 5), with_profile.stderr  # a named profile: no journal
