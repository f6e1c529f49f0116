"""The CLI through typer's CliRunner: exit codes, what the user reads, --json."""

import json
import os

import pytest
from helpers import invoke, run_tunekit


def test_check_live_host_reports_and_exits_1_when_not_compliant(isolated_home, tmp_path):
    # a target no host meets, whatever its tuning: the live host is not compliant
    p = tmp_path / "strict.toml"
    p.write_text(
        '[workload]\nconnections = 10\n[[targets]]\nkey = "net.core.somaxconn"\n'
        'op = "exactly"\nvalue = 2147483000\nreason = "r"\nsource = "s"\n'
    )
    r = invoke("check", str(p))
    assert r.exit_code == 1, r.output
    assert "NOT COMPLIANT" in r.stdout and "Next: tunekit apply strict --dry-run" in r.stdout
    assert "net.core.somaxconn" in r.stdout and "capacity" in r.stdout
    r = invoke("check", "server-1M")
    assert r.exit_code == (1 if "NOT COMPLIANT" in r.stdout else 0), r.output


def test_check_json_is_one_document(isolated_home):
    r = invoke("check", "server-1M", "--json")
    doc = json.loads(r.stdout)
    assert doc["profile"] == "server-1M" and doc["compliant"] is False
    assert set(doc["counts"]) == {"pass", "fail", "warn", "missing", "unreadable", "not-applicable"}
    keys = {f["key"] for f in doc["findings"]}
    assert {
        "fs.file-max",
        "fs.nr_open",
        "rlimit.nofile.soft",
        "rlimit.nofile.hard",
        "net.core.somaxconn",
        "net.ipv4.tcp_mem",
        "capacity",
    } <= keys
    for f in doc["findings"]:
        assert f["verdict"] in doc["counts"] and f["reason"]
    assert doc["estimate"]["binding"]["name"]


def test_tuned_root_passes_what_it_shows_and_is_incomplete(tuned_root, isolated_home):
    r = invoke("check", "server-1M", "--root", str(tuned_root))
    assert r.exit_code == 5, r.stdout
    assert "INCOMPLETE: nothing failed" in r.stdout and "COMPLIANT" not in r.stdout
    # rlimits are not read from a tree, and it says so: those alone are not verified
    doc = json.loads(invoke("check", "server-1M", "--root", str(tuned_root), "--json").stdout)
    assert doc["verdict"] == "incomplete" and doc["compliant"] is False
    assert doc["unverified"] and all(u.startswith("rlimit.") for u in doc["unverified"])


def test_a_snapshot_with_one_key_is_incomplete_not_compliant(tmp_path, isolated_home):
    """Issue 18: a snapshot holding only somaxconn once printed COMPLIANT and exited 0."""
    snap = tmp_path / "snap.txt"
    snap.write_text("net.core.somaxconn = 10000\n")
    r = invoke("check", "server-1M", "--snapshot", snap)
    assert r.exit_code == 5 and "INCOMPLETE" in r.stdout and "COMPLIANT." not in r.stdout
    doc = json.loads(invoke("check", "server-1M", "--snapshot", snap, "--json").stdout)
    assert doc["verdict"] == "incomplete" and doc["counts"]["pass"] == 1
    assert any(u.startswith("fs.file-max: missing") for u in doc["unverified"])
    # a port range of one value cannot be read as a range: unreadable, so incomplete too
    snap.write_text("net.ipv4.ip_local_port_range = 1024\n")
    doc = json.loads(invoke("check", "client-flood", "--snapshot", snap, "--json").stdout)
    assert doc["verdict"] in ("incomplete", "not-compliant")
    port = next(f for f in doc["findings"] if f["key"] == "net.ipv4.ip_local_port_range")
    assert port["verdict"] == "unreadable"


def test_a_failure_outranks_what_was_not_verified(tmp_path, isolated_home):
    snap = tmp_path / "snap.txt"
    snap.write_text("net.core.somaxconn = 128\n")
    r = invoke("check", "server-1M", "--snapshot", snap)
    assert r.exit_code == 1 and "NOT COMPLIANT" in r.stdout


def test_conns_rescales_the_profile(tuned_root, isolated_home):
    doc = json.loads(
        invoke("check", "server-1M", "--conns", "3M", "--root", str(tuned_root), "--json").stdout
    )
    nr_open = next(f for f in doc["findings"] if f["key"] == "fs.nr_open")
    assert doc["connections"] == 3_000_000 and nr_open["target"]["value"] == 3_001_024
    assert nr_open["verdict"] == "fail"


def test_default_profile_is_named_and_explained(isolated_home):
    r = invoke("check", "--json")
    doc = json.loads(r.stdout)
    assert doc["profile"] == "server-1M" and "default" in doc["profile_why"]


def _journal(path, profile: str, status: str) -> None:
    """A journal as apply writes it (for the live root, changing nothing)."""
    path.write_text(
        f'version = 2\nprofile = "{profile}"\ncreated = "2026-12-01T00:00:00+00:00"\n'
        f'root = "/"\nstatus = "{status}"\nruntime = []\nfiles = []\ncreated_dirs = []\n'
    )
    path.chmod(0o600)


def test_default_profile_is_the_last_applied(isolated_home, tmp_path):
    journals = tmp_path / "state/journals"
    journals.mkdir(parents=True, mode=0o700)
    (tmp_path / "state").chmod(0o700)
    _journal(journals / "000001.applied.toml", "client-flood", "applied")
    _journal(journals / "000002.rolled-back.toml", "host-conntrack", "rolled-back")
    doc = json.loads(invoke("check", "--json").stdout)
    assert doc["profile"] == "client-flood" and "last applied" in doc["profile_why"]


def test_snapshot_mode(tmp_path, isolated_home):
    snap = tmp_path / "s.txt"
    snap.write_text(
        "net.core.somaxconn = 128\nfs.file-max = 100\nfs.nr_open = 1048576\n"
        "net.ipv4.tcp_mem = 1\t2\t3\n"
    )
    r = invoke("check", "server-1M", "--snapshot", str(snap))
    assert r.exit_code == 1
    rows = {
        line.split()[1]: line.split()[0]
        for line in r.stdout.splitlines()
        if line.startswith("  ") and len(line.split()) > 2
    }
    assert rows["net.core.somaxconn"] == "FAIL" and rows["fs.nr_open"] == "pass"
    assert "not in the snapshot" in r.stdout


def test_pid_audits_another_process(isolated_home):
    r = invoke("check", "server-1M", "--pid", str(os.getppid()), "--json")
    soft = next(f for f in json.loads(r.stdout)["findings"] if f["key"] == "rlimit.nofile.soft")
    assert f"pid {os.getppid()}" in soft["actual"]


def test_estimate_server_and_client(isolated_home):
    r = invoke("estimate", "--conns", "1000000")
    assert r.exit_code == 0 and "Binding constraint" in r.stdout and "server-1M" in r.stdout
    doc = json.loads(invoke("estimate", "--conns", "1000000", "--role", "client", "--json").stdout)
    assert doc["role"] == "client" and doc["connections"] == 1_000_000
    names = {n["name"] for n in doc["needs"]}
    assert {"source_ips_needed_full_range", "ports_per_source_ip", "memory_total"} <= names
    assert doc["constant_sources"]["socket_bytes"]


def test_estimate_constant_override(isolated_home):
    doc = json.loads(
        invoke("estimate", "--conns", "1000", "--const", "socket_bytes=1000", "--json").stdout
    )
    kernel = next(n for n in doc["needs"] if n["name"] == "kernel_socket_bytes")
    assert kernel["value"] == 1_000_000


def test_profiles_list_and_show(isolated_home):
    r = invoke("profiles")
    assert r.exit_code == 0 and "client-flood" in r.stdout and "host-conntrack" in r.stdout
    r = invoke("profiles", "show", "host-conntrack", "--conns", "1M")
    assert r.exit_code == 0 and "nf_conntrack_max" in r.stdout and "derived" in r.stdout
    doc = json.loads(invoke("profiles", "show", "server-1M", "--json").stdout)
    assert any(t["pinned"] for t in doc["targets"]) and all(t["reason"] for t in doc["targets"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "nope"], "unknown profile 'nope'"),
        (["check", "../../etc/passwd"], "invalid profile name"),
        (["check", "server-1M", "--conns", "0"], "at least 1"),
        (["check", "server-1M", "--conns", "-5"], "not a number"),
        (["check", "server-1M", "--conns", "abc"], "not a number"),
        (["check", "server-1M", "--conns", "1e12"], "not a number"),
        (["check", "server-1M", "--conns", "99999999999"], "more than 100,000,000"),
        (["check", "server-1M", "--pid", "999999999"], "no such process"),
        (["check", "server-1M", "--pid", "-3"], "not a process id"),
        (["check", "server-1M", "--root", "/nonexistent"], "not a directory"),
        (["check", "server-1M", "--snapshot", "/nonexistent"], "cannot read"),
        (["check", "server-1M", "--root", "/", "--snapshot", "/x"], "exclude each other"),
        (["estimate", "--conns", "0"], "at least 1"),
        (["estimate", "--conns", "10", "--role", "router"], "--role"),
        (["estimate", "--conns", "10", "--rate", "-1"], "--rate"),
        (["estimate", "--conns", "10", "--const", "nope=1"], "unknown constant"),
        (["estimate", "--conns", "10", "--const", "socket_bytes"], "expected NAME=NUMBER"),
        (["profiles", "show", "nope"], "unknown profile"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, isolated_home):
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.startswith("tunekit: error:")
    assert "Traceback" not in r.output and r.stdout == ""


def test_invalid_toml_names_file_and_line(tmp_path, isolated_home):
    bad = tmp_path / "bad.toml"
    bad.write_text("[workload]\nconnections = = 5\n")
    r = invoke("check", str(bad))
    assert r.exit_code == 2 and str(bad) in r.stderr and "line 2" in r.stderr


def test_unit_without_systemd_exits_3(isolated_home):
    r = invoke("check", "server-1M", "--unit", "nginx.service")
    assert r.exit_code == 3 and "not available here" in r.stderr


def test_whole_process_keeps_exit_codes_and_output(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "TUNEKIT_STATE_DIR": str(tmp_path / "s")}
    r = run_tunekit("check", "server-1M", "--json", env=env)
    doc = json.loads(r.stdout)
    assert doc["profile"] == "server-1M" and r.returncode == (0 if doc["compliant"] else 1)
    r = run_tunekit("check", "nope", env=env)
    assert r.returncode == 2 and r.stderr.startswith("tunekit: error: unknown profile")
    assert "Traceback" not in r.stderr
    r = run_tunekit("--help", env=env)
    assert r.returncode == 0 and "check" in r.stdout and "estimate" in r.stdout


def test_json_documents_have_one_published_schema(isolated_home):
    """Each --json document is its model (tunekit.documents); `tunekit schema` prints it."""
    from pydantic import ValidationError

    from tunekit.output import documents

    for kind, args in (
        ("check", ["check", "server-1M"]),
        ("apply", ["apply", "--dry-run"]),
        ("estimate", ["estimate", "--conns", "1000"]),
        ("profiles", ["profiles"]),
        ("profiles-show", ["profiles", "show", "client-flood"]),
        ("export", ["export", "kubernetes", "client-flood"]),
    ):
        r = invoke(*args, "--json")
        assert r.exit_code in (0, 1, 5), r.output
        documents.model(kind).model_validate_json(r.stdout)  # raises if it drifted
        schema = json.loads(invoke("schema", kind).stdout)
        assert schema["type"] == "object" and set(json.loads(r.stdout)) <= set(schema["properties"])
    with pytest.raises(ValidationError):  # a field added in one place only is refused
        documents.model("rollback").model_validate(
            {
                "rolled_back": False,
                "profile": None,
                "runtime": [],
                "files": [],
                "problems": [],
                "recovered": [],
                "extra": 1,
            }
        )
    r = invoke("schema", "nope")
    assert r.exit_code == 2 and "one of: check" in r.stderr


def test_docs_json_lists_the_fields_of_the_models():
    from helpers import REPO

    from tunekit.output.documents import markdown

    text = (REPO / "docs/json.md").read_text()
    assert markdown() in text, "docs/json.md is stale: python -m tunekit.output.documents"


def test_an_error_under_json_is_a_document_on_stdout(tmp_path):
    """Bad input with --json: stdout holds {error, hint, exit_code} (and stderr the line);
    without --json stdout stays empty."""
    for args in (
        ("lint", str(tmp_path / "absent.conf"), "--json"),
        ("check", "server-1M", "--snapshot", str(tmp_path), "--json"),
        ("lint", "--no-such-option", "--json"),
    ):
        r = run_tunekit(*args)
        doc = json.loads(r.stdout)
        assert r.returncode == 2 and doc["exit_code"] == 2 and doc["error"], args
        assert "tunekit: error:" in r.stderr
    plain = run_tunekit("lint", str(tmp_path / "absent.conf"))
    assert plain.returncode == 2 and plain.stdout == ""
