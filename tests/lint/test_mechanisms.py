"""lint's mechanisms, held against the kernel and the tools that apply the files: what a
line does is decided by what the kernel and the applier do with it (measured here in a
throw-away namespace), and each family of keys is judged by one rule reading the
catalogue, not by a rule per line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_privileges, require_tool
from lint_reference import reference_host, run

from tunekit.host import confparse, confscript, shwords
from tunekit.knowledge import catalogue as K
from tunekit.knowledge import defaults as D
from tunekit.lint import engine as lint
from tunekit.lint.host import Host as LintHost
from tunekit.lint.report import DEFAULT_FAIL_ON


def fired(text: str, fmt: str = "sysctl.conf", **host) -> dict[str, str]:
    """rule -> verdict of every finding on the text."""
    return {f.rule: f.verdict for f in run(text, fmt, reference_host(**host)).findings}


# --- inline comments: per key type, as procps and systemd-sysctl apply them ---------------

# (line, what `sysctl -p` does with it on 6.18 with procps 4.0.2: applied value or None)
INLINE = [
    ("net.core.somaxconn = 1234 # inline", "1234"),
    ("net.core.somaxconn = 2345#x", None),
    ("net.ipv4.tcp_fin_timeout = 31\t# x", "31"),
    ("net.ipv4.tcp_rmem = 4096 87380 6291456 # x", "4096 87380 6291456"),
    ("net.ipv4.tcp_rmem = 4096 87381 # x", None),  # two numbers, then the comment: EINVAL
    ("net.ipv4.ip_local_port_range = 2000 65001 # x", "2000 65001"),
    ("net.ipv4.tcp_congestion_control = cubic # x", None),  # a string key: ENOENT
]


@pytest.mark.parametrize("line, applied", INLINE)
def test_an_inline_comment_is_judged_as_the_kernel_takes_it(line, applied):
    rules = fired(line)
    if applied is None:
        assert rules.get("inline-comment") == "syntax", rules
    else:
        assert rules.get("inline-comment-ignored") == "risky", rules
        assert "inline-comment" not in rules


@pytest.mark.parametrize("line, applied", INLINE)
def test_procps_does_with_the_line_what_lint_says(tmp_path, line, applied):
    """The claim checked on the kernel: inside `unshare -n`, `sysctl -p` applies the
    numbers before the comment and exits 0, or fails."""
    require_privileges()
    require_tool("sysctl")
    conf = tmp_path / "x.conf"
    conf.write_text(line + "\n")
    key = line.split("=")[0].strip()
    path = "/proc/sys/" + key.replace(".", "/")
    r = subprocess.run(
        ["unshare", "-n", "sh", "-c", f'sysctl -p "{conf}" >/dev/null 2>&1; echo $?; cat {path}'],
        capture_output=True,
        text=True,
    )
    rc, _, value = r.stdout.partition("\n")
    if applied is None:
        assert rc.strip() != "0", r.stdout
    else:
        assert rc.strip() == "0" and value.split() == applied.split(), r.stdout


# more numbers than the key takes: the kernel takes its count and drops the rest
EXTRA = [
    ("net.core.somaxconn = 1234 5678", "1234"),
    ("net.ipv4.ip_local_port_range = 20000 40000 50000", "20000 40000"),
    ("net.ipv4.tcp_rmem = 4096 87380 6291456 8388608", "4096 87380 6291456"),
    ("net.ipv4.tcp_sack = 1 junk", "1"),  # words after the number: dropped the same way
]


def test_a_line_the_kernel_refuses_overrides_nothing():
    report = run("net.ipv4.tcp_sack = 1\nnet.ipv4.tcp_sack = 1junk\n")
    assert [(f.line, f.rule) for f in report.findings] == [
        (1, "sets-what-is-there"),  # 1 is the default; line 2 does not override it
        (2, "not-a-number"),
    ]


@pytest.mark.parametrize("line, applied", EXTRA)
def test_extra_numbers_are_dropped_by_the_kernel_as_lint_says(tmp_path, line, applied):
    """Inside `unshare -n`: `sysctl -p` and systemd-sysctl apply the numbers the key
    takes and exit 0; lint names the line and judges what applies."""
    findings = run(line).findings
    named = [f for f in findings if f.rule == "extra-values-dropped"]
    assert len(named) == 1 and named[0].why.startswith(f"applies {applied}:"), findings
    require_privileges()
    require_tool("sysctl")
    conf = tmp_path / "x.conf"
    conf.write_text(line + "\n")
    path = "/proc/sys/" + line.split("=")[0].strip().replace(".", "/")
    for applier in (f'sysctl -p "{conf}"', f'/lib/systemd/systemd-sysctl "{conf}"'):
        if applier.startswith("/") and not Path("/lib/systemd/systemd-sysctl").exists():
            continue  # procps is the applier every host has
        r = subprocess.run(
            ["unshare", "-n", "sh", "-c", f"{applier} >/dev/null 2>&1; echo $?; cat {path}"],
            capture_output=True,
            text=True,
        )
        rc, _, value = r.stdout.partition("\n")
        assert rc.strip() == "0" and value.split() == applied.split(), (applier, r.stdout)


def test_the_value_the_kernel_takes_is_linted_for_what_it_is():
    # the comment is ignored by the kernel, so the 0 takes effect: and it is harmful
    rules = fired("net.ipv4.tcp_sack = 0 # off for speed")
    assert rules.get("feature-off") == "harmful" and "inline-comment-ignored" in rules


# --- script forms, as the shell runs them ---------------------------------------------------

SCRIPT = "\n".join(
    [
        "#!/bin/sh",
        "echo 1 | sudo tee /proc/sys/net/ipv4/tcp_tw_reuse",  # 2
        "echo 65535 >/proc/sys/net/core/somaxconn",  # 3
        "sysctl -w /proc/sys/net/core/somaxconn=1024",  # 4
        "echo 'net.ipv4.tcp_sack = 0' >> /etc/sysctl.conf",  # 5
        "echo 1> /proc/sys/net/ipv4/tcp_timestamps",  # 6
        "cat >> /etc/sysctl.d/90-x.conf << EOF",  # 7
        "net.ipv4.tcp_window_scaling = 0",  # 8
        "EOF",  # 9
        "echo >> /etc/security/limits.conf <<EOF",  # 10
        "* hard nofile 1000000",  # 11
        "EOF",  # 12
        "sysctl -w net.ipv4.tcp_fin_timeout=2 2>/dev/null || true",  # 13
    ]
)


def test_the_forms_scripts_use_are_read_as_the_shell_runs_them():
    report = run(SCRIPT, "script")
    got = {(f.line, f.rule) for f in report.findings}
    assert (2, "sets-what-is-there") not in got  # tw_reuse 1 is not the default (2)
    assert (3, "lowers-a-limit") not in got and (3, "absent") not in got
    assert (4, "sysctl-path") in got and (4, "lowers-a-limit") in got  # what was meant, too
    assert (5, "feature-off") in got  # echoed into sysctl.conf: it applies at boot
    assert (6, "echo-fd-redirect") in got
    assert (8, "feature-off") in got  # cat copies the here-document into the file
    assert (11, "heredoc-not-written") in got  # echo does not
    assert (13, "fin-timeout-low") in got and not [
        f for f in report.findings if f.line == 13 and f.verdict == "syntax"
    ]


def test_a_script_with_a_here_document_is_a_script_not_a_sysctl_file():
    text = "cat > /etc/sysctl.d/x.conf <<'EOF'\n" + "net.core.somaxconn = 4096\n" * 20 + "EOF\n"
    assert confparse.detect(text) == "script"


def settings(text: str) -> list[tuple[int, str, str]]:
    return [(s.line, s.key, s.value) for s in confparse.parse(text, "f", "script").settings]


def test_variables_arrays_loops_and_functions_are_followed_to_what_they_write():
    text = "\n".join(
        [
            "#!/bin/bash",  # 1
            "P=/proc/sys/net/ipv4",  # 2
            "echo 30 > $P/tcp_fin_timeout",  # 3
            "echo 40 > ${P}/tcp_keepalive_probes",  # 4
            "echo 5 > '$P/tcp_syn_retries'",  # 5: single quotes: not expanded, not a key
            "add() {",  # 6
            '    local file="$1"',  # 7
            '    echo "$2" | sudo tee -a "$file"',  # 8
            "}",  # 9
            'add /etc/sysctl.conf "fs.file-max = 51200"',  # 10
            "settings=(",  # 11
            '    "net.core.somaxconn = 4096" # a comment',  # 12
            '    "net.ipv4.tcp_mem = 25600 51200 102400"',  # 13
            ")",  # 14
            'for s in "${settings[@]}"; do',  # 15
            '    echo "$s" >> /etc/sysctl.conf',  # 16
            "done",  # 17
            "for k in tcp_sack tcp_dsack",  # 18
            "do",  # 19
            "    echo 1 > $P/$k",  # 20
            "done",  # 21
        ]
    )
    assert settings(text) == [
        (3, "net.ipv4.tcp_fin_timeout", "30"),
        (4, "net.ipv4.tcp_keepalive_probes", "40"),
        (10, "fs.file-max", "51200"),  # on the call: the text came from there
        (12, "net.core.somaxconn", "4096"),  # on the array element that holds it
        (13, "net.ipv4.tcp_mem", "25600 51200 102400"),
        (18, "net.ipv4.tcp_sack", "1"),
        (18, "net.ipv4.tcp_dsack", "1"),
    ]


def read_cut(text: str) -> tuple[list, list[str]]:
    parsed = confparse.parse(text, "f", "script")
    return [(s.line, s.key, s.value) for s in parsed.settings], parsed.unread


def test_a_script_that_would_run_forever_is_read_in_bounded_steps_and_says_where_it_stopped():
    """Each of these ran for minutes, or stopped reading in silence and said CLEAN
    (an independent attack): now each ends within MAX_STEPS and lint says INCOMPLETE."""
    words = " ".join(["x"] * 1000)
    loops = "\n".join(f"for v{d} in {words}; do" for d in range(4))
    cases = {
        "recursion": "f() {\n  f\n  f\n}\nf\n",
        "nested loops": loops + "\necho $v0$v1$v2$v3 > /proc/sys/a/b\n" + "done\n" * 4,
        "doubling": 'X="ab"\n' + 'X="$X$X"\n' * 40,
        "many lines": ":\n" * (confscript.MAX_STEPS + 1),
        "open quote": ('echo "\n' + ("y" * 400 + "\n") * 199) * 10,
    }
    for name, text in cases.items():
        found, unread = read_cut(text + "sysctl -w vm.swappiness=100\n")
        assert len(found) <= confscript.MAX_STEPS, name
        assert unread and "not checked" in unread[0], (name, unread)
    report = lint.lint([("f", cases["many lines"] + "sysctl -w vm.swappiness=1\n", "script")],
                       reference_host())  # fmt: skip
    assert report.verdict == "incomplete" and report.unreadable, report.unreadable


def test_the_shell_forms_an_attack_found_misread():
    text = "\n".join(
        [
            "sysctl -w \\",  # 1: continued on the next line, as bash joins them
            "  net.core.somaxconn=4096",  # 2
            'setk() { sysctl -w "$@"; }',  # 3: a function on one line, "$@"
            "setk net.ipv4.tcp_fin_timeout=30",  # 4
            'sysctl() { command sysctl -w "$@"; }',  # 5: a wrapper: command skips it
            "sysctl net.ipv4.tcp_syn_retries=5",  # 6
            "sysctl -w vm.swappiness=$1",  # 7: the script's argument: unknown, not a value
            "for i in 1 2 3; do",  # 8
            "  sysctl -w net.core.netdev_max_backlog=5000",  # 9: does not use $i: once, here
            "done",  # 10
        ]
    )
    assert settings(text) == [
        (1, "net.core.somaxconn", "4096"),
        (4, "net.ipv4.tcp_fin_timeout", "30"),
        (6, "net.ipv4.tcp_syn_retries", "5"),
        (9, "net.core.netdev_max_backlog", "5000"),
    ]
    report = run(text, "script")
    assert not [f for f in report.findings if f.verdict == "syntax"], report.findings


def test_a_script_a_script_puts_in_place_is_read_for_what_it_does_when_run():
    """A router's start script written by a here-document, a line appended to rc.local:
    what they set is what the written script sets when it runs (at boot)."""
    text = "\n".join(
        [
            "#!/bin/sh",  # 1
            'S="/etc/storage/start_script.sh"',  # 2
            'cat > "$S" <<EOF',  # 3
            "#!/bin/sh",  # 4
            "echo 0 > /proc/sys/net/ipv4/tcp_sack",  # 5
            "EOF",  # 6
            "echo 'sysctl -w net.ipv4.tcp_timestamps=0' >> /etc/rc.local",  # 7
            "cat > /usr/share/doc/notes.txt <<EOF",  # 8: no script, nothing runs it
            "echo 0 > /proc/sys/net/ipv4/tcp_dsack",  # 9
            "EOF",  # 10
        ]
    )
    assert settings(text) == [
        (5, "net.ipv4.tcp_sack", "0"),
        (7, "net.ipv4.tcp_timestamps", "0"),
    ]


def test_scripts_written_by_scripts_are_read_eight_deep_and_then_said_to_be_unread():
    lines = ["#!/bin/sh"] + [f"cat > /etc/s{k}.sh <<E{k}" for k in range(40)]
    lines += ["echo 0 > /proc/sys/net/ipv4/tcp_sack"] + [f"E{k}" for k in reversed(range(40))]
    parsed = confparse.parse("\n".join(lines), "nest.sh", "script")
    assert parsed.settings == []
    assert any("8 deep" in u for u in parsed.unread), parsed.unread


def test_an_apostrophe_inside_double_quotes_opens_no_single_quotes(tmp_path):
    """`"echo '$SW' > F"`: the shell expands $SW inside the double quotes (the apostrophes
    are characters there), and `"can't"` quotes nothing: what bash writes is what lint
    reads (review 13, a false SYNTAX)."""
    out = tmp_path / "out"
    lines = [
        "SW=10 N=65535",
        "sh -c \"echo '$SW' > {F}\"",
        'echo "can\'t" > /dev/null; echo $N > {F}2; echo "won\'t" > /dev/null',
    ]
    subprocess.run(["bash", "-c", "\n".join(lines).format(F=out)], check=True)
    assert out.read_text().split() == ["10"] and (tmp_path / "out2").read_text().split() == [
        "65535"
    ]
    text = (
        "\n".join(lines)
        .format(F="/proc/sys/vm/swappiness")
        .replace("/proc/sys/vm/swappiness2", "/proc/sys/net/core/somaxconn")
    )
    assert settings(text) == [(2, "vm.swappiness", "10"), (3, "net.core.somaxconn", "65535")]


def test_a_multiplexer_named_by_its_path_runs_its_applet():
    """Android scripts call busybox by path, often through a variable: `$B echo` is echo.
    An assignment whose value is such a path stays an assignment."""
    text = "\n".join(
        [
            "B=/system/engine/bin/busybox",  # 1
            "$B sysctl -e -w net.ipv4.tcp_sack=0",  # 2
            "$B echo 0 > /proc/sys/net/ipv4/tcp_timestamps",  # 3
            "/usr/bin/sudo /usr/bin/env X=1 sysctl -w net.ipv4.tcp_dsack=0",  # 4
            "env -u LANG sysctl -w net.ipv4.tcp_fack=0",  # 5: -u takes a name
        ]
    )
    assert settings(text) == [
        (2, "net.ipv4.tcp_sack", "0"),
        (3, "net.ipv4.tcp_timestamps", "0"),
        (4, "net.ipv4.tcp_dsack", "0"),
        (5, "net.ipv4.tcp_fack", "0"),
    ]


def test_a_loop_on_one_line_ends_on_that_line():
    text = (
        "for k in tcp_sack tcp_dsack; do echo 1 > /proc/sys/net/ipv4/$k; done\n"
        "sysctl -w net.core.somaxconn=4096\n"
    )
    assert settings(text) == [
        (1, "net.ipv4.tcp_sack", "1"),
        (1, "net.ipv4.tcp_dsack", "1"),
        (2, "net.core.somaxconn", "4096"),  # not swallowed as the loop's body
    ]


def test_a_function_never_called_is_read_once_on_its_own_lines():
    """An init script's start() is called through `case "$1"`, which is not followed."""
    text = "start() {\n\techo 0 > /proc/sys/net/ipv4/tcp_timestamps\n}\nstop() { :\n}\n"
    assert settings(text) == [(2, "net.ipv4.tcp_timestamps", "0")]


NEVER_CALLED = (
    "tune() {\n  echo 30 > /proc/sys/net/ipv4/tcp_fin_timeout\n}\nmain() {\n  echo tuned\n}\nmain\n"
)


def test_a_function_nothing_calls_is_dead():
    got = fired(NEVER_CALLED, "script")
    assert got == {"never-called": "dead"}, got


@pytest.mark.parametrize(
    "caller",
    [
        "tune",
        'case "$1" in up) tune ;; esac',  # an init script's dispatch
        "trap tune EXIT",
        "main() {\n  tune\n}\nmain",  # through a function that runs
        '"$@"',  # by an expanded name: any function may run
        '[ -n "$1" ] && $1',
        'eval "$step"',
    ],
)
def test_a_function_the_script_may_call_is_read(caller):
    got = fired(NEVER_CALLED + caller + "\n", "script")
    assert "never-called" not in got, got


def test_a_library_of_functions_is_read_as_called():
    """A file that only defines functions (and variables) is sourced by its callers."""
    got = fired("P=/proc/sys/net/ipv4\ntune() {\n  echo 0 > $P/tcp_sack\n}\n", "script")
    assert got.get("feature-off") == "harmful", got


def test_the_shell_never_runs_an_uncalled_function():
    """The claim on the kernel: bash runs the script in a fresh namespace and the key keeps
    its namespace default (60)."""
    require_privileges()
    r = subprocess.run(
        ["unshare", "-n", "bash", "-c", NEVER_CALLED + "cat /proc/sys/net/ipv4/tcp_fin_timeout"],
        capture_output=True,
        text=True,
    )
    assert r.stdout.split()[-1] == "60", r.stdout + r.stderr


@pytest.mark.parametrize(
    "load, read",
    [
        ("sysctl --quiet --load sysctl.conf", True),
        ("sysctl --load=sysctl.conf", True),
        ("sysctl -p sysctl.conf", True),
        ("sysctl -q -p sysctl.conf && rm -f sysctl.conf", True),
        ("sysctl -p other.conf", False),  # not the file the here-document wrote
    ],
)
def test_a_scratch_file_loaded_by_sysctl_applies(load, read):
    text = "cat > sysctl.conf <<EOF\nnet.ipv4.tcp_sack = 0\nEOF\n" + load + "\n"
    got = {(s.line, s.key) for s in confscript.script(text, "x.sh").settings if s.kind == "sysctl"}
    assert got == ({(2, "net.ipv4.tcp_sack")} if read else set()), got


@pytest.mark.parametrize(
    "shell, read",
    [
        ("sudo bash <<EOF", True),  # no arguments: the script comes from stdin
        ("bash -s -- x <<'EOF'", True),  # -s: from stdin, with $1 = x
        ("sh -e <<EOF", True),
        ("bash run.sh <<EOF", False),  # data for run.sh, which lint cannot see
        ("bash -c 'cat > /dev/null' <<EOF", False),  # stdin of the -c script
    ],
)
def test_a_here_document_given_to_a_shell_is_its_script(shell, read):
    text = shell + "\nsysctl -w net.ipv4.tcp_sack=0\nEOF\n"
    got = {(s.line, s.key) for s in confscript.script(text, "x.sh").settings}
    assert got == ({(2, "net.ipv4.tcp_sack")} if read else set()), got


def test_bash_runs_a_here_document_it_is_given_as_its_script():
    """The claim on the kernel: in a fresh namespace, `bash <<EOF` runs the lines."""
    require_privileges()
    script = (
        "bash <<EOF\necho 0 > /proc/sys/net/ipv4/tcp_sack\nEOF\ncat /proc/sys/net/ipv4/tcp_sack"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert r.stdout.split()[-1] == "0", r.stdout + r.stderr


@pytest.mark.parametrize(
    "opening",
    [
        ["tee -a {F} \\", "  > /dev/null <<EOF"],  # the operator on the joined line
        ["cat <<EOF \\", "  >> {F}"],  # the body starts after the joined command
        ["cat \\", "  \\", "  >> {F} <<'EOF'"],
    ],
)
def test_a_here_document_opened_on_a_joined_line_is_read_where_bash_reads_it(opening, tmp_path):
    """The body starts after the last line of a backslash-joined command: what bash
    writes into the file is what lint reads, line for line."""
    target = tmp_path / "sysctl.conf"
    body = ["net.ipv4.tcp_sack = 0", "net.ipv4.tcp_timestamps = 0"]

    def script(path: object) -> str:
        return "\n".join(["#!/bin/bash", *(o.format(F=path) for o in opening), *body, "EOF", ""])

    subprocess.run(["bash", "-c", script(target)], check=True, capture_output=True)
    assert target.read_text().splitlines() == body
    linted = script("/etc/sysctl.conf")
    got = [(s.line, s.key, s.value) for s in confscript.script(linted, "x.sh").settings]
    first = 2 + len(opening)
    assert got == [
        (first, "net.ipv4.tcp_sack", "0"),
        (first + 1, "net.ipv4.tcp_timestamps", "0"),
    ], got


def test_a_here_document_goes_to_its_own_command_and_a_comment_holds_none(tmp_path):
    """`cat > F <<EOF && CMD`: the body is cat's input, CMD runs as itself; a `<<EOF` in a
    comment (on its own line or a joined one) opens nothing. Held against bash."""
    f = tmp_path / "f"
    text = "\n".join(
        [
            "cat > {F} <<EOF && echo net.ipv4.tcp_dsack = 0 >> {F}",  # 1
            "net.ipv4.tcp_sack = 0",  # 2
            "EOF",  # 3
            "echo x > /dev/null # see <<END",  # 4
            "echo net.ipv4.tcp_fack = 0 >> {F}",  # 5: runs, no here-document open
            "true \\",  # 6
            "  # a comment <<END",  # 7: the comment ends the joined command
            "echo net.ipv4.tcp_ecn = 0 >> {F}",  # 8
        ]
    )
    subprocess.run(["bash", "-c", text.format(F=f)], check=True)
    assert f.read_text().splitlines() == [
        "net.ipv4.tcp_sack = 0",
        "net.ipv4.tcp_dsack = 0",
        "net.ipv4.tcp_fack = 0",
        "net.ipv4.tcp_ecn = 0",
    ]
    got = [
        (s.line, s.key)
        for s in confscript.script(text.format(F="/etc/sysctl.conf"), "x.sh").settings
    ]
    assert sorted(got) == [
        (1, "net.ipv4.tcp_dsack"),
        (2, "net.ipv4.tcp_sack"),
        (5, "net.ipv4.tcp_fack"),
        (8, "net.ipv4.tcp_ecn"),
    ], got


def test_an_unquoted_here_document_joins_a_backslash_newline_as_bash_does(tmp_path):
    f = tmp_path / "f"
    for word, lines in (
        ("EOF", ["net.ipv4.tcp_rmem = 4096 87380 6291456"]),
        ("'EOF'", ["net.ipv4.tcp_rmem = 4096 \\", "87380 6291456"]),
    ):
        text = f"cat > {{F}} <<{word}\nnet.ipv4.tcp_rmem = 4096 \\\n87380 6291456\nEOF\n"
        subprocess.run(["bash", "-c", text.format(F=f)], check=True)
        assert f.read_text().splitlines() == lines
        parsed = confscript.script(text.format(F="/etc/sysctl.d/a.conf"), "x.sh")
        if word == "EOF":
            assert [(s.line, s.value) for s in parsed.settings] == [(2, "4096 87380 6291456")]
        else:  # quoted: the backslash stays, and the line is what the file gets
            assert [s.value for s in parsed.settings] != ["4096 87380 6291456"]


def test_a_here_document_moved_into_place_and_a_string_over_lines_are_read():
    text = "\n".join(
        [
            "cat > sysctl.conf <<END",  # 1
            "net.ipv4.tcp_sack = 1",  # 2
            "END",  # 3
            "cat > notes.txt <<END",  # 4: never put in place
            "net.ipv4.tcp_sack = 0",  # 5
            "END",  # 6
            "sudo mv sysctl.conf /etc/sysctl.conf",  # 7
            'echo "',  # 8
            "oracle soft nofile 1024",  # 9
            "oracle hard nofile 65536",  # 10
            '" | tee -a /etc/security/limits.conf',  # 11
        ]
    )
    assert settings(text) == [
        (2, "net.ipv4.tcp_sack", "1"),
        (9, "nofile", "1024"),
        (10, "nofile", "65536"),
    ]
    # a file of such lines is a script, not the sysctl.conf its strings look like
    assert confparse.detect(text.split("\n", 7)[7]) == "script"


def test_a_shell_started_with_a_script_string_runs_that_string():
    """`sudo bash -c 'cat > F <<EOF ... EOF'` (the here-document is inside the string, so
    the outer script must not take it) and `su -c "..."`: the string is read as a script,
    each line at its own line of the file."""
    text = "\n".join(
        [
            "sudo bash -c 'cat > /etc/sysctl.d/21-x.conf <<EOF",  # 1
            "net.core.somaxconn = 8192",  # 2
            "EOF'",  # 3
            'su -c "sysctl -w net.ipv4.tcp_fin_timeout=20"',  # 4
            "sh -c 'echo 2000000 > /proc/sys/fs/file-max'",  # 5
            "echo 'the <<EOF of a quoted word is no here-document'",  # 6
            "sysctl -w net.ipv4.tcp_sack=1",  # 7: read, not swallowed by line 6
        ]
    )
    assert settings(text) == [
        (2, "net.core.somaxconn", "8192"),
        (4, "net.ipv4.tcp_fin_timeout", "20"),
        (5, "fs.file-max", "2000000"),
        (7, "net.ipv4.tcp_sack", "1"),
    ]


def test_operators_end_a_command_where_the_shell_ends_it():
    """`;` `&&` `||` `|` `&` glued to a word still end the command (shlex alone would keep
    `tcp_sack;` as the file's name); quoted they are text; busybox runs its applet."""
    text = "\n".join(
        [
            'echo "0" > /proc/sys/net/ipv4/tcp_timestamps;',  # 1
            "busybox sysctl -w net.core.somaxconn=1000;",  # 2
            "echo 1 >/proc/sys/net/ipv4/tcp_sack&&echo 2 >/proc/sys/net/ipv4/tcp_ecn",  # 3
            "echo 'a;b' > /dev/null; sysctl -w net.ipv4.tcp_fin_timeout=20 2>&1 &",  # 4
            "echo 3|tee /proc/sys/net/ipv4/tcp_retries1",  # 5
        ]
    )
    assert settings(text) == [
        (1, "net.ipv4.tcp_timestamps", "0"),
        (2, "net.core.somaxconn", "1000"),
        (3, "net.ipv4.tcp_sack", "1"),
        (3, "net.ipv4.tcp_ecn", "2"),
        (4, "net.ipv4.tcp_fin_timeout", "20"),
        (5, "net.ipv4.tcp_retries1", "3"),
    ]


def test_a_here_document_piped_into_sysctl_p_dash_is_applied():
    """`cat <<EOF | sysctl -p -` and `sysctl -p - <<EOF` load the lines from stdin; a bare
    `sysctl -p <<EOF` reads /etc/sysctl.conf and ignores its input."""
    text = "\n".join(
        [
            "cat <<EOF | sysctl -p -",  # 1
            "net.ipv4.tcp_timestamps = 0",  # 2
            "EOF",  # 3
            "sysctl -p /dev/stdin <<END",  # 4
            "net.ipv4.tcp_fin_timeout = 4",  # 5
            "END",  # 6
            "sysctl -p <<END",  # 7
            "net.ipv4.tcp_sack = 0",  # 8: never read by sysctl
            "END",  # 9
        ]
    )
    got = [(n, k, v) for n, k, v in settings(text) if k != "sysctl -p"]
    assert got == [(2, "net.ipv4.tcp_timestamps", "0"), (5, "net.ipv4.tcp_fin_timeout", "4")]


def test_what_runs_a_shell_and_what_a_shell_inherits():
    """sudo -u, env, timeout and bash -ec run the string; `bash FILE -c x` does not (-c is
    the script's argument); the new shell sees exported variables only, and $1 from its
    own arguments; a string after a continued line is numbered where it is."""
    text = "\n".join(
        [
            "sudo -u root bash -c 'sysctl -w net.core.somaxconn=1'",  # 1
            "env LANG=C bash -ec 'sysctl -w net.core.somaxconn=2'",  # 2
            "timeout 5 sh -c 'sysctl -w net.core.somaxconn=3'",  # 3
            "bash /opt/tool.sh -c net.ipv4.tcp_nosuch=1",  # 4: not a script string
            "K=net.ipv4.tcp_sack",  # 5: not exported
            "export E=net.ipv4.tcp_ecn",  # 6
            "bash -c 'sysctl -w $K=1; sysctl -w $E=1; sysctl -w $1=4' x net.ipv4.tcp_fin_timeout",  # 7
            "sudo \\",  # 8
            "  bash -c 'sysctl -w net.ipv4.tcp_retries1=3'",  # 9
        ]
    )
    assert settings(text) == [
        (1, "net.core.somaxconn", "1"),
        (2, "net.core.somaxconn", "2"),
        (3, "net.core.somaxconn", "3"),
        (7, "net.ipv4.tcp_ecn", "1"),
        (7, "net.ipv4.tcp_fin_timeout", "4"),
        (9, "net.ipv4.tcp_retries1", "3"),
    ]


def test_a_here_document_is_expanded_as_the_shell_expands_it():
    """<<EOF expands $NAME (a line with a value only the run knows is not judged); <<'EOF'
    does not; a quoted word before > is the text echoed, not a descriptor."""
    text = "\n".join(
        [
            "MAX=16777216",  # 1
            "cat > /etc/sysctl.d/90-x.conf <<EOF",  # 2
            "net.core.rmem_max = $MAX",  # 3
            "net.core.wmem_max = ${UNSET}",  # 4: only the run knows
            "vm.min_free_kbytes = $((64 * 1024))",  # 5: only the run knows
            "EOF",  # 6
            "cat > /etc/sysctl.d/91-x.conf <<'EOF'",  # 7
            "net.core.somaxconn = 1024",  # 8
            "EOF",  # 9
            'echo "6553"> /proc/sys/fs/file-max',  # 10
        ]
    )
    assert settings(text) == [
        (3, "net.core.rmem_max", "16777216"),
        (8, "net.core.somaxconn", "1024"),
        (10, "fs.file-max", "6553"),
    ]


def test_a_number_glued_to_a_redirection_is_read_as_the_script_s_shell_reads_it(tmp_path):
    """Measured on files under tmp_path (never /proc/sys): in bash and dash `echo 0> F`
    writes nothing; `echo 1024 25000> F` fails in bash (Bad file descriptor) and writes
    "1024 25000" in dash; a number too large for a descriptor is a word in both. lint: a
    single digit is dead whatever the shell, a longer number dead under #!/bin/bash and
    risky (written, as dash writes it) where the script does not say its shell."""
    require_tool("bash")
    require_tool("dash")
    f = tmp_path / "f"
    for shell, line, written in [
        ("bash", "echo 0> F", ""),
        ("dash", "echo 0> F", ""),
        ("bash", "echo 1024 25000> F", ""),  # opened (truncated), never written
        ("dash", "echo 1024 25000> F", "1024 25000"),
        ("bash", "echo 4096 13107262143> F", "4096 13107262143"),
    ]:
        f.write_text("before")
        subprocess.run([shell, "-c", line.replace("F", str(f))], capture_output=True)
        assert f.read_text().strip() == written, (shell, line)
    lines = "echo 0> /proc/sys/net/ipv4/tcp_timestamps\n"
    lines += "echo 1024 25000> /proc/sys/net/ipv4/ip_local_port_range\n"
    lines += "echo 4096 87380 13107262143> /proc/sys/net/ipv4/tcp_wmem\n"
    for first, second in (("#!/bin/bash\n", "echo-fd-other"), ("#!/bin/sh\n", "echo-fd-shell")):
        parsed = confparse.parse(first + lines, "f", "script")
        assert [(p.line, p.check) for p in parsed.problems] == [
            (2, "echo-fd-other"),
            (3, second),
        ]
        settings_ = [(s.line, s.key, s.value) for s in parsed.settings]
        port_range = (3, "net.ipv4.ip_local_port_range", "1024 25000")
        assert (port_range in settings_) == (second == "echo-fd-shell")
        assert (4, "net.ipv4.tcp_wmem", "4096 87380 13107262143") in settings_


def test_a_line_of_many_redirections_is_read_in_linear_time():
    """The look-back for a descriptor number (from a review of the change: it was
    quadratic, ~5 s for 20,000 >) reads only the word before each >."""
    spaced = shwords.spaced("echo " + "9" * 5000 + ">" + ">" * 200_000 + " f")
    assert spaced.startswith("echo " + "9" * 5000 + " >")  # past INT_MAX: a word
    assert shwords.spaced("echo 1024 25000> f") == "echo 1024 25000> f"  # a descriptor


def test_shells_inside_shells_are_read_to_a_bound():
    inner = "sysctl -w net.core.somaxconn=1"
    for _ in range(confscript.MAX_DEPTH + 1):
        inner = "bash -c " + shlex.quote(inner)
    parsed = confscript.script(inner + "\n", "f")
    assert parsed.unread and "deep" in parsed.unread[0]


def test_a_bare_sysctl_line_in_a_script_is_a_command_that_does_not_exist():
    """bash runs `net.core.netdev_budget = 600` as a command: not found, exit 127."""
    r = subprocess.run(
        ["bash", "-c", "net.core.netdev_budget = 600"], capture_output=True, text=True
    )
    assert r.returncode == 127 and "command not found" in r.stderr
    report = run("#!/bin/sh\nnet.core.netdev_budget = 600\nfs.file-max=9\n", "script")
    got = {(f.line, f.rule) for f in report.findings}
    assert {(2, "not-a-command"), (3, "not-a-command")} <= got


def test_memlock_does_not_bind_root_outside_a_container_and_soft_nofile_1024_is_the_default():
    assert fired("root hard memlock unlimited", "limits.conf").get("memlock-root") == "no-op"
    assert "memlock-root" not in fired("root hard memlock unlimited", "limits.conf", container=True)
    assert fired("* soft nofile 1024", "limits.conf").get("limit-is-default") == "no-op"
    # the hard limit's default depends on systemd: never called a default
    assert "limit-is-default" not in fired("* hard nofile 4096", "limits.conf")


def test_a_buffer_cap_below_the_boot_one_and_a_huge_minimum_are_risky():
    assert fired("net.ipv4.tcp_wmem = 4096 16384 204800").get("buffer-cap-lowered") == "risky"
    got = fired("net.ipv4.tcp_rmem = 16777216 16777216 16777216")
    assert got.get("buffer-min-above-default") == "risky"
    assert not fired("net.ipv4.tcp_rmem = 4096 131072 67108864")


NUMBERS = ["0x1000", "010", "0X20", "+10", "4_096", "08", "0x", "0", "-0", "077"]


def test_numbers_are_read_as_the_kernel_reads_a_sysctl_write():
    """bounds.kernel_integer against the kernel: each word written to somaxconn in a fresh
    namespace is refused (EINVAL) or reads back as the number tunekit says."""
    require_privileges()
    from tunekit.knowledge import bounds

    script = "; ".join(
        f"if printf %s '{w}' > /proc/sys/net/core/somaxconn 2>/dev/null; "
        f"then cat /proc/sys/net/core/somaxconn; else echo refused; fi"
        for w in NUMBERS
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    got = r.stdout.split()
    assert len(got) == len(NUMBERS), r.stdout + r.stderr
    for word, kernel in zip(NUMBERS, got, strict=True):
        ours = bounds.kernel_integer(word)
        if kernel == "refused":
            assert ours is None, (word, ours)
        else:
            assert ours == int(kernel), (word, ours, kernel)


def test_a_leading_zero_is_octal_and_hex_is_a_number():
    assert fired("vm.swappiness = 010").get("octal-value") == "syntax"
    got = fired("net.core.somaxconn = 0x1000")
    assert "not-a-number" not in got and "octal-value" not in got, got
    assert "octal-value" not in fired("vm.swappiness = 0")


def test_a_module_option_is_held_to_its_parameter_type():
    """kernel/params.c: kstrto* base 0 for numbers, kstrtobool for a bool, and a bare
    name only for a bool (param_set_bool: "No equals means set")."""
    assert fired("options nbd nbds_max=1_6", "modprobe.d") == {"param-value-rejected": "harmful"}
    assert "param-value-rejected" not in fired("options nbd nbds_max=0x20", "modprobe.d")
    assert fired("options kvm ignore_msrs", "modprobe.d") == {}  # a bool
    assert fired("options nbd nbds_max", "modprobe.d") == {"bad-option": "syntax"}
    got = fired("options kvm ignore_msrs=maybe", "modprobe.d")
    assert got.get("param-value-rejected") == "harmful", got


def test_a_range_into_service_ports_is_risky_unless_they_are_reserved():
    assert fired("net.ipv4.ip_local_port_range = 1024 65535").get("range-takes-service-ports")
    reserved = "net.ipv4.ip_local_port_range = 1024 65535\nnet.ipv4.ip_local_reserved_ports = 8080"
    assert "range-takes-service-ports" not in fired(reserved)
    assert "range-takes-service-ports" not in fired("net.ipv4.ip_local_port_range = 40000 65535")


# in a fresh namespace: the range is one port pair; a connect() takes one, and a service's
# bind() of that port then fails, unless the port is reserved
_SERVICE_PORT = """
import errno, socket, sys
open("/proc/sys/net/ipv4/ip_local_port_range", "w").write("5000 5001")
if sys.argv[1] == "reserve":
    open("/proc/sys/net/ipv4/ip_local_reserved_ports", "w").write("5000")
srv = socket.socket(); srv.bind(("127.0.0.1", 9)); srv.listen()
cli = socket.socket(); cli.connect(("127.0.0.1", 9))
taken = cli.getsockname()[1]
svc = socket.socket()
try:
    svc.bind(("0.0.0.0", 5000)); print(taken, "bound")
except OSError as err:
    print(taken, errno.errorcode[err.errno])
"""


@pytest.mark.parametrize("mode, expect", [("plain", "EADDRINUSE"), ("reserve", "bound")])
def test_the_kernel_hands_a_service_port_to_connect(mode, expect):
    require_privileges()
    import sys

    r = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && "$0" -c "$1" "$2"', sys.executable]
        + [_SERVICE_PORT, mode],
        capture_output=True,
        text=True,
    )
    taken, outcome = r.stdout.split()
    assert (taken, outcome) == (("5000" if mode == "plain" else "5001"), expect), r.stderr


def test_echo_1_redirected_writes_nothing_on_the_kernel():
    """`echo 1> FILE` is a redirection of fd 1: the value is not written (measured)."""
    require_privileges()
    r = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            "echo 1> /proc/sys/net/ipv4/tcp_tw_reuse; cat /proc/sys/net/ipv4/tcp_tw_reuse",
        ],
        capture_output=True,
        text=True,
    )
    assert r.stdout.split()[-1] == "2", r.stdout + r.stderr  # the default, unchanged


# --- the catalogue's families: boot values, defaults, read-only keys, features -------------


def test_a_limit_lowered_below_its_boot_value_is_named_whatever_the_key():
    for line in (
        "fs.file-max = 100000",
        "fs.nr_open = 500000",
        "net.core.somaxconn = 1024",
        "kernel.threads-max = 10000",
        "net.netfilter.nf_conntrack_max = 65536",
        "net.ipv4.ip_local_port_range = 40000 50001",
    ):
        assert fired(line).get("lowers-a-limit") == "risky", line
    # the limits the kernel documentation says never to lower: harmful
    assert fired("net.ipv4.tcp_max_orphans = 4096")["lowers-a-limit-never-lower"] == "harmful"


def test_under_systemd_a_drop_in_file_max_lowers_it():
    """systemd raises fs.file-max to LONG_MAX before sysctl.d applies (main.c)."""
    assert "lowers-a-limit" in fired("fs.file-max = 20000000", systemd=True)
    assert "lowers-a-limit" not in fired("fs.file-max = 20000000", systemd=False)


def test_a_value_equal_to_the_default_is_a_no_op_and_a_change_is_not():
    for line in ("net.ipv4.tcp_syncookies = 1", "vm.swappiness = 60", "kernel.shmmni = 4096"):
        assert fired(line).get("sets-what-is-there") == "no-op", line
    assert "sets-what-is-there" not in fired("vm.swappiness = 10")
    # a line that puts back the default after another line changed it does something
    assert "sets-what-is-there" not in fired("vm.swappiness = 10\nvm.swappiness = 60")


def test_the_features_that_must_stay_on_are_one_family():
    for key in (K.TIMESTAMPS.name, "net.ipv4.tcp_sack", "net.ipv4.tcp_window_scaling"):
        assert fired(f"{key} = 0")["feature-off"] == "harmful", key
        assert "feature-off" not in fired(f"{key} = 1")


def test_keys_the_kernel_reads_nowhere_are_no_ops_from_their_release_on():
    for line in (
        "net.ipv4.tcp_fack = 1",
        "net.ipv4.udp_wmem_min = 16384",
        "net.ipv4.route.gc_timeout = 100",
        "net.ipv4.route.max_size = 8048576",
    ):
        assert fired(line).get("no-effect") == "no-op", line
    assert "no-effect" in fired("net.ipv4.tcp_adv_win_scale = 2", kernel="6.6")
    assert "no-effect" not in fired("net.ipv4.tcp_adv_win_scale = 2", kernel="5.15")


def test_the_buffers_every_socket_starts_with_are_not_called_no_ops():
    rules = fired("net.core.rmem_default = 262144\nnet.core.wmem_default = 262144")
    assert all(v != "no-op" for v in rules.values()), rules
    assert fired("net.core.rmem_default = 65536")["default-buffer-size"] == "risky"
    assert fired("net.core.rmem_max = 16384")["buffer-cap-tiny"] == "harmful"
    assert fired("net.ipv4.tcp_rmem = 4096 8192 16384")["buffer-cap-tiny"] == "harmful"


def test_short_retries_and_fin_timeouts_are_risky():
    assert fired("net.ipv4.tcp_syn_retries = 1")["syn-retries-low"] == "risky"
    assert fired("net.ipv4.tcp_synack_retries = 2")["synack-retries-low"] == "risky"
    assert fired("net.ipv4.tcp_fin_timeout = 3")["fin-timeout-low"] == "risky"
    assert fired("net.ipv4.tcp_retries2 = 5")["retries2-low"] == "risky"
    assert not fired("net.ipv4.tcp_fin_timeout = 15")


def test_limits_lines_are_judged_as_pam_limits_and_the_kernel_use_them():
    # nproc is not enforced for root (kernel/fork.c), so a root line does nothing
    assert fired("root hard nproc 65535", "limits.conf")["nproc-root"] == "no-op"
    assert fired("* soft core 0", "limits.conf")["limit-is-default"] == "no-op"
    assert fired("* hard stack unlimited", "limits.conf")["limit-is-default"] == "no-op"
    assert "limit-is-default" not in fired("* soft stack 16384", "limits.conf")
    # a systemd host's services never read limits.conf
    on = fired("* hard nofile 1048576\nroot hard nofile 1048576", "limits.conf", systemd=True)
    assert on.get("limits-reach-logins-only") == "risky"
    off = fired("* hard nofile 1048576\nroot hard nofile 1048576", "limits.conf", systemd=False)
    assert "limits-reach-logins-only" not in off  # a load generator's login shell gets it
    # a line for a named account (nginx, mysql): its daemon starts without PAM anywhere
    named = fired("nginx soft nofile 65535", "limits.conf", systemd=False)
    assert named.get("limits-reach-logins-only") == "risky"


def test_ipv4_conf_all_and_default_follow_the_kernels_combination():
    # send_redirects is ORed: all = 0 alone changes nothing; with default = 0 it does
    assert fired("net.ipv4.conf.all.send_redirects = 0")["conf-all-alone"] == "no-op"
    both = "net.ipv4.conf.all.send_redirects = 0\nnet.ipv4.conf.default.send_redirects = 0"
    assert "conf-all-alone" not in fired(both)
    # accept_source_route is ANDed with all, which is 0: an interface's value is moot
    assert fired("net.ipv4.conf.default.accept_source_route = 0")["conf-and-all-off"] == "no-op"
    # rp_filter is the max of the two: all = 1 acts
    assert not {r for r in fired("net.ipv4.conf.all.rp_filter = 1") if r.startswith("conf-")}


def test_where_the_kernel_takes_the_larger_of_all_and_the_interface_a_lower_line_is_a_no_op():
    """IN_DEV_MAXCONF (rp_filter, arp_ignore, arp_announce, ...): with conf.all at 1,
    an interface's or default's 0 or 1 changes nothing; 2 does."""
    text = "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.default.rp_filter = 1\n"
    text += "net.ipv4.conf.eth0.rp_filter = 0\nnet.ipv4.conf.default.arp_ignore = 2\n"
    text += "net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.eth1.rp_filter = 2\n"
    report = run(text)
    lines = sorted(f.line for f in report.findings if f.rule == "conf-max-all-higher")
    assert lines == [2, 3]


def test_a_write_to_all_that_the_kernel_copies_makes_the_copies_no_ops():
    report = run(
        "net.ipv6.conf.all.disable_ipv6 = 1\n"  # 1
        "net.ipv6.conf.default.disable_ipv6 = 1\n"  # 2: copied by line 1
        "net.ipv6.conf.lo.disable_ipv6 = 1\n"  # 3: and to every interface
        "net.ipv4.conf.default.forwarding = 1\n"  # 4: before the write of all: it counts
        "net.ipv4.conf.all.forwarding = 1\n"  # 5
    )
    got = {(f.line, f.rule) for f in report.findings}
    assert {(2, "sets-what-is-there"), (3, "sets-what-is-there")} <= got
    assert (4, "sets-what-is-there") not in got


def test_disable_ipv6_on_all_is_copied_to_default_and_each_interface_on_the_kernel():
    """The claim checked: in a new namespace, writing conf.all.disable_ipv6 sets default's
    and lo's too (net/ipv6/addrconf.c addrconf_disable_ipv6)."""
    require_privileges()
    if not Path("/proc/sys/net/ipv6").is_dir():
        pytest.fail("this kernel has no IPv6: the copy cannot be measured")
    r = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
            "cat /proc/sys/net/ipv6/conf/default/disable_ipv6 "
            "/proc/sys/net/ipv6/conf/lo/disable_ipv6",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]


def test_reserved_ports_outside_the_range_are_never_at_risk():
    assert fired("net.ipv4.ip_local_reserved_ports = 30000-32767")["reserved-ports-outside-range"]
    assert "reserved-ports-outside-range" not in fired("net.ipv4.ip_local_reserved_ports = 40000")


def test_a_limit_in_two_units_keeps_the_one_written_last():
    """mm/page-writeback.c and mm/util.c: writing dirty_bytes sets dirty_ratio to 0 (and
    the other way round, on a change), background and overcommit on every write. These
    are global keys, not to be written on this host: the handlers were read, not run."""
    both = run("vm.dirty_ratio = 10\nvm.dirty_bytes = 268435456\n")
    assert [(f.line, f.rule, f.verdict) for f in both.findings if f.rule == "zeroed"] == [
        (1, "zeroed", "overridden")
    ]
    back = run(
        "vm.dirty_background_bytes = 67108864\nvm.overcommit_kbytes = 1\n"
        "vm.dirty_background_ratio = 5\nvm.overcommit_ratio = 80\n"
    )
    assert sorted(f.line for f in back.findings if f.rule == "zeroed") == [1, 2]
    # a ratio written twice with the same value changes nothing the second time
    same = run("vm.dirty_ratio = 10\nvm.dirty_bytes = 268435456\nvm.dirty_bytes = 268435456\n")
    assert [f.line for f in same.findings if f.rule == "zeroed"] == [1]
    alone = run("vm.dirty_ratio = 10\nvm.dirty_background_bytes = 67108864\n")
    assert "zeroed" not in {f.rule for f in alone.findings}


def test_a_value_the_kernel_documentation_warns_against_is_risky():
    """catalogue `advised`: the range outside which the key's own documentation warns
    (ip-sysctl tcp_retries1, vm.rst vfs_cache_pressure and min_free_kbytes,
    sched-rt-group.rst sched_rt_runtime_us); inside it, nothing is said."""
    text = "net.ipv4.tcp_retries1 = 2\nvm.vfs_cache_pressure = 10000\nvm.vfs_cache_pressure = 0\n"
    text += "vm.min_free_kbytes = 512\nkernel.sched_rt_runtime_us = -1\n"
    text += "net.ipv4.tcp_retries1 = 5\nvm.vfs_cache_pressure = 200\nvm.min_free_kbytes = 65536\n"
    # 9: more than the kernel ever reserves (5 % of 24 GiB); 10: ip-sysctl says not to
    # change it without experts
    text += "vm.min_free_kbytes = 2097152\nnet.ipv4.tcp_tw_reuse = 1\n"
    report = run(text)
    lines = sorted(f.line for f in report.findings if f.rule == "against-the-documentation")
    assert lines == [1, 2, 3, 4, 5, 10]
    assert 9 in {f.line for f in report.findings if f.rule == "min-free-over-kernel-max"}
    why = {f.line: f.why for f in report.findings if f.rule == "against-the-documentation"}
    assert why[2].startswith(
        "10000 is outside what the kernel's documentation or source advises (at most 999)"
    )
    assert why[1].startswith(
        "2 is outside what the kernel's documentation or source advises (at least 3)"
    )
    fix = next(
        f.fix for f in report.findings if f.line == 4 and f.rule == "against-the-documentation"
    )
    assert "?" not in fix  # min_free_kbytes has no constant default


def test_a_name_no_congestion_control_or_qdisc_has_is_dead():
    """catalogue `choices`: the names Linux registers; any other fails with ENOENT."""
    report = run(
        "net.ipv4.tcp_congestion_control = bbr2\nnet.core.default_qdisc = fq_codel2\n"
        "net.ipv4.tcp_congestion_control = htcp\nnet.core.default_qdisc = cake\n"
    )
    assert sorted(f.line for f in report.findings if f.rule == "no-such-name") == [1, 2]
    assert {f.verdict for f in report.findings if f.rule == "no-such-name"} == {"dead"}


def test_the_kernel_refuses_a_congestion_control_it_does_not_register():
    """On the running kernel: every name it lists is one the catalogue knows (the list is
    not stale), and inside `unshare -n` `sysctl -w` of bbr2 fails and changes nothing."""
    available = Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    assert set(available) <= set(K.CONGESTION_CONTROLS), available
    require_privileges()
    require_tool("sysctl")
    path = "/proc/sys/net/ipv4/tcp_congestion_control"
    r = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"sysctl -q -w {path[10:]}=bbr2 2>&1; echo $?; cat {path}"],
        capture_output=True,
        text=True,
    )
    *said, rc, value = r.stdout.split("\n")[:-1]
    assert rc != "0" and "No such file" in " ".join(said) and value != "bbr2", r.stdout


def test_a_timer_in_milliseconds_is_a_unit_mistake():
    """catalogue `socket_max`: past what setsockopt takes for the same timer, a whole
    multiple of 1000 is milliseconds; a value a socket could set is not judged so."""
    report = run(
        "net.ipv4.tcp_keepalive_time = 600000\nnet.ipv4.tcp_keepalive_intvl = 75000\n"
        "net.ipv4.tcp_fin_timeout = 30000\nnet.ipv4.tcp_keepalive_time = 86400\n"
        "net.ipv4.tcp_keepalive_intvl = 30000\n"
    )
    named = {f.line: f.fix for f in report.findings if f.rule == "milliseconds-meant"}
    assert named == {
        1: "net.ipv4.tcp_keepalive_time = 600",
        2: "net.ipv4.tcp_keepalive_intvl = 75",
        3: "net.ipv4.tcp_fin_timeout = 30",
    }


def test_a_socket_may_not_set_a_keepalive_past_the_catalogues_bound():
    """On the running kernel: setsockopt(TCP_KEEPIDLE / TCP_KEEPINTVL) takes the bound
    the catalogue carries and refuses one more (EINVAL)."""
    import errno
    import socket

    for key, option in (
        ("net.ipv4.tcp_keepalive_time", socket.TCP_KEEPIDLE),
        ("net.ipv4.tcp_keepalive_intvl", socket.TCP_KEEPINTVL),
    ):
        bound = K.KEYS[key].socket_max[0]
        with socket.socket() as s:
            s.setsockopt(socket.IPPROTO_TCP, option, bound)
            with pytest.raises(OSError) as refused:
                s.setsockopt(socket.IPPROTO_TCP, option, bound + 1)
            assert refused.value.errno == errno.EINVAL


def test_a_limits_line_below_what_every_process_starts_with_is_named():
    """catalogue LIMIT_FLOORS: lowering nofile, nproc or memlock takes away what the
    processes already have; raising it, or another item (core 0), is not named so."""
    text = "scylla - nproc 100\n* soft nofile 512\n@users - memlock 64\n"
    text += "* soft core 0\n* - nproc 10000000\n* soft nofile 65536\n"
    report = run(text, "limits.conf")
    assert sorted(f.line for f in report.findings if f.rule == "limit-lowered") == [1, 2, 3]


def test_init_starts_with_the_floors_the_catalogue_gives_nproc_and_sigpending():
    """On the running kernel: fork_init gives init half of max_threads for RLIMIT_NPROC
    and RLIMIT_SIGPENDING, and MQ_BYTES_MAX for RLIMIT_MSGQUEUE (PID 1 changes none of
    them here; nofile and memlock it may raise, so they are not compared)."""
    limits = {}
    for line in Path("/proc/1/limits").read_text().splitlines()[1:]:
        name, soft = line[:26].strip(), line[26:47].split()
        limits[name] = int(soft[0]) if soft and soft[0].isdigit() else None
    threads = int(Path("/proc/sys/kernel/threads-max").read_text())
    assert limits["Max processes"] == threads // 2
    assert limits["Max pending signals"] == threads // 2
    assert limits["Max msgqueue size"] == K.LIMIT_FLOORS["msgqueue"][0]


def test_a_module_option_the_module_does_not_declare_is_dead():
    """kernel_modparams.tsv: raid0 declares default_layout alone (drivers/md/raid0.c);
    async_probe and dyndbg every module takes; a module the table does not know (an
    out-of-tree zfs) or whose parameters a macro makes (e1000e) is not judged."""
    text = "options raid0 devices_discard_performance=Y default_layout=2 async_probe=1\n"
    text += "options zfs zfs_arc_max=1\noptions e1000e InterruptThrottleRate=3000\n"
    text += "options usbcore quirks=0781:5580:i\n"  # device_param_cb, not module_param
    text += "options usbcore old-scheme-first=1\n"  # parameq: - and _ are the same
    report = run(text, "modprobe.d", reference_host(kernel="6.12"))
    named = [(f.line, f.key) for f in report.findings if f.rule == "no-such-parameter"]
    assert named == [(1, "raid0.devices_discard_performance")]
    # on a kernel newer than the table, with the module not loaded: it may have gained it
    newer = run(text, "modprobe.d", reference_host(kernel="6.18"))
    assert {(f.line, f.rule, f.verdict) for f in newer.findings if f.line == 1} == {
        (1, "no-such-parameter-newer", "risky")
    }


def test_the_parameter_table_agrees_with_the_modules_loaded_here():
    """On the running kernel: of the parameters the loaded modules list in
    /sys/module/M/parameters, the table (Linux 6.12) has nearly all (the rest are newer
    than 6.12), and lint names a made-up one and passes a real one."""
    from tunekit.knowledge import kernel_modparams

    table = kernel_modparams.known()
    listed = found = 0
    real = None
    for d in sorted(Path("/sys/module").iterdir()):
        if (d / "parameters").is_dir() and d.name in table and not table[d.name][1]:
            names = {p.name for p in (d / "parameters").iterdir()}
            listed += len(names)
            found += len(names & table[d.name][0])
            if names & table[d.name][0] and real is None:
                real = (d.name, sorted(names & table[d.name][0])[0])
    assert listed >= 20 and found / listed >= 0.85, (found, listed)
    assert real is not None
    host = LintHost.of_root(Path("/"))
    text = f"options {real[0]} {real[1]}=1 tunekit_made_up=1\n"
    report = lint.lint([("f", text, "modprobe.d")], host)
    named = [f.key for f in report.findings if f.rule == "no-such-parameter"]
    assert named == [f"{real[0]}.tunekit_made_up"], report.findings


def test_a_limit_below_what_the_host_uses_now_is_harmful():
    """catalogue `in_use`: the reference host has 1,500 file handles, 300 threads and a
    process with 200 descriptors in use; below that the line breaks what runs (and is
    not also called merely risky); above it, below the boot value, it stays risky."""
    text = "fs.file-max = 1000\nfs.nr_open = 64\nkernel.threads-max = 200\n"
    text += "fs.nr_open = 500000\n"
    report = run(text)
    by_line = {f.line: f.rule for f in report.findings if f.rule != "overridden"}
    assert by_line == {
        1: "below-in-use",
        2: "below-in-use",
        3: "below-in-use",
        4: "lowers-a-limit",
    }, report.findings


def test_the_running_host_counts_what_is_in_use():
    """On the running kernel: file handles as fs.file-nr gives them, threads from
    /proc/loadavg, and this test's own process holds at least its three descriptors."""
    from tunekit.lint.host import _in_use

    handles = int(Path("/proc/sys/fs/file-nr").read_text().split()[0])
    assert abs(_in_use("file-handles") - handles) < 1000
    assert _in_use("threads") >= 1
    assert _in_use("descriptors") >= 3


def test_a_default_the_source_takes_from_a_build_option_is_this_kernels_config():
    """kernel_sysctls.tsv keeps `= CONFIG_X` and `= IS_ENABLED(CONFIG_X)` initialisers by
    name (mmap_min_addr from CONFIG_DEFAULT_MMAP_MIN_ADDR, bpf_jit_enable from
    IS_BUILTIN(CONFIG_BPF_JIT_DEFAULT_ON)); on the running kernel, read with its
    /proc/config.gz, most hold what the build gives (the rest were set at boot)."""
    from tunekit.knowledge import kernel_sysctls

    host = LintHost.of_root(Path("/"))
    config = host.build_options()
    assert config, "this kernel has no /proc/config.gz: its build options are unknown"
    assert kernel_sysctls.config_value("cfg:!ENABLED:CONFIG_X", {"X": "y"}) == "0"
    assert kernel_sysctls.config_value("cfg:BUILTIN:CONFIG_X", {"X": "m"}) == "0"
    assert kernel_sysctls.config_value("cfg:value:CONFIG_X", {"X": "4096"}) == "4096"
    compared = agreed = 0
    for name, reg in kernel_sysctls.known().items():
        status, live = host.live(name)
        want = (
            kernel_sysctls.config_value(reg.init, config) if reg.init.startswith("cfg:") else None
        )
        if want is None or status != "present" or live is None:
            continue
        compared += 1
        agreed += live.split() == [want]
    assert compared >= 4 and agreed >= compared - 2, (agreed, compared)
    report = lint.lint(
        [
            (
                "f",
                "vm.mmap_min_addr = " + config.get("DEFAULT_MMAP_MIN_ADDR", "x") + "\n",
                "sysctl.conf",
            )
        ],
        host,
    )
    if host.live("vm.mmap_min_addr")[1] == config.get("DEFAULT_MMAP_MIN_ADDR"):
        assert [f.rule for f in report.findings] == ["sets-what-is-there"], report.findings


SUDO = """\
#!/bin/sh
sudo echo 1 > /proc/sys/net/ipv4/tcp_mtu_probing
echo 1 | sudo tee /proc/sys/net/ipv4/tcp_mtu_probing
sudo echo "vm.swappiness = 10" >> /etc/sysctl.conf
sudo cat > /etc/sysctl.d/90-x.conf <<EOF
net.core.somaxconn = 8192
EOF
sudo sh -c "echo 2 > /proc/sys/net/ipv4/tcp_ecn"
sudo sh -c "echo 'options raid0 devices_discard_performance=Y' >> /etc/modprobe.d/raid.conf"
sudo echo off > /sys/devices/system/cpu/smt/control
echo never > /sys/kernel/mm/transparent_hugepage/enabled
exec sudo echo 1 > /proc/sys/net/ipv4/tcp_ecn
"""


def test_a_redirection_after_sudo_is_the_calling_shells():
    """bash(1), REDIRECTION: `sudo echo 1 > F` has the caller's shell open F, so a script
    that needs sudo cannot (sudo-redirect, dead); tee under sudo, or sh -c under sudo,
    open it as root. A line written into modprobe.d is read as modprobe.d."""
    report = run(SUDO, "script")
    dead = sorted((f.line, f.rule) for f in report.findings if f.rule == "sudo-redirect")
    assert dead == [
        (2, "sudo-redirect"),
        (4, "sudo-redirect"),
        (6, "sudo-redirect"),
        (10, "sudo-redirect"),
        (12, "sudo-redirect"),  # sudo among the prefixes
    ]
    assert not [f for f in report.findings if f.line == 11]  # a sysfs write no rule judges
    assert (9, "no-such-parameter-newer") in {(f.line, f.rule) for f in report.findings}


def test_a_redirection_after_sudo_works_where_the_shell_is_root():
    """cloud-init runs its commands as root, a Dockerfile's RUN too unless a USER says
    otherwise, and rc.local is run by init: there `sudo echo V > F` writes F."""
    line = "sudo echo 1 > /proc/sys/net/ipv4/tcp_mtu_probing"
    cases = [
        ("user-data.yml", f"#cloud-config\nruncmd:\n  - {line}\n", "yaml"),
        ("Dockerfile", f"FROM debian\nRUN {line}\n", "dockerfile"),
        ("/etc/rc.local", f"#!/bin/sh\n{line}\n", "script"),
    ]
    for name, text, fmt in cases:
        report = lint.lint([(name, text, fmt)], reference_host())
        assert "sudo-redirect" not in {f.rule for f in report.findings}, name
    user = lint.lint(
        [("Dockerfile", f"FROM debian\nUSER app\nRUN {line}\n", "dockerfile")], reference_host()
    )
    assert "sudo-redirect" in {f.rule for f in user.findings}


def test_the_background_writeback_ratio_is_halved_at_or_above_the_writers():
    """catalogue `below_other`: mm/page-writeback.c domain_dirty_limits halves a background
    threshold at or above the writers'; below it, nothing is said. page-cluster's default
    3 (mm/swap.c swap_setup) makes `= 3` a no-op."""
    report = run("vm.dirty_ratio = 40\nvm.dirty_background_ratio = 40\nvm.page-cluster = 3\n")
    rules = {(f.line, f.rule) for f in report.findings}
    assert (2, "not-below-other") in rules and (3, "sets-what-is-there") in rules
    ok = run("vm.dirty_ratio = 40\nvm.dirty_background_ratio = 10\n")
    assert "not-below-other" not in {f.rule for f in ok.findings}


def test_a_module_option_that_gives_the_default_is_a_no_op():
    """kernel_modparams.tsv keeps a parameter's literal initialiser (vmx.c `static bool
    __read_mostly nested = 1;`); `nested=y` is read as kstrtobool reads it."""
    from tunekit.knowledge import kernel_modparams

    assert kernel_modparams.default("kvm_intel", "nested") == ("bool", 1)
    assert (
        kernel_modparams.as_given("bool", "Y") == 1
        and kernel_modparams.as_given("int", "0x10") == 16
    )
    report = run("options kvm-intel nested=y\noptions raid0 default_layout=2\n", "modprobe.d")
    assert [(f.line, f.rule) for f in report.findings] == [(1, "param-is-default")]


def test_the_loaded_modules_hold_the_defaults_the_table_gives():
    """On the running kernel: most parameters of loaded modules hold the value the table
    says the source starts them with (the rest set on the command line, or by init code:
    for those, lint asks the loaded module and says nothing)."""
    from tunekit.knowledge import kernel_modparams

    compared = agreed = 0
    for d in sorted(Path("/sys/module").iterdir()):
        for p in sorted((d / "parameters").glob("*")) if (d / "parameters").is_dir() else ():
            start = kernel_modparams.default(d.name, p.name)
            try:
                live = p.read_text().strip()
            except OSError:
                continue
            if start is not None:
                compared += 1
                agreed += kernel_modparams.as_given(start[0], live) == start[1]
    assert compared >= 20 and agreed / compared >= 0.8, (agreed, compared)


def test_a_key_the_kernel_reads_only_under_another_is_a_no_op_without_it():
    """catalogue `needs`: DSACK only on a SACK connection (tcp_input.c tcp_dsack_set), the
    commit limit only under overcommit_memory = 2 (mm/util.c __vm_enough_memory)."""
    off = run("net.ipv4.tcp_sack = 0\nnet.ipv4.tcp_dsack = 1\nvm.overcommit_ratio = 80\n")
    assert sorted(f.line for f in off.findings if f.rule == "needs-other") == [2, 3]
    on = run("vm.overcommit_memory = 2\nvm.overcommit_ratio = 80\nnet.ipv4.tcp_dsack = 0\n")
    assert "needs-other" not in {f.rule for f in on.findings}


# --- the real kernel ------------------------------------------------------------------------


def test_a_read_only_key_is_dead_on_the_running_kernel():
    host = LintHost.of_root(Path("/"))
    report = lint.lint([("f", f"{K.FILE_NR.name} = 1000 0 100000\n", "sysctl.conf")], host)
    assert [f.rule for f in report.findings if f.verdict == "dead"] == ["read-only"]


def test_a_key_linux_has_but_this_build_lacks_is_a_no_op_here_and_a_key_linux_lacks_is_dead():
    """On the running kernel: a name that Linux registers (kernel_sysctls.tsv) and this
    kernel does not have does nothing here and applies elsewhere (no-op, not dead); a
    name Linux has nowhere, and one it removed (tw_recycle, 4.12), are dead."""
    from tunekit.knowledge import kernel_sysctls

    host = LintHost.of_root(Path("/"))
    config = host.build_options()
    assert config, "this kernel has no /proc/config.gz: its build options are unknown"
    table = kernel_sysctls.known()
    lacking = [
        n
        for n, reg in table.items()
        if not Path("/proc/sys", *n.split(".")).exists()
        and not K.DEVICE_KEY.match(n)
        and not n.startswith(tuple(K.MODULE_PREFIXES))
        and reg.option
    ]
    off = [n for n in lacking if any(config.get(o) != "y" for o in table[n].option.split())]
    gone = [n for n in lacking if all(config.get(o) == "y" for o in table[n].option.split())]
    assert off, "this kernel has every sysctl of the table: pick another build to test on"
    text = f"{off[0]} = 1\nnet.ipv4.tcp_no_such_key = 1\nnet.ipv4.tcp_tw_recycle = 1\n"
    if gone:  # built with what the key needs and still without it: dropped from Linux
        text += f"{gone[0]} = 1\n"
    report = lint.lint([("f", text, "sysctl.conf")], host)
    by_line = {f.line: (f.rule, f.verdict) for f in report.findings}
    assert by_line[1] == ("not-built", "no-op"), report.findings
    assert by_line[2] == ("absent", "dead")
    assert by_line[3][1] == "dead"
    assert not gone or by_line[4] == ("removed-since", "dead"), report.findings
    assert kernel_sysctls.release() in next(f.why for f in report.findings if f.line == 1)


def test_build_options_are_read_through_the_root_and_a_module_loaded_at_boot_counts(tmp_path):
    """/proc/config.gz (bounded: a gzip that would inflate past 8 MiB is cut), else
    boot/config-RELEASE; a key whose module modules-load.d loads is no finding."""
    import gzip

    from tunekit.host import procfs

    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "config.gz").write_bytes(gzip.compress(b"CONFIG_IP_SCTP=m\n# x\n"))
    assert procfs.kernel_config(tmp_path, "6.1") == {"IP_SCTP": "m"}
    (tmp_path / "proc" / "config.gz").write_bytes(gzip.compress(b"CONFIG_A=y\n" * 2_000_000))
    assert len(procfs.kernel_config(tmp_path, "6.1") or {}) == 1  # cut, not inflated whole
    (tmp_path / "proc" / "config.gz").unlink()
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "config-6.1").write_text("CONFIG_XFS_FS=y\n")
    assert procfs.kernel_config(tmp_path, "6.1") == {"XFS_FS": "y"}
    host = reference_host(modules={"sctp"})
    assert [f.rule for f in run("net.sctp.rto_min = 500", host=host).findings] == []
    assert [f.rule for f in run("net.sctp.rto_min = 500").findings] == ["not-built"]


def test_the_table_of_linux_sysctls_is_read_from_the_source_as_it_registers_them(tmp_path):
    """The generator on a tree of its own: a static table, a copy registered under a
    literal path and one under a macro, an option from #ifdef and one from the Makefile,
    a path built at run time left out."""
    from tunekit.knowledge import kernel_sysctls

    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 1\n")
    net = tmp_path / "net" / "x"
    net.mkdir(parents=True)
    (net / "Makefile").write_text("obj-$(CONFIG_X) += x.o\nx-y := core.o sysctl.o\n")
    (net / "x.h").write_text('#define X_PATH "net/x2"\n#define X_HZ 100\n')
    (net / "core.c").write_text("unsigned int x_alpha __read_mostly = 5 * X_HZ;\n")
    (net / "sysctl.c").write_text(
        "static int x_beta;\n"
        "static const int x_nine = 9;\n"
        "static int x_drop(const struct ctl_table *t, int write)\n{\n"
        "\treturn write ? 0 : proc_dointvec(t, 0);\n}\n"
        "static struct ctl_table x_table[] = {\n"
        '\t{ .procname = "alpha", .data = &x_alpha, .mode = 0644,\n'
        "\t  .proc_handler = proc_dointvec_minmax, .extra1 = SYSCTL_ONE, .extra2 = &x_nine, },\n"
        "#ifdef CONFIG_X_BETA\n"
        '\t{ .procname = "beta", .data = &x_beta, .mode = 0444, .proc_handler = x_drop, },\n'
        "#endif\n"
        "};\n"
        "static struct ctl_table y_table[] = {\n"
        '\t{ .procname = "gamma", },\n'
        "};\n"
        'void a(void) { register_net_sysctl(&init_net, "net/x", x_table); }\n'
        "void b(void) { tbl = kmemdup(y_table); register_net_sysctl_sz(net, X_PATH, tbl, 1); }\n"
        'void c(void) { register_net_sysctl(net, "net/x/conf/%s", x_table); }\n'
        "void d(void) { if (x) x_table[1].mode = 0644; }\n"
    )
    table = kernel_sysctls.scan(tmp_path)
    R = kernel_sysctls.Registered
    assert table == {
        # 5 * X_HZ, in another file; bounds of a *_minmax handler (a constant, a const)
        "net.x.alpha": R(
            "net/x/sysctl.c",
            "X",
            "500",
            "net/x/core.c",
            "0644+",
            "1",
            "9",
            module="x",
            handler="proc_dointvec_minmax",
        ),
        # C's 0; a mode code changes at boot; a handler that drops writes
        "net.x.beta": R(
            "net/x/sysctl.c",
            "X_BETA X",
            "0",
            "net/x/sysctl.c",
            "0444+",
            ignored="1",
            module="x",
            handler="x_drop",
        ),
        "net.x2.gamma": R("net/x/sysctl.c", "X", module="x"),  # no variable, mode or bounds
    }


def test_a_default_from_the_source_is_believed_only_where_this_kernel_holds_it():
    """A key no catalogue entry knows and no namespace holds fresh: the value the source
    initialises it to (vm.swappiness = 60 in mm/vmscan.c) makes a line that repeats it a
    no-op where the running kernel holds that value; where it holds another (page-cluster
    is set from RAM at boot, min_free_kbytes too) no default is claimed."""
    from tunekit.knowledge import kernel_sysctls

    host = LintHost.of_root(Path("/"))
    held, sized = [], []
    for name, reg in kernel_sysctls.known().items():
        init = reg.init
        if not init or name in K.KEYS or name.startswith("net.") or not host.writable(name):
            continue
        status, live = host.live(name)
        if status == "present" and live is not None:
            (held if live.split() == [init] else sized).append((name, init, live))
    assert held and sized, (held, sized)
    for name, init, live in (held[0], sized[0]):
        report = lint.lint([("f", f"{name} = {init}\n", "sysctl.conf")], host)
        claimed = [f for f in report.findings if f.rule == "sets-what-is-there"]
        if live.split() == [init]:
            assert claimed and "initialises it to" in claimed[0].why, report.findings
        else:
            assert not claimed, (name, init, live, report.findings)
    # a key this host's boot files set: its live value may be theirs, not the kernel's
    name, init, _ = held[0]
    host.set_at_boot = {name}
    report = lint.lint([("f", f"{name} = {init}\n", "sysctl.conf")], host)
    assert "sets-what-is-there" not in {f.rule for f in report.findings}


def test_bounds_read_in_the_source_are_the_ones_the_kernel_enforces():
    """Per-namespace keys whose bounds come from their table entry (extra1/extra2 of a
    *_minmax handler) and not from the catalogue: inside `unshare -n`, a value one past
    the bound is refused and the key keeps its value, and lint calls the line dead."""
    require_privileges()
    from tunekit.knowledge import kernel_sysctls

    picked = []
    for name, reg in sorted(kernel_sysctls.known().items()):
        entry = K.KEYS.get(name)
        if not reg.high or not name.startswith("net.ipv4.") or K.DEVICE_KEY.match(name):
            continue
        if entry is not None and (entry.minimum is not None or entry.maximum is not None):
            continue
        if int(reg.high) < 2**31 - 1:
            picked.append((name, int(reg.high) + 1))
    assert len(picked) >= 3, picked
    for name, value in picked[:5]:
        path = "/proc/sys/" + name.replace(".", "/")
        r = subprocess.run(
            [
                "unshare",
                "-n",
                "sh",
                "-c",
                f"cat {path}; echo {value} > {path}; echo $?; cat {path}",
            ],
            capture_output=True,
            text=True,
        )
        before, rc, after = r.stdout.split("\n")[:3]
        assert rc != "0" and before == after, (name, value, r.stdout, r.stderr)
        report = run(f"{name} = {value}")
        assert [f.rule for f in report.findings if f.verdict == "dead"] == ["out-of-range"], name


def test_a_number_past_what_the_handler_s_type_holds_is_refused(tmp_path):
    """tcp_sack is a u8 (proc_dou8vec_minmax: 300 is EINVAL); a number past INT_MAX in an
    int vector is EINVAL too, though the numbers before it are stored (measured)."""
    require_privileges()
    require_tool("sysctl")
    cmd = (
        "sysctl -w net.ipv4.tcp_sack=300; echo $?; cat /proc/sys/net/ipv4/tcp_sack; "
        "sysctl -w 'net.ipv4.tcp_wmem=4096 87380 13107262143'; echo $?; "
        "cat /proc/sys/net/ipv4/tcp_wmem"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", cmd], capture_output=True, text=True)
    rc1, sack, rc2, wmem = r.stdout.split("\n")[:4]
    assert (rc1, sack, rc2) == ("1", "1", "1"), r.stdout
    assert wmem.split()[1] == "87380", wmem  # stored before the refused third number
    for line in ("net.ipv4.tcp_sack = 300", "net.ipv4.tcp_wmem = 4096 87380 13107262143"):
        assert [f.rule for f in run(line).findings if f.verdict == "dead"] == ["out-of-range"]


def test_a_key_this_build_makes_read_only_is_a_no_op_here_and_a_counter_is_dead():
    """kernel.nmi_watchdog is registered 0444 and made writable at boot where the hardware
    has a watchdog (kernel/watchdog.c); fs.file-nr is read-only everywhere."""
    from tunekit.knowledge import kernel_sysctls

    here = [
        n
        for n, reg in kernel_sysctls.known().items()
        if reg.mode == "0444+"
        and Path("/proc/sys", *n.split(".")).exists()
        and not Path("/proc/sys", *n.split(".")).stat().st_mode & 0o222
    ]
    assert here, "every key this kernel could make read-only is writable here"
    host = LintHost.of_root(Path("/"))
    text = f"{here[0]} = 0\n{K.FILE_NR.name} = 1000 0 100000\n"
    report = lint.lint([("f", text, "sysctl.conf")], host)
    assert {(f.line, f.rule, f.verdict) for f in report.findings} >= {
        (1, "read-only-here", "no-op"),
        (2, "read-only", "dead"),
    }


def test_the_table_holds_what_this_kernel_has():
    """Of this kernel's sysctls that are no device's, nearly all are in the table (what
    is not: keys newer than its release, names built at run time): a generator that
    missed a way of registering would show here."""
    from tunekit.knowledge import kernel_sysctls

    live = [
        ".".join(p.relative_to("/proc/sys").parts)
        for p in Path("/proc/sys").rglob("*")
        if p.is_file()
    ]
    live = [
        n
        for n in live
        if not re.match(r"^net\.ipv[46]\.(conf|neigh)\.|^net\.netfilter\.nf_log\.\d", n)
    ]
    missing = [n for n in live if n not in kernel_sysctls.known()]
    assert len(missing) < 0.06 * len(live), missing


def test_a_write_only_key_is_an_action_on_the_running_kernel():
    """vm.drop_caches is mode 0200 here: lint reads the mode, and says the line is an
    action done at every apply, not a value kept (nothing is written to the host)."""
    mode = Path("/proc/sys/vm/drop_caches").stat().st_mode & 0o777
    assert mode == 0o200, oct(mode)
    host = LintHost.of_root(Path("/"))
    report = lint.lint([("f", "vm.drop_caches = 3\nvm.swappiness = 10\n", "sysctl.conf")], host)
    assert [(f.line, f.rule) for f in report.findings if f.rule == "action-not-setting"] == [
        (1, "action-not-setting")
    ]


def test_a_fresh_namespace_gives_the_defaults_of_keys_the_catalogue_does_not_know():
    """icmp_echo_ignore_broadcasts is no catalogue entry: its default is read in a new
    network namespace, so the line that repeats it is a no-op and one that changes it
    is not."""
    require_privileges()
    host = LintHost.of_root(Path("/"))
    key = "net.ipv4.icmp_echo_ignore_broadcasts"
    assert key not in K.KEYS
    fresh = subprocess.run(
        ["unshare", "-n", "cat", "/proc/sys/" + key.replace(".", "/")],
        capture_output=True,
        text=True,
    ).stdout.strip()
    same = lint.lint([("f", f"{key} = {fresh}\n", "sysctl.conf")], host)
    assert [f.rule for f in same.findings] == ["sets-what-is-there"]
    other = lint.lint(
        [("f", f"{key} = {1 - int(fresh)}\n", "sysctl.conf")], LintHost.of_root(Path("/"))
    )
    assert "sets-what-is-there" not in {f.rule for f in other.findings}


def test_the_boot_values_lint_uses_are_the_fresh_namespace_s_for_per_namespace_keys():
    """For every per-namespace catalogue key with a boot value, a line holding the fresh
    namespace's value is never called lower than the boot value."""
    require_privileges()
    keys = [
        k
        for k in K.KEYS.values()
        if k.scope == "netns"
        and k.child == "own"
        and k.direction == "up"
        and D.of(k, D.BootContext()) is not None
    ]
    paths = ["/" + k.proc_path for k in keys]
    out = subprocess.run(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            'for p; do cat "$p" 2>/dev/null || echo -; done',
            "sh",
            *paths,
        ],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    host = LintHost.of_root(Path("/"))
    text = "".join(f"{k.name} = {v}\n" for k, v in zip(keys, out, strict=True) if v != "-")
    report = lint.lint([("f", text, "sysctl.conf")], host)
    assert not [f for f in report.findings if f.rule.startswith("lowers-a-limit")], [
        (f.key, f.value, f.why) for f in report.findings
    ]


def test_no_failing_verdict_on_a_file_of_defaults():
    """A sysctl.conf that sets the running kernel's own values of the catalogue's keys
    (the ones it can read and write: mc_forwarding is 0444) gets no failing verdict."""
    host = LintHost.of_root(Path("/"))
    lines = []
    for k in K.KEYS.values():
        if k.kind != "sysctl" or host.writable(k.name) is False:
            continue
        status, value = host.live(k.name)
        if status == "present" and value:
            lines.append(f"{k.name} = {value}")
    report = lint.lint([("f", "\n".join(lines) + "\n", "sysctl.conf")], LintHost.of_root(Path("/")))
    failing = [(f.key, f.rule) for f in report.findings if f.verdict in DEFAULT_FAIL_ON]
    assert failing == [], failing
    assert len(lines) > 40


def test_a_sysfs_write_of_the_boot_value_is_a_no_op():
    """catalogue SYSFS_DEFAULTS: the source's value, a Kconfig choice read from the build
    options, and the command line's transparent_hugepage= over both."""
    from tunekit.lint import source

    host = reference_host()
    host.config = {"TRANSPARENT_HUGEPAGE_MADVISE": "y"}
    host.kernel_arg = lambda name: ""
    thp = "/sys/kernel/mm/transparent_hugepage/enabled"
    assert source.sysfs_default(host, thp)[0] == "madvise"
    host.kernel_arg = lambda name: "never" if name == "transparent_hugepage" else ""
    assert source.sysfs_default(host, thp)[0] == "never"
    host.kernel_arg = None  # an image: the command line is not known
    assert source.sysfs_default(host, thp) == ("", "")
    got = fired("[scheduler]\nsched_migration_cost_ns=500000", "tuned")
    assert got == {"sysfs-is-default": "no-op"}, got
    assert not fired("[scheduler]\nsched_migration_cost_ns=5000000", "tuned")


def test_the_running_kernel_holds_the_sysfs_defaults_lint_knows():
    """On this host (no tuning of THP or the scheduler at run time), each file lint knows
    and can read holds the value lint says it boots with."""
    from tunekit.knowledge import catalogue
    from tunekit.lint import source

    host = LintHost.of_root(Path("/"))
    checked = 0
    for path in catalogue.SYSFS_DEFAULTS:
        want, _ = source.sysfs_default(host, path)
        try:
            text = Path(path).read_text()
        except OSError:
            continue  # debugfs not mounted, or THP not built
        shown = re.search(r"\[(\w+)\]", text)
        assert (shown[1] if shown else text.strip()) == want, path
        checked += 1
    assert checked >= 2  # THP's files at least


def test_tuneds_version_decides_what_min_granularity_becomes(tmp_path):
    """TuneD 2.25 (commit 87ff27c, _dict_sched_knob_map) writes sched_min_granularity_ns as
    base_slice_ns on 6.6+; older TuneD writes the name EEVDF dropped."""
    from tunekit.host.facts import tuned_version

    lib = tmp_path / "usr/lib/python3/dist-packages/tuned"
    lib.mkdir(parents=True)
    (lib / "version.py").write_text("TUNED_VERSION_MAJOR = 2\nTUNED_VERSION_MINOR = 20\n")
    assert tuned_version(tmp_path) == (2, 20)
    assert tuned_version(tmp_path / "nothing") is None
    profile = "[scheduler]\nsched_min_granularity_ns=15000000"
    for tuned, want in (((2, 20), {"sched-knob-renamed": "dead"}), ((2, 25), {}), (None, None)):
        host = reference_host()
        host.tuned = tuned
        got = {f.rule: f.verdict for f in run(profile, "tuned", host).findings}
        assert got == (want if want is not None else {"sched-knob-renamed-tuned": "risky"}), got


def test_the_installed_tuned_maps_the_knobs_as_its_version_says():
    """The real TuneD (Debian's package): its scheduler plug-in has the 6.6 map exactly when
    tuned_version says 2.25 or later."""
    from tunekit.host.facts import tuned_version

    version = tuned_version(Path("/"))
    require_tool("tuned-adm")
    assert version is not None, "tuned-adm is installed but no tuned/version.py was found"
    plugins = list(Path("/usr/lib").glob("python3*/*-packages/tuned/plugins/plugin_scheduler.py"))
    assert plugins, "TuneD's scheduler plug-in not found"
    assert ("_dict_sched_knob_map" in plugins[0].read_text()) == (version >= (2, 25))


def test_ip_forward_is_conf_all_forwarding_and_a_change_copies_it():
    """devinet.c: ip_forward's data is the "all" devconf's forwarding, and a write that
    changes it copies it to default and every interface (inet_forward_change)."""
    text = "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.forwarding = 1\n"
    text += "net.ipv4.conf.default.forwarding = 1\n"
    report = run(text)
    assert {f.line for f in report.findings if f.rule == "sets-what-is-there"} == {2, 3}
    # a write that changes nothing copies nothing: default keeps its own value
    again = "net.ipv4.conf.default.forwarding = 0\nnet.ipv4.ip_forward = 0\n"
    again += "net.ipv4.conf.default.forwarding = 1\n"
    report = run(again)
    assert 3 not in {f.line for f in report.findings if f.rule == "sets-what-is-there"}


def test_the_kernel_copies_forwarding_only_on_a_change():
    require_privileges()
    script = (
        "P=/proc/sys/net/ipv4; echo 1 > $P/ip_forward; "
        "cat $P/conf/all/forwarding $P/conf/default/forwarding $P/conf/lo/forwarding; "
        "echo 0 > $P/conf/default/forwarding; echo 1 > $P/ip_forward; "
        "cat $P/conf/default/forwarding"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert r.stdout.split() == ["1", "1", "1", "0"], r.stdout + r.stderr


def test_a_yaml_template_is_read_with_its_control_lines_blanked():
    """Terraform's templatefile (%{ if }) and Jinja ({% for %}) control lines are not YAML;
    the lines between them are read at their own line numbers."""
    from tunekit.host import confyaml

    text = "#cloud-config\n%{ if length(keys) > 0 }\nssh_authorized_keys:\n- ${key}\n"
    text += "%{ endif }\nruncmd:\n- sysctl -w net.ipv4.tcp_sack=0\n"
    parsed = confyaml.yaml_file(text, "user-data")
    assert not parsed.unread
    assert [(s.line, s.key) for s in parsed.settings] == [(7, "net.ipv4.tcp_sack")]
    broken = confyaml.yaml_file("a: [\n", "x.yml")
    assert broken.unread and not broken.settings


def test_a_binfmt_misc_file_is_not_a_missing_sysctl(tmp_path):
    """/proc/sys/fs/binfmt_misc is a filesystem systemd mounts on first use: its status
    file is absent until then, not dead (fs/binfmt_misc.c)."""
    conf = tmp_path / "x.conf"
    conf.write_text("fs.binfmt_misc.status = 0\n")
    host = LintHost.of_root(Path("/"))
    report = lint.lint([(str(conf), conf.read_text(), "sysctl.conf")], host)
    assert not [f for f in report.findings if f.verdict == "dead"], report.findings


ANSIBLE_FAILS = (
    "- name: recycle\n  sysctl:\n    name: net.ipv4.tcp_tw_recycle\n    value: '1'\n"  # 1-4
    "- name: timestamps\n  sysctl:\n    name: net.ipv4.tcp_timestamps\n    value: '0'\n"  # 5-8
    "- name: reuse\n  sysctl:\n    name: net.ipv4.tcp_tw_reuse\n    value: '1'\n"  # 9-12
)


def test_ansible_runs_no_task_after_one_that_fails():
    """A sysctl task whose key is gone fails (its `sysctl -p` reload exits 1), and Ansible
    runs no later task on that host: the later lines never run, and are not boot values
    (tw_reuse is not judged against the timestamps = 0 that never happens)."""
    report = run(ANSIBLE_FAILS, "yaml")
    got = {(f.line, f.rule) for f in report.findings}
    assert (4, "tw-recycle-removed") in got
    assert {line for line, rule in got if rule == "after-failed-task"} == {8, 12}
    assert not [f for f in report.findings if f.line in (8, 12) and f.rule != "after-failed-task"]


@pytest.mark.parametrize(
    "guard",
    ["  ignore_errors: true\n", "  failed_when: false\n", "  when: tune\n", "  sysctl:\n"],
)
def test_a_task_that_may_fail_quietly_stops_nothing(guard):
    text = ANSIBLE_FAILS.replace("- name: recycle\n", "- name: recycle\n" + guard, 1)
    if guard == "  sysctl:\n":  # the module's own -e
        text = ANSIBLE_FAILS.replace(
            "    value: '1'\n", "    value: '1'\n    ignoreerrors: yes\n", 1
        )
    got = {f.rule for f in run(text, "yaml").findings}
    assert "after-failed-task" not in got, got


def test_procps_exits_non_zero_on_a_missing_key(tmp_path):
    """What the sysctl module's reload sees (measured in a fresh namespace)."""
    require_privileges()
    require_tool("sysctl")
    conf = tmp_path / "x.conf"
    conf.write_text("net.ipv4.tcp_tw_recycle = 1\nnet.ipv4.tcp_fin_timeout = 30\n")
    r = subprocess.run(["unshare", "-n", "sysctl", "-p", str(conf)], capture_output=True, text=True)
    assert r.returncode != 0, r.stdout + r.stderr


# --- what an attack on the shell reader found (review 7) ---------------------------------

SAWP = "  echo 0 > /proc/sys/net/ipv4/tcp_sack\n"


@pytest.mark.parametrize(
    "text",
    [
        # a function the script calls, also called from one it never calls
        "apply() {\n" + SAWP + "}\nold() {\n  apply\n}\napply\n",
        # calls by a name built from an expansion
        "do_up() {\n" + SAWP + "}\ndo_$1\n",
        "tune_net() {\n" + SAWP + '}\nfor a in "$@"; do "tune_${a}"; done\n',
        # libraries: a guard, a default, a sourced plugin that may call anything
        '[ -n "$LOADED" ] && return 0\ntune() {\n' + SAWP + "}\n",
        ': "${X:=1}"\n. /etc/default/tune\ntune() {\n' + SAWP + "}\n",
        "tune() {\n" + SAWP + '}\nmain() { :; }\nmain\nfor p in /etc/t.d/*; do . "$p"; done\n',
        # a call after a quoted " #"
        "tune() {\n" + SAWP + '}\nmain() { :; }\nmain\nout=$(echo "pass #1"; tune)\n',
    ],
)
def test_a_function_the_script_may_call_is_never_called_dead(text):
    got = {f.rule: f.verdict for f in run(text, "script").findings}
    assert "never-called" not in got and got.get("feature-off") == "harmful", got


def test_a_function_that_calls_itself_reports_its_line_once():
    text = "rec() {\n" + SAWP + "  rec\n}\necho done\nmain() { :; }\nmain\n"
    lines = [f.line for f in run(text, "script").findings]
    assert lines == sorted(set(lines)), lines


@pytest.mark.parametrize(
    "opening",
    [
        "bash -euo pipefail <<'EOF'",
        "bash - <<'EOF'",
        "cat <<'EOF' | sudo bash",
        "sudo su <<'EOF'",
        "sudo -s <<'EOF'",
        "sudo -i <<'EOF'",
    ],
)
def test_more_shells_that_read_a_here_document_as_their_script(opening):
    text = opening + "\nsysctl -w net.ipv4.tcp_sack=0\nEOF\n"
    got = {(s.line, s.key) for s in confscript.script(text, "x.sh").settings}
    assert got == {(2, "net.ipv4.tcp_sack")}, got


def test_a_here_document_script_keeps_its_line_numbers():
    text = (
        'sudo bash <<EOF\necho "$(hostname)"\necho "$(date)"\nsysctl -w net.ipv4.tcp_sack=0\nEOF\n'
    )
    got = [(s.line, s.key) for s in confscript.script(text, "x.sh").settings]
    assert got == [(4, "net.ipv4.tcp_sack")], got


def test_a_file_loaded_then_moved_into_place_is_read_once():
    text = "cat > /tmp/t.conf <<EOF\nnet.core.netdev_max_backlog = 5000\nEOF\n"
    text += "sysctl -p /tmp/t.conf\nmv /tmp/t.conf /etc/sysctl.d/t.conf\n"
    assert [s.line for s in confscript.script(text, "x.sh").settings if s.kind == "sysctl"] == [2]


def test_module_values_in_quotes_types_of_one_architecture_and_built_in_modules():
    assert fired('options nbd nbds_max="16"', "modprobe.d").get("param-value-rejected") is None
    # x86's kvm has no `nested` (s390's has an int one): not typed, not judged
    assert "param-value-rejected" not in fired("options kvm nested=Y", "modprobe.d")
    # loop is built into the reference host: the option never reaches it
    got = fired("options loop max_loop=1_6", "modprobe.d")
    assert got == {"options-built-in": "no-op"}, got


def test_octal_is_claimed_only_for_keys_the_kernel_reads_as_numbers():
    assert "octal-value" not in fired("kernel.hostname = 0100")
    assert "octal-value" not in fired("net.core.rps_default_mask = 0010")
    assert fired("vm.swappiness = 010").get("octal-value") == "syntax"


def test_a_sysfs_default_after_another_write_and_in_an_including_profile_is_no_no_op():
    thp = "/sys/kernel/mm/transparent_hugepage/defrag"
    text = f"echo always > {thp}\necho madvise > {thp}\n"
    assert "sysfs-is-default" not in fired(text, "script")
    profile = "[main]\ninclude=throughput-performance\n[scheduler]\nsched_migration_cost_ns=500000"
    assert "sysfs-is-default" not in fired(profile, "tuned")


def test_udp_mem_is_held_to_udps_own_share():
    why = next(
        f.why
        for f in run("net.ipv4.udp_mem = 786432 2097152 4194304").findings
        if f.rule == "mem-over-half"
    )
    assert "18.75 %" in why


def _fresh_namespace_write(key: str, text: str) -> str:
    """'taken' or 'refused': what the kernel does with `text` written to a per-namespace
    key in a throw-away network namespace."""
    require_privileges()
    path = "/proc/sys/" + key.replace(".", "/")
    r = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"printf %s '{text}' > {path} && echo taken || echo refused"],
        capture_output=True,
        text=True,
    )
    return r.stdout.split()[-1] if r.stdout.split() else r.stderr


@pytest.mark.parametrize("key", ["net.ipv4.tcp_ecn", "net.ipv4.tcp_notsent_lowat"])
def test_an_unsigned_handler_refuses_minus_zero(key):
    """do_proc_douintvec_w refuses any minus sign; lint says so, and so does the kernel."""
    assert fired(f"{key} = -0").get("out-of-range") == "dead"
    assert _fresh_namespace_write(key, "-0") == "refused"


def test_neighbour_gc_interval_is_read_nowhere_and_key_value_lists_are_settings():
    assert fired("net.ipv4.neigh.default.gc_interval = 60").get("no-effect") == "no-op"
    text = 'opts:\n  - { key: "net.ipv4.tcp_sack", value: 0 }\n'
    assert fired(text, "yaml").get("feature-off") == "harmful"


def test_obsolete_thresholds_and_a_replaced_cmd():
    # still the lower bound of ipfrag_high_thresh: deleting it can make that write fail
    assert "no-effect" not in fired("net.ipv4.ipfrag_low_thresh = 31457280")
    assert fired("net.ipv6.xfrm6_gc_thresh = 1024").get("no-effect") == "no-op"
    text = "FROM alpine\nCMD ulimit -n 1024\nCMD exec app\n"
    assert fired(text, "dockerfile") == {"cmd-replaced": "dead"}
    assert confparse.detect(text) == "dockerfile"  # FROM first, then a CMD


def test_zone_reclaim_and_oom_kill_allocating_task_are_documented_trades():
    assert fired("vm.zone_reclaim_mode = 1").get("mode-cost") == "risky"
    assert fired("vm.oom_kill_allocating_task = 1").get("mode-cost") == "risky"
    assert "mode-cost" not in fired("vm.zone_reclaim_mode = 0")


def test_f_rto_off_and_loopback_routed_from_the_link_are_documented_trades():
    assert fired("net.ipv4.tcp_frto = 0").get("mode-cost") == "risky"
    assert fired("net.ipv4.tcp_frto = 2") == {"sets-what-is-there": "no-op"}
    assert fired("net.ipv4.conf.all.route_localnet = 1").get("mode-cost") == "risky"
    assert "mode-cost" not in fired("net.ipv4.conf.all.route_localnet = 0")
    assert fired("net.ipv4.ip_no_pmtu_disc = 1").get("mode-cost") == "risky"
    assert "mode-cost" not in fired("net.ipv4.ip_no_pmtu_disc = 0")
    # a finite challenge-ACK limit turns on what ip-sysctl says should not be enabled
    limit = "net.ipv4.tcp_challenge_ack_limit = {}"
    assert fired(limit.format(9999)).get("against-the-documentation") == "risky"
    assert "against-the-documentation" not in fired(limit.format(2147483647))


def test_f_rto_is_on_and_loopback_is_martian_in_a_fresh_namespace():
    """The defaults the two trades are judged against, on the running kernel."""
    require_privileges()
    keys = [
        "net.ipv4.tcp_frto",
        "net.ipv4.conf.all.route_localnet",
        "net.ipv4.ip_no_pmtu_disc",
        "net.ipv4.tcp_challenge_ack_limit",
    ]
    r = subprocess.run(["unshare", "-n", "sysctl", "-n", *keys], capture_output=True, text=True)
    assert r.stdout.split() == [K.lookup(k).default for k in keys], r.stdout + r.stderr


@pytest.mark.parametrize(
    "text",
    [
        # a loop whose first item fails: Ansible runs the other items
        "- sysctl:\n    name: '{{ item.k }}'\n    value: '{{ item.v }}'\n  loop:\n"
        "    - {k: net.ipv4.tcp_tw_recycle, v: 1}\n    - {k: net.ipv4.tcp_sack, v: 0}\n",
        # an always: block runs after a failure
        "- block:\n  - sysctl: {name: net.ipv4.tcp_tw_recycle, value: '1'}\n  always:\n"
        "  - sysctl: {name: net.ipv4.tcp_sack, value: '0'}\n",
        # octal is a syntax finding, but the write succeeds: nothing stops
        "- sysctl: {name: net.core.somaxconn, value: '01000'}\n"
        "- sysctl: {name: net.ipv4.tcp_sack, value: '0'}\n",
        # sysctl_set without reload: a missing key is skipped, the task succeeds
        "- sysctl: {name: net.ipv4.tcp_tw_recycle, value: '1', reload: no, sysctl_set: yes}\n"
        "- sysctl: {name: net.ipv4.tcp_sack, value: '0'}\n",
    ],
)
def test_what_does_not_stop_an_ansible_play(text):
    got = {(f.key, f.rule) for f in run(text, "yaml").findings}
    assert ("net.ipv4.tcp_sack", "feature-off") in got, got
    assert not [r for _, r in got if r == "after-failed-task"], got


def test_dockerfile_cmds_are_counted_per_stage_and_not_in_a_healthcheck():
    health = "FROM alpine\nHEALTHCHECK --interval=5s \\\n  CMD ulimit -n 1024\nCMD exec app\n"
    assert "cmd-replaced" not in fired(health, "dockerfile")
    stages = "FROM alpine AS dev\nCMD ulimit -n 4096\nFROM alpine AS prod\nCMD exec app\n"
    assert "cmd-replaced" not in fired(stages, "dockerfile")
    exec_form = 'FROM alpine\nCMD ulimit -n 1024\nCMD ["app"]\n'
    assert fired(exec_form, "dockerfile").get("cmd-replaced") == "dead"


def test_a_replaced_cmds_continuation_lines_and_a_shell_form_entrypoint():
    text = "FROM alpine\nCMD sysctl -w net.core.somaxconn=4096 && \\\n"
    text += "    sysctl -w net.ipv4.tcp_sack=0\nCMD exec app\n"
    got = {(f.key, f.rule) for f in run(text, "dockerfile").findings}
    assert ("net.ipv4.tcp_sack", "cmd-replaced") in got, got  # on the continuation line
    # under a shell-form ENTRYPOINT the last CMD is ignored too; in the exec form it is not
    shell = "FROM alpine\nENTRYPOINT exec app\nCMD ulimit -n 1024\n"
    assert fired(shell, "dockerfile") == {"cmd-ignored": "dead"}
    assert fired(shell.replace("exec app", '["app"]'), "dockerfile") == {}
    # the ENTRYPOINT of another stage does not decide this one's CMD
    stages = "FROM alpine AS a\nENTRYPOINT exec app\nFROM alpine\nCMD ulimit -n 1024\n"
    assert fired(stages, "dockerfile") == {}


def test_template_branches_do_not_override_each_other():
    text = "#cloud-config\nruncmd:\n%{ if big }\n- sysctl -w net.core.somaxconn=8192\n"
    text += "%{ else }\n- sysctl -w net.core.somaxconn=2048\n%{ endif }\n"
    assert "overridden" not in fired(text, "yaml")


def test_a_fragment_high_threshold_below_the_low_one_is_refused():
    """ip_fragment.c: high_thresh's extra1 is &low_thresh (3 MiB in a fresh namespace)."""
    assert fired("net.ipv4.ipfrag_high_thresh = 2097152").get("frag-high-below-low") == "dead"
    both = "net.ipv4.ipfrag_low_thresh = 1048576\nnet.ipv4.ipfrag_high_thresh = 2097152\n"
    assert "frag-high-below-low" not in fired(both)  # the order of the two decides: not claimed
    assert _fresh_namespace_write("net.ipv4.ipfrag_high_thresh", "2097152") == "refused"


def test_a_bridge_key_in_sysctl_conf_needs_br_netfilter_loaded_at_boot():
    """sysctl.d(5), examples 2 and 3: the key exists only once the module is loaded."""
    got = fired("net.bridge.bridge-nf-call-iptables = 1")
    assert got.get("module-not-loaded-at-boot") == "risky", got
    assert "module-not-loaded-at-boot" not in fired(
        "net.bridge.bridge-nf-call-iptables = 1", modules={"br_netfilter"}
    )


def test_an_initialiser_with_the_attribute_before_the_name_is_read():
    from tunekit.knowledge import kernel_sysctls

    reg = kernel_sysctls.known()["kernel.sched_autogroup_enabled"]
    assert reg.init == "1"  # unsigned int __read_mostly sysctl_sched_autogroup_enabled = 1;


def test_a_huge_number_in_a_module_option_is_refused_not_a_crash():
    """5,000 digits: kstrto* overflows (ERANGE), and Python's int() would refuse to parse it."""
    got = fired("options nbd nbds_max=" + "9" * 5000, "modprobe.d")
    assert got.get("param-value-rejected") == "harmful", got


def test_a_huge_page_pool_as_large_as_the_ram_is_harmful():
    # the reference host: 24 GiB of RAM, huge pages of 2 MiB
    assert fired("vm.nr_hugepages = 12288").get("hugepages-over-ram") == "harmful"  # 24 GiB
    assert "hugepages-over-ram" not in fired("vm.nr_hugepages = 12287")
    # the running kernel's own size is what the rule counts in
    from tunekit.lint.host import Host

    size = Host.of_root(Path("/")).hugepage_bytes
    text = Path("/proc/meminfo").read_text()
    assert size == int(re.search(r"Hugepagesize:\s+(\d+) kB", text)[1]) * 1024


def test_keepalive_without_probes_kills_idle_connections():
    assert fired("net.ipv4.tcp_keepalive_probes = 0").get("keepalive-probes-zero") == "harmful"
    assert "keepalive-probes-zero" not in fired("net.ipv4.tcp_keepalive_probes = 1")
    # measured in a throw-away namespace: an idle, healthy loopback connection with
    # SO_KEEPALIVE (idle 1 s) is reset at its first check with 0 probes, and lives with 9
    assert _keepalive_survives("0") == "ETIMEDOUT"
    assert _keepalive_survives("9") == "alive"


_KEEPALIVE_PROBE = """
import errno, socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
open("/proc/sys/net/ipv4/tcp_keepalive_probes", "w").write(sys.argv[1])
srv = socket.create_server(("127.0.0.1", 0))
cli = socket.create_connection(srv.getsockname())
peer, _ = srv.accept()
cli.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
time.sleep(3)
err = cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print(errno.errorcode.get(err, "alive") if err else "alive")
"""


def _keepalive_survives(probes: str) -> str:
    require_privileges()
    r = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _KEEPALIVE_PROBE, probes],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_services_default_open_files_limit_below_systemds_is_lowered():
    manager = "[Manager]\nDefaultLimitNOFILE={}\n"
    rule = "services-limit-lowered"
    assert fired(manager.format("100"), "system.conf").get(rule) == "risky"
    # the hard limit every service gets from systemd v240+ is 524288, whatever the PID 1
    # of the host lint runs on: a system.conf is systemd's
    assert fired(manager.format("1024:4096"), "system.conf").get(rule) == "risky"
    assert fired(manager.format("1024:4096"), "system.conf", systemd=False).get(rule) == "risky"
    assert rule not in fired(manager.format("1024:1048576"), "system.conf")
    # the two rules' fixes agree: following default-soft-nofile's fix fires neither
    found = run(manager.format("65536"), "system.conf").findings
    fix = next(f.fix for f in found if f.rule == "default-soft-nofile")
    value = re.search(r"DefaultLimitNOFILE=(\S+?),", fix)[1]
    assert fired(manager.format(value), "system.conf") == {}, value


def test_androids_write_verb_in_a_shell_script_writes_nothing(tmp_path):
    text = "#!/system/bin/sh\nwrite /proc/sys/net/core/somaxconn 4096\n"
    assert fired(text, "script").get("init-verb-in-shell") == "dead"
    sysfs = "#!/bin/sh\nwrite /sys/kernel/mm/transparent_hugepage/enabled never\n"
    assert fired(sysfs, "script").get("init-verb-in-shell") == "dead"
    # a script that defines write() itself: its calls are that function's
    defined = '#!/bin/sh\nwrite() { echo "$2" > "$1"; }\nwrite /proc/sys/net/ipv4/tcp_sack 0\n'
    assert fired(defined, "script") == {"feature-off": "harmful"}
    # a subshell body, or a helper the script sources, may define it: no claim
    subshell = '#!/bin/sh\nwrite() ( echo "$2" > "$1" )\nwrite /proc/sys/net/ipv4/tcp_sack 0\n'
    assert fired(subshell, "script") == {"feature-off": "harmful"}
    sourced = "#!/bin/sh\n. $MODDIR/util_functions.sh\nwrite /proc/sys/net/ipv4/tcp_sack 0\n"
    assert "init-verb-in-shell" not in fired(sourced, "script")
    # what the shell runs: write(1), a message to a user (or no such command): the file
    # named is not written
    target = tmp_path / "somaxconn"
    target.write_text("128\n")
    r = subprocess.run(["sh", "-c", f"write {target} 4096"], capture_output=True)
    assert r.returncode != 0 and target.read_text() == "128\n"


def test_a_stack_limit_written_in_bytes():
    assert fired("#!/bin/sh\nulimit -s 8388608\n", "script").get("stack-in-bytes") == "units"
    assert fired("* soft stack 8388608\n", "limits.conf").get("stack-in-bytes") == "units"
    assert "stack-in-bytes" not in fired("#!/bin/sh\nulimit -s unlimited\n", "script")
    assert "stack-in-bytes" not in fired("* soft stack 65536\n", "limits.conf")
    # a hard limit alone sizes no thread's stack (glibc reads the soft one): a ceiling
    assert "stack-in-bytes" not in fired("* hard stack 4194304\n", "limits.conf")
    assert "stack-in-bytes" not in fired("#!/bin/sh\nulimit -Hs 4194304\n", "script")
    # bash counts -s in KiB: 4096 set is 4 MiB in the process's RLIMIT_STACK (measured)
    r = subprocess.run(
        ["bash", "-c", "ulimit -S -s 4096 && ulimit -S -s"], capture_output=True, text=True
    )
    assert r.stdout.strip() == "4096"
    r = subprocess.run(
        [
            "bash",
            "-c",
            "ulimit -S -s 4096 && exec python3 -c "
            "'import resource; print(resource.getrlimit(resource.RLIMIT_STACK)[0])'",
        ],
        capture_output=True,
        text=True,
    )
    assert r.stdout.strip() == str(4096 * 1024)


def test_swappiness_zero_is_a_documented_trade():
    assert fired("vm.swappiness = 0").get("mode-cost") == "risky"
    assert "mode-cost" not in fired("vm.swappiness = 10")


def test_printf_prints_its_arguments_through_its_format():
    from tunekit.host.shwords import printf

    text = "#!/bin/sh\nprintf '%s\\n' 'net.ipv4.tcp_sack = 0' >> /etc/sysctl.conf\n"
    assert fired(text, "script") == {"feature-off": "harmful"}
    # the format is used again while arguments remain, as the shell's printf does
    r = subprocess.run(["sh", "-c", "printf '%s = %s\\n' a 1 b 2"], capture_output=True, text=True)
    assert printf(["%s = %s\\n", "a", "1", "b", "2"]) == r.stdout == "a = 1\nb = 2\n"
    assert (
        printf(["100%%\\tx\\n"])
        == subprocess.run(
            ["sh", "-c", "printf '100%%\\tx\\n'"], capture_output=True, text=True
        ).stdout
    )


def test_a_unit_drop_in_written_by_a_script_is_read():
    text = "#!/bin/sh\nmkdir -p /etc/systemd/system/app.service.d\n"
    text += "printf '[Service]\\nLimitNOFILE=100\\n' > /etc/systemd/system/app.service.d/l.conf\n"
    assert fired(text, "script").get("limit-lowered") == "risky"


def test_sed_in_place_puts_its_replacement_into_the_file(tmp_path):
    sub = "s/^net.ipv4.tcp_sack.*/net.ipv4.tcp_sack = 0/"
    assert fired(f"#!/bin/sh\nsed -i '{sub}' /etc/sysctl.conf\n", "script") == {
        "feature-off": "harmful"
    }
    appended = "#!/bin/sh\nsed -i '/^#/a net.ipv4.tcp_sack = 0' /etc/sysctl.conf\n"
    assert fired(appended, "script") == {"feature-off": "harmful"}
    # without -i sed prints and changes nothing; a replacement made of the match is unknown
    assert fired(f"#!/bin/sh\nsed '{sub}' /etc/sysctl.conf\n", "script") == {}
    assert fired("#!/bin/sh\nsed -i 's/^x.*/&1/' /etc/sysctl.conf\n", "script") == {}
    # a replacement of part of the line keeps the rest, which only the file knows; a
    # script file (-f) is not opened
    for partial in ("s/^#net.ipv4.ip_forward/net.ipv4.ip_forward/", "s/=0/=1/"):
        assert fired(f"#!/bin/sh\nsed -i '{partial}' /etc/sysctl.conf\n", "script") == {}
    assert fired("#!/bin/sh\nsed -i -f add.sed /etc/sysctl.conf\n", "script") == {}
    changed = "#!/bin/sh\nsed -i '/tcp_sack/c net.ipv4.tcp_sack = 0' /etc/sysctl.conf\n"
    assert fired(changed, "script") == {"feature-off": "harmful"}
    manager = "#!/bin/sh\nsed -i 's/^#*DefaultLimitNOFILE=.*/DefaultLimitNOFILE=100/' "
    rule = "services-limit-lowered"
    assert fired(manager + "/etc/systemd/system.conf\n", "script").get(rule) == "risky"
    # what GNU sed does with the same command, on a copy
    conf = tmp_path / "sysctl.conf"
    conf.write_text("net.ipv4.tcp_sack = 1\n")
    subprocess.run(["sed", "-i", sub, str(conf)], check=True)
    assert conf.read_text() == "net.ipv4.tcp_sack = 0\n"
    # `$a` (append after the last line; GNU sed allows a blank after the address): the $
    # is sed's, in single quotes, not a value only the script's run knows
    for script in ("$a net.ipv4.tcp_sack = 0", "$ a net.ipv4.tcp_sack = 0"):
        assert fired(f"#!/bin/sh\nsed -i '{script}' /etc/sysctl.conf\n", "script") == {
            "feature-off": "harmful"
        }, script
        conf.write_text("vm.swappiness = 10\n")
        subprocess.run(["sed", "-i", script, str(conf)], check=True)
        assert conf.read_text().splitlines()[-1] == "net.ipv4.tcp_sack = 0"
    # `$a\` with no text: the idiom that ends the file with a newline, adding no line
    idiom = "#!/bin/sh\nsed -i -e '$a\\' /etc/sysctl.conf\n"
    assert confscript.script(idiom, "x.sh").settings == []
    conf.write_text("vm.swappiness = 10")
    subprocess.run(["sed", "-i", "-e", "$a\\", str(conf)], check=True)
    assert conf.read_text() == "vm.swappiness = 10\n"
    # GNU sed joins -e scripts with newlines: `-e '$a\' -e TEXT` appends TEXT
    two = "#!/bin/sh\nsed -i -e '$a\\' -e 'net.ipv4.tcp_sack = 0' /etc/sysctl.conf\n"
    assert fired(two, "script") == {"feature-off": "harmful"}
    conf.write_text("vm.swappiness = 10\n")
    subprocess.run(
        ["sed", "-i", "-e", "$a\\", "-e", "net.ipv4.tcp_sack = 0", str(conf)], check=True
    )
    assert conf.read_text().splitlines()[-1] == "net.ipv4.tcp_sack = 0"
    # in double quotes the shell expands $a (unset here): only the run knows the line
    assert fired('#!/bin/sh\nsed -i "$a net.ipv4.tcp_sack = 0" /etc/sysctl.conf\n', "script") == {}


@pytest.mark.parametrize(
    "text, rules",
    [
        # an exec-form ENTRYPOINT on a continuation line passes CMD on
        ('FROM alpine\nENTRYPOINT \\\n  ["/entry.sh"]\nCMD ulimit -n 1024\n', {}),
        # a shell-form ENTRYPOINT that hands on "$0" "$@" runs the CMD (moby appends it)
        ('FROM alpine\nENTRYPOINT exec "$0" "$@"\nCMD ulimit -n 1024\n', {}),
        # single quotes are not JSON: Docker runs that ENTRYPOINT in the shell form
        ("FROM alpine\nENTRYPOINT ['/entry.sh']\nCMD ulimit -n 1024\n", {"cmd-ignored": "dead"}),
        # a stage FROM an earlier one inherits its ENTRYPOINT
        (
            "FROM alpine AS base\nENTRYPOINT exec /entry.sh\nFROM base\nCMD ulimit -n 1024\n",
            {"cmd-ignored": "dead"},
        ),
    ],
)
def test_what_decides_whether_the_last_cmd_runs(text, rules):
    assert fired(text, "dockerfile") == rules


def test_a_never_run_cmd_gets_no_build_time_finding_and_keeps_its_lines_past_a_comment():
    text = "FROM alpine\nCMD ulimit -n 1024 && \\\n# raise it\n"
    text += "    sysctl -w net.ipv4.tcp_sack=0\nCMD exec app\n"
    got = {(f.key, f.rule) for f in run(text, "dockerfile").findings}
    assert got == {("nofile", "cmd-replaced"), ("net.ipv4.tcp_sack", "cmd-replaced")}, got
    shell = "FROM alpine\nENTRYPOINT exec app\nCMD sysctl -w net.ipv4.tcp_sack=0\n"
    assert fired(shell, "dockerfile") == {"cmd-ignored": "dead"}  # not image-sysctl as well


def test_a_line_no_dockerfile_instruction_starts_fails_the_build():
    """`&& echo ...` after a RUN whose line lost its backslash: buildkit stops with
    "unknown instruction"; the body of a RUN here-document and a comment inside a
    continued RUN are no instructions."""
    text = "\n".join(
        [
            "FROM debian",  # 1
            "RUN apt-get update \\",  # 2
            "    && echo x > /etc/motd",  # 3: the backslash is missing here
            "    && echo 1 > /proc/sys/net/ipv4/ip_forward",  # 4
            "RUN <<EOF",  # 5
            "sysctl -w net.ipv4.tcp_sack=0",  # 6: the here-document is RUN's script
            "EOF",  # 7
            "RUN true \\",  # 8
            "# a comment",  # 9
            "    && sysctl -w net.ipv4.tcp_dsack=0",  # 10
        ]
    )
    got = {(f.line, f.rule) for f in run(text, "dockerfile").findings}
    assert (4, "dockerfile-unknown-instruction") in got, got
    assert not [g for g in got if g[0] != 4 and g[1] == "dockerfile-unknown-instruction"], got
    # the RUN here-document is the script the build runs: read, and the image's
    assert (6, "image-sysctl") in got, got
    python = 'FROM alpine\nRUN <<EOF\n#!/usr/bin/env python3\nprint("sysctl -w net.ipv4.tcp_sack=0")\nEOF\n'
    assert fired(python, "dockerfile") == {}  # its interpreter is no shell
    # `# escape=``: a Windows image's lines go on after a backtick; not judged as broken
    windows = "# escape=`\nFROM servercore\nRUN echo a `\n    && echo 1 > /proc/sys/x/y\n"
    assert "dockerfile-unknown-instruction" not in fired(windows, "dockerfile")


def test_tcp_mem_copied_from_a_buffer_triple_is_units_and_not_the_other_way():
    copied = "net.ipv4.tcp_rmem = 4096 87380 16777216\nnet.ipv4.tcp_mem = 4096 87380 16777216\n"
    assert fired(copied).get("mem-copied-from-buffers") == "units"
    # tcp_mem's own textbook pages copied into tcp_rmem: the tcp_mem line is the right one
    other = (
        "net.ipv4.tcp_rmem = 786432 1048576 1572864\nnet.ipv4.tcp_mem = 786432 1048576 1572864\n"
    )
    assert "mem-copied-from-buffers" not in fired(other)


def test_shmall_counts_pages():
    # the reference host: 24 GiB of RAM, 6291456 pages; shmmax's bytes copied into shmall
    same = "kernel.shmmax = 268435456\nkernel.shmall = 268435456\n"
    assert fired(same).get("shmall-in-bytes") == "units"
    # RHEL 6's own sysctl.conf: shmall 4294967296 pages, meant as "no limit": not units
    rhel = "kernel.shmmax = 68719476736\nkernel.shmall = 4294967296\n"
    assert "shmall-in-bytes" not in fired(rhel)
    both = "kernel.shmmax = 68719476736\nkernel.shmall = {}\n"
    assert fired(both.format(4194304)).get("shmall-below-shmmax") == "risky"
    assert "shmall-below-shmmax" not in fired(both.format(16777216))
    assert "shmall-below-shmmax" not in fired("kernel.shmall = 4194304")  # shmmax not set


def test_a_key_without_its_tree_names_no_file(tmp_path):
    assert fired("tcp_sack = 1") == {"bare-name": "dead"}
    # procps, in a throw-away namespace: no such file, exit 1
    require_privileges()
    conf = tmp_path / "bare.conf"
    conf.write_text("tcp_sack = 1\n")
    r = subprocess.run(["unshare", "-n", "sysctl", "-p", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot stat /proc/sys/tcp_sack" in r.stderr


def test_a_string_that_opens_after_a_continuation_keeps_its_lines():
    text = '#!/bin/bash\necho \\\n"# header\nnet.ipv4.tcp_sack = 0\nnet.ipv4.tcp_dsack = 1" > /etc/sysctl.conf\n'
    got = {(f.line, f.key) for f in run(text, "script").findings}
    assert (4, "net.ipv4.tcp_sack") in got, got


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_printf_prints_as_the_shells_printf(shell):
    from tunekit.host.shwords import printf

    require_tool(shell)
    cases = [
        ["%s\\n", "a", "b"], ["%05d\\n", "4096"], ["%d\\n", "010"], ["%x\\n", "255"],
        ["%.2s\\n", "abcdef"], ["a\\cb"], ["--", "%s\\n", "x"], ["%s = %d\\n", "k", "0x10"],
        ["%-6s|\\n", "ab"], ["%b\\n", "a\\tb\\cz"], ["100%%\\n"], ["%s %s\\n", "a"],
        ["%o\\n", "8"], ["%c\\n", "xyz"], ["\\101\\n"], ["%5.1s|\\n", "abc"], ["%d\\n", "abc"],
        ["%i\\n", "-5"], ["%+d\\n", "5"], ["%u\\n", "-1"],
    ]  # fmt: skip
    for case in cases:
        quoted = " ".join(shlex.quote(a) for a in case)
        r = subprocess.run([shell, "-c", f"printf {quoted}"], capture_output=True, text=True)
        assert printf(case) == r.stdout, case
    # a hostile line stops at MAX_PRINTED characters instead of building gigabytes
    from tunekit.host.shwords import MAX_PRINTED

    assert len(printf(["%s%s\\n", *["x" * 100] * 50000])) == MAX_PRINTED


def test_a_script_that_writes_root_files_without_sudo_runs_as_root():
    text = "#!/bin/bash\nsudo echo never > /sys/kernel/mm/transparent_hugepage/enabled\n"
    assert fired(text, "script").get("sudo-redirect") == "dead"
    text += "cat >> /etc/security/limits.conf <<EOF\n* soft nofile 65535\nEOF\n"
    assert "sudo-redirect" not in fired(text, "script")  # limits.conf: only root writes it


def test_a_line_echoed_onto_system_conf_lands_in_manager_and_bare_names_in_scripts():
    text = "#!/bin/sh\necho 'DefaultLimitNOFILE=100' >> /etc/systemd/system.conf\n"
    assert fired(text, "script").get("services-limit-lowered") == "risky"
    assert fired("#!/bin/sh\nsysctl -w tcp_sack=1\n", "script") == {"bare-name": "dead"}
    assert fired("#!/bin/sh\necho 1 > /proc/sys/tcp_sack\n", "script") == {"bare-name": "dead"}


def test_su_exec_and_gosu_open_no_pam_session():
    base = "FROM alpine\nRUN echo '* soft nofile 65536' >> /etc/security/limits.conf\n"
    assert fired(base + 'CMD ["su-exec", "app", "/run"]\n', "dockerfile").get("image-limits")
    assert "image-limits" not in fired(base + 'CMD ["su", "-", "app"]\n', "dockerfile")


def test_pid_max_below_the_kernels_minimum_is_refused():
    assert fired("kernel.pid_max = 100").get("out-of-range") == "dead"
    assert "out-of-range" not in fired("kernel.pid_max = 4096")


def test_each_command_of_a_backslash_joined_line_is_reported_on_its_own_line():
    text = "#!/bin/sh\nsysctl -w net.core.somaxconn=4096 && \\\n"
    text += "    sysctl -w net.ipv4.tcp_sack=0 && \\\n    echo done\n"
    got = {(f.line, f.key) for f in run(text, "script").findings}
    assert (3, "net.ipv4.tcp_sack") in got, got
    # a backslash inside quotes joins the string, not the commands
    quoted = '#!/bin/sh\necho "net.ipv4.tcp_sack = 0 \\\nx" > /dev/null && sysctl -w net.ipv4.tcp_dsack=0\n'
    assert {f.line for f in run(quoted, "script").findings} <= {2}


def test_a_backslash_newline_is_removed_as_bash_removes_it(tmp_path):
    # in the middle of a word the two lines are one word, as bash runs them
    split = "#!/bin/sh\nsysctl -w net.ipv4.tcp_sack=\\\n0\n"
    assert fired(split, "script") == {"feature-off": "harmful"}
    out = tmp_path / "o"
    subprocess.run(["bash", "-c", f"echo net.ipv4.tcp_sack=\\\n0 > {out}"], check=True)
    assert out.read_text() == "net.ipv4.tcp_sack=0\n"
    # a \x01 of the file's own is no line marker, and no digit either
    marked = "#!/bin/sh\necho a && \\\n\x017 sysctl -w net.ipv4.tcp_sack=0\n"
    assert {f.line for f in run(marked, "script").findings} <= {3}
