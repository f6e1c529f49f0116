"""tunekit lint: every rule on a line that triggers it and one that must not, the guides'
tuning blocks, a realistic fake /etc, the command line, and the real kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, require_privileges, require_tool, run_tunekit, sysctl_files, write_tree
from lint_reference import GIB, reference_host, rules_fired, run

from tunekit.host import confparse
from tunekit.knowledge import catalogue
from tunekit.lint import engine as lint
from tunekit.lint import inputs
from tunekit.lint import rules as lint_rules
from tunekit.lint.host import Host as LintHost
from tunekit.lint.report import LintReport as Lint

GUIDES = REPO / "tests" / "fixtures" / "guides"  # copied from the guides this project started from
KNOW = lint_rules.knowledge()

# --- the rules file -------------------------------------------------------------------


def test_the_rules_cover_the_keys_the_guides_carry():
    sysctls = [k for k in catalogue.KEYS.values() if k.kind != "rlimit"]
    assert len(sysctls) >= 60
    assert all(k.scope in ("global", "netns") for k in sysctls)
    keys_with_rules = {k for r in KNOW.rules for k in r.keys if r.kinds == ("sysctl",)}
    assert len(keys_with_rules) >= 30


def _profile(name: str):
    """The profile's targets as `lint --profile` resolves them (pinned and derived)."""
    from tunekit.ops import audit

    prof, why = audit.load_profile(name, None, Path("/nonexistent"))
    return prof.name, audit.run(prof, why, state=Path("/nonexistent")).targets


@pytest.mark.parametrize("rule", KNOW.rules, ids=lambda r: r.id)
def test_each_rule_fires_on_its_example_and_not_on_the_line_that_is_fine(rule):
    ex = rule.examples
    fmt = ex.get("example_format", "sysctl.conf")
    container = bool(ex.get("example_container"))
    systemd = ex.get("example_systemd")
    profile = _profile(ex["example_profile"]) if "example_profile" in ex else None
    bad = run(
        ex["example"],
        fmt,
        reference_host(ex.get("example_kernel", "6.18"), container, systemd=systemd),
        profile=profile,
    )
    assert rule.id in rules_fired(bad), [(f.rule, f.why) for f in bad.findings]
    fired = next(f for f in bad.findings if f.rule == rule.id)
    assert fired.verdict == rule.verdict and "?" not in fired.why and "?" not in fired.fix
    good = run(
        ex["example_ok"],
        fmt,
        reference_host(
            ex.get("example_ok_kernel", ex.get("example_kernel", "6.18")),
            container,
            systemd=systemd,
        ),
        profile=profile,
    )
    assert rule.id not in rules_fired(good), [(f.rule, f.why) for f in good.findings]


def test_a_rule_that_reaches_outside_the_language_is_refused(tmp_path):
    base = (lint_rules.RULES_FILE).read_text()
    for bad in ("__import__('os').system('x')", "value.__class__", "open('/etc/passwd')"):
        path = tmp_path / "rules.toml"
        path.write_text(
            base + f'\n[[rule]]\nid = "evil"\nkey = "x.y"\nwhen = "{bad}"\nverdict = "risky"\n'
            'why = "w"\nfix = "f"\nsource = "s"\nexample = "x.y = 1"\nexample_ok = "x.z = 1"\n'
        )
        with pytest.raises(lint_rules.RulesError):
            lint_rules.load_rules(path)


def test_a_rule_without_its_texts_or_with_an_unknown_verdict_is_refused(tmp_path):
    base = (lint_rules.RULES_FILE).read_text()
    path = tmp_path / "rules.toml"
    path.write_text(base + '\n[[rule]]\nid = "x"\nverdict = "awful"\nwhy = "w"\n')
    with pytest.raises(lint_rules.RulesError, match="required|verdict"):
        lint_rules.load_rules(path)


# --- the guides -------------------------------------------------------------------------

GUIDE_FINDINGS = {
    "client-limits.conf": set(),
    "client-sysctl.conf": {
        (1, "lowers-a-limit"),  # file-max 100,000: 10% of 24 GiB is 2.4 million
        (2, "lowers-a-limit"),  # nr_open 100,000 < 1,048,576
        (4, "tw-recycle-removed"),
        (5, "lowers-a-limit"),  # optmem_max 8192 < 128 KiB (and zerocopy is bound by it)
        (6, "lowers-a-limit-never-lower"),
        (7, "lowers-a-limit-never-lower"),
        (3, "against-the-documentation"),  # tw_reuse: "not ... without ... technical experts"
        (8, "range-takes-service-ports"),  # 1024-32767 handed out, nothing reserved
    },
    "host-sysctl.conf": {(1, "conntrack-alias"), (1, "conntrack-not-loaded-at-boot")},
    "loadgen-sysctl-w.sh": {
        (2, "sets-what-is-there"),  # tcp_timestamps = 1 is the default
        (3, "tw-recycle-removed"),
        (4, "split-assignment"),
        (4, "port-range-parity"),
        (4, "range-takes-service-ports"),  # what was meant: 2000-32767, nothing reserved
    },
    "server-limits.conf": {(n, "nofile-above-nr-open") for n in (1, 2, 3, 4)},
    "server-sysctl.conf": {
        (5, "syncookies-off"),
        (8, "against-the-documentation"),  # tcp_tw_reuse = 1
        (9, "tw-recycle-removed"),
        (14, "sets-what-is-there"),  # 131,072 orphans: what 24 GiB gives at boot
        (20, "mem-beyond-ram"),
        (21, "buffer-start-tiny"),  # tcp_rmem 4096 4096: every socket starts with a page
        (21, "buffer-cap-lowered"),  # max 4206592, below the reference host's boot max
        (22, "buffer-start-tiny"),
    },
}


@pytest.mark.parametrize("name", sorted(GUIDE_FINDINGS))
def test_every_guide_line_that_is_wrong_is_named_and_nothing_else(name):
    path, text, fmt = inputs.read_input(str(GUIDES / name))
    report = lint.lint([(path, text, fmt)], reference_host())
    assert {(f.line, f.rule) for f in report.findings} == GUIDE_FINDINGS[name]


def test_the_server_guide_as_a_whole_raises_nr_open_for_its_own_limits():
    guide = [
        inputs.read_input(str(GUIDES / n)) for n in ("server-sysctl.conf", "server-limits.conf")
    ]
    report = lint.lint(guide, reference_host())
    assert not [f for f in report.findings if f.rule == "nofile-above-nr-open"]


def test_the_guides_on_the_real_kernel_fail_on_the_same_lines():
    """The running kernel's own values instead of the reference: the lines that fail
    (dead, harmful, syntax, units) are the same ones."""
    host = LintHost.of_root(Path("/"))
    host.mem_bytes = 24 * GIB  # the only input that differs between CI machines
    for name, expected in GUIDE_FINDINGS.items():
        report = lint.lint([inputs.read_input(str(GUIDES / name))], host)
        want = {(line, r) for line, r in expected if KNOW_VERDICT[r] in lint_rules.DEFAULT_FAIL_ON}
        got = {(f.line, f.rule) for f in report.failing()}
        assert got == want, name


KNOW_VERDICT = {r.id: r.verdict for r in KNOW.rules}


# --- formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("net.core.somaxconn = 4096\n", "sysctl.conf"),
        ("kernel.osrelease = 6.18.0\nnet.core.somaxconn = 4096\n", "sysctl-a"),
        ("* soft nofile 1024\nroot hard nofile 4096\n", "limits.conf"),
        ("#!/bin/sh\nsysctl -w net.core.somaxconn=4096\nulimit -n 65536\n", "script"),
        ("echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse\n", "script"),
        ("[Manager]\nDefaultLimitNOFILE=1024:524288\n", "system.conf"),
        ("options nf_conntrack hashsize=262144\n", "modprobe.d"),
        ("hello world\n", None),
        ("", None),
    ],
)
def test_formats_are_recognised_and_other_text_is_not(text, fmt):
    assert confparse.detect(text) == fmt


def test_a_script_is_read_as_the_shell_would_split_it():
    text = (
        "sudo sysctl -w net.ipv4.tcp_fin_timeout=15 && sysctl -w 'net.core.somaxconn=8192'\n"
        "echo 0 > /proc/sys/net/ipv4/tcp_timestamps\n"
        "ulimit -n 5000000\n"
        "sysctl -p /etc/sysctl.d/99-x.conf\n"
    )
    report = run(text, "script")
    assert {(f.line, f.rule) for f in report.findings} == {
        (2, "feature-off"),  # tcp_timestamps = 0
        (3, "nofile-above-nr-open"),
        (3, "ulimit-this-shell"),
    }
    assert report.files[0].settings == 5


def test_a_snapshot_is_checked_for_values_not_for_dead_keys():
    text = "kernel.osrelease = 4.9.0\nnet.ipv4.tcp_tw_recycle = 0\nnet.ipv4.tcp_syncookies = 0\n"
    report = run(text, "sysctl-a")
    assert rules_fired(report) == {"syncookies-off"}


def test_a_leading_dash_and_slash_names_are_understood():
    report = run("-net/ipv4/tcp_syncookies = 0\n")
    assert [(f.key, f.rule) for f in report.findings] == [
        ("net.ipv4.tcp_syncookies", "syncookies-off")
    ]


def test_kernel_versions_decide_version_rules():
    assert "tw-recycle-nat" in rules_fired(
        run("net.ipv4.tcp_tw_recycle = 1", host=reference_host("4.4"))
    )
    assert "tw-recycle-removed" not in rules_fired(
        run("net.ipv4.tcp_tw_recycle = 1", host=reference_host("4.4"))
    )


# --- a realistic /etc under a fake root -------------------------------------------------

FAKE_ETC = {
    "etc/sysctl.d/10-net.conf": "net.core.somaxconn = 1024\nnet.ipv4.tcp_tw_recycle = 1\n",
    "usr/lib/sysctl.d/10-net.conf": "net.ipv4.tcp_timestamps = 0\n",  # hidden by /etc's
    "usr/lib/sysctl.d/50-default.conf": "# vendor\nnet.core.somaxconn = 4096\nfs.nr_open = 1048576\n",
    "etc/sysctl.d/20-conntrack.conf": "net.netfilter.nf_conntrack_max = 4194304\n",
    "run/sysctl.d/99-late.conf": "net.core.somaxconn = 65535\n",
    "etc/sysctl.conf": "# local\nnet.ipv4.tcp_syncookies = 0\n",
    "etc/security/limits.conf": "root hard nofile 1048576\n",
    "etc/security/limits.d/90-nofile.conf": "# big\n*    hard nofile 2000000\nroot hard nofile 2000000\n",
    "etc/modprobe.d/conntrack.conf": "options e1000 debug=1\noptions nf_conntrack hashsize=131072\n",
    "etc/modules-load.d/conntrack.conf": "nf_conntrack\n",
    "etc/systemd/system.conf": "[Manager]\n#DefaultLimitNOFILE=\n",
    "etc/systemd/system.conf.d/limits.conf": "[Manager]\nDefaultLimitNOFILE=65536\n",
    "proc/meminfo": "MemTotal:       25165824 kB\n",
    **sysctl_files(
        {
            "kernel.osrelease": "6.18.0",
            "net.core.somaxconn": "4096",
            "fs.nr_open": "1048576",
            "net.ipv4.tcp_syncookies": "1",
            "net.ipv4.tcp_timestamps": "1",
            "net.ipv4.tcp_rmem": "4096 131072 6291456",
            "net.ipv4.tcp_mem": "287898 383866 575796",
            "net.netfilter.nf_conntrack_max": "262144",
            "net.netfilter.nf_conntrack_buckets": "262144",
        }
    ),
}

FAKE_EXPECTED = {
    ("/etc/sysctl.d/10-net.conf", 1, "overridden"),
    ("/etc/sysctl.d/10-net.conf", 1, "lowers-a-limit"),  # somaxconn 1024 < 4096
    ("/etc/sysctl.d/10-net.conf", 2, "tw-recycle-removed"),
    ("/etc/sysctl.d/20-conntrack.conf", 1, "conntrack-long-chains"),
    ("/usr/lib/sysctl.d/50-default.conf", 2, "overridden"),
    ("/etc/sysctl.conf", 2, "syncookies-off"),
    ("/etc/security/limits.d/90-nofile.conf", 2, "nofile-above-nr-open"),
    ("/etc/security/limits.d/90-nofile.conf", 3, "nofile-above-nr-open"),
    ("/etc/security/limits.conf", 1, "overridden"),
    ("/etc/systemd/system.conf.d/limits.conf", 2, "default-soft-nofile"),
    # and the hard limit 65536 is below the 524288 services get from systemd v240+
    ("/etc/systemd/system.conf.d/limits.conf", 2, "services-limit-lowered"),
}


def test_a_fake_root_gives_the_expected_findings_file_and_line_exact(tmp_path):
    root = write_tree(tmp_path, FAKE_ETC)
    result = run_tunekit("lint", "--root", str(root), "--json")
    assert result.returncode == 1, result.stderr
    doc = Lint.model_validate_json(result.stdout)
    assert {(f.file, f.line, f.rule) for f in doc.findings} == FAKE_EXPECTED
    assert doc.mode == "boot"
    order = [f.path for f in doc.files]
    assert order[:4] == [
        "etc/sysctl.d/10-net.conf",
        "etc/sysctl.d/20-conntrack.conf",
        "usr/lib/sysctl.d/50-default.conf",
        "run/sysctl.d/99-late.conf",
    ] or order[:4] == [
        "/etc/sysctl.d/10-net.conf",
        "/etc/sysctl.d/20-conntrack.conf",
        "/usr/lib/sysctl.d/50-default.conf",
        "/run/sysctl.d/99-late.conf",
    ]
    assert "/usr/lib/sysctl.d/10-net.conf" not in order  # hidden by /etc's file of that name
    wins = next(f for f in doc.findings if f.rule == "overridden" and f.line == 1)
    assert "/run/sysctl.d/99-late.conf:1" in wins.why
    changes = {(c.key, c.live, c.boot) for c in doc.changes_at_boot}
    assert ("net.core.somaxconn", "4096", "65535") in changes
    assert ("net.netfilter.nf_conntrack_max", "262144", "4194304") in changes
    nofile = next(f for f in doc.findings if f.rule == "nofile-above-nr-open" and f.line == 3)
    assert "locked-out root" in nofile.why


def test_a_hostile_image_osrelease_is_not_a_traceback(tmp_path):
    root = write_tree(tmp_path, {**FAKE_ETC, "proc/sys/kernel/osrelease": "banana\n"})
    result = run_tunekit("lint", "--root", str(root), "--json")
    assert result.returncode == 1, result.stderr
    assert Lint.model_validate_json(result.stdout).host.kernel == "banana"


def test_check_says_when_the_next_boot_breaks_what_passes_today(tmp_path):
    root = write_tree(tmp_path, FAKE_ETC)
    result = run_tunekit("check", "server-1M", "--root", str(root), "--json")
    doc = json.loads(result.stdout)
    boot = doc["boot"]
    assert boot["fails_after_reboot"] is True
    rules = {(f["file"], f["rule"]) for f in boot["findings"]}
    assert ("/etc/sysctl.conf", "syncookies-off") in rules
    assert ("/etc/sysctl.conf", "conflict") in rules  # server-1M wants syncookies exactly 1
    assert not any(f["key"] == "net.ipv4.tcp_tw_recycle" for f in boot["findings"])
    text = run_tunekit("check", "server-1M", "--root", str(root)).stdout
    assert "Boot-time configuration" in text and "/etc/sysctl.conf:2" in text


def test_check_says_when_a_target_passes_only_until_the_next_boot():
    """On the real kernel, in a throw-away network namespace: somaxconn set by hand to
    65535 passes server-1M's 10000, but no boot file keeps it and the kernel's default is
    4096: check says it reverts, and fails_after_reboot is true."""
    require_privileges()
    require_tool("sysctl")
    script = (
        "sysctl -q -w net.core.somaxconn=65535 && "
        f"{sys.executable} -m tunekit check server-1M --json"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    boot = json.loads(r.stdout)["boot"]
    reverts = [x for x in boot["reverts"] if x.startswith("net.core.somaxconn:")]
    assert boot["fails_after_reboot"] is True and len(reverts) == 1, boot
    assert "passes now (65535)" in reverts[0] and "gives 4096" in reverts[0]
    untouched = subprocess.run(
        [sys.executable, "-m", "tunekit", "check", "server-1M", "--json"],
        capture_output=True,
        text=True,
    )
    assert not any("somaxconn" in x for x in json.loads(untouched.stdout)["boot"]["reverts"])


# --- the command line ------------------------------------------------------------------


def test_stdin_and_exit_codes():
    fine = run_tunekit("lint", "-", input="net.ipv4.tcp_fin_timeout = 30\n")
    assert fine.returncode == 0 and "no findings" in fine.stdout
    bad = run_tunekit("lint", "-", input="net.ipv4.tcp_tw_recycle = 1\n")
    assert bad.returncode == 1 and "DEAD" in bad.stdout
    relaxed = run_tunekit(
        "lint", "-", "--fail-on", "harmful", input="net.ipv4.tcp_tw_recycle = 1\n"
    )
    assert relaxed.returncode == 0
    strict = run_tunekit("lint", "-", "--fail-on", "all", input="net.core.optmem_max = 1\n")
    assert strict.returncode == 1
    # none: nothing fails (it used to fall back to the default set)
    never = run_tunekit("lint", "-", "--json", "--fail-on", "none", input="net.ipv4.tcp_sack = 0\n")
    doc = json.loads(never.stdout)
    assert never.returncode == 0 and doc["fail_on"] == [] and doc["verdict"] == "clean"
    assert [f["verdict"] for f in doc["findings"]] == ["harmful"]


@pytest.mark.parametrize(
    "args",
    [
        ["--fail-on", "awful"],
        ["--kernel", "banana"],
        ["/nonexistent/sysctl.conf"],
        ["/etc"],
        ["--root", "/nonexistent"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args):
    result = run_tunekit("lint", *args, input="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("tunekit: error:") and "Traceback" not in result.stderr


def test_binary_or_huge_standard_input_is_refused():
    binary = subprocess.run(
        [sys.executable, "-m", "tunekit", "lint", "-"], input=b"\xff\xfe\x00", capture_output=True
    )
    assert binary.returncode == 2 and b"not text" in binary.stderr
    huge = run_tunekit("lint", "-", input="net.core.somaxconn = 1\n" * 60000)
    assert huge.returncode == 2 and "larger than" in huge.stderr


def test_an_unrecognised_file_is_an_error_not_silence(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("remember to tune the kernel\n")
    result = run_tunekit("lint", str(path))
    assert result.returncode == 2 and "not a format" in result.stderr


def test_a_file_of_comments_only_is_clean_not_an_error(tmp_path):
    """Debian's stock /etc/sysctl.conf and an empty sysctl.d file set nothing: clean."""
    stock = tmp_path / "sysctl.conf"
    stock.write_text("#\n# /etc/sysctl.conf - Configuration file\n#\n;kernel.domainname = x\n\n")
    empty = tmp_path / "99-empty.conf"
    empty.write_text("")
    result = run_tunekit("lint", str(stock), str(empty))
    assert result.returncode == 0 and "CLEAN" in result.stdout, result.stderr


def test_a_fifo_named_as_a_file_is_refused_without_a_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_tunekit("lint", str(fifo), timeout=20)
    assert result.returncode == 2


def test_a_fifo_planted_in_sysctl_d_is_reported_not_waited_on(tmp_path):
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    os.mkfifo(tmp_path / "etc/sysctl.d/50-fifo.conf")
    result = run_tunekit("lint", "--root", str(tmp_path), "--json", timeout=20)
    # nothing was found wrong, but a file that applies at boot was not read: incomplete
    assert result.returncode == 5, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "incomplete" and doc["failed"] is False
    assert any("50-fifo.conf" in u for u in doc["unreadable"])


def test_json_is_the_documented_schema():
    result = run_tunekit("lint", str(GUIDES / "server-sysctl.conf"), "--json")
    doc = Lint.model_validate_json(result.stdout)
    assert doc.failed and doc.counts["dead"] == 1 and doc.mode == "files"
    assert result.returncode == 1


# --- the real kernel ---------------------------------------------------------------------


def test_inside_a_network_namespace_lint_sees_a_container():
    require_privileges()
    text = "net.ipv4.tcp_mem = 786432 1048576 1572864\nnet.core.somaxconn = 65535\n"
    result = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "tunekit",
            "lint",
            "-",
            "--json",
            "--fail-on",
            "all",
        ],
        input=text,
        capture_output=True,
        text=True,
    )
    doc = json.loads(result.stdout)
    assert doc["host"]["container"] is True
    assert {(f["line"], f["rule"]) for f in doc["findings"]} == {
        (1, "container-global-key"),
        (2, "container-netns-key"),
    }
