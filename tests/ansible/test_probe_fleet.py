"""docs/fleet.md's probe playbook, as written, run by the real ansible-playbook on three
local "load generators" (`ansible_connection=local`, each its own source address) inside
the client namespace of tests/servers.py, against HAProxy in the server namespace: each
host probes at once, and the run_once task sums what they held and names what stopped
each. Nothing runs in the host's own network namespace; both namespaces are removed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import (
    REPO,
    install_collection,
    playbook_command,
    playbook_json,
    task_results,
)
from servers import Frontend, haproxy_target

PORT = 8000
PER_HOST = 1000


@pytest.fixture(scope="module")
def collections(tmp_path_factory) -> Path:
    return install_collection(tmp_path_factory.mktemp("collection"))


pytestmark = pytest.mark.usefixtures("haproxy_namespaces")


def guide_block(heading: str, lang: str) -> str:
    """The first ```lang block after `heading` in docs/fleet.md."""
    text = (REPO / "docs/fleet.md").read_text()
    after = text.split(heading, 1)[1]
    return after.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def probe_inventory(pair, hosts: dict[str, dict[str, str]]) -> str:
    lines = ["[loadgen]"]
    for name, extra in hosts.items():
        lines.append(
            " ".join([name, "ansible_connection=local", *(f"{k}={v}" for k, v in extra.items())])
        )
    return "\n".join(
        [
            *lines,
            "[loadgen:vars]",
            f"probe_targets={pair.server_ip}:{PORT}",
            f"probe_conns={PER_HOST}",
            "probe_hold=6",
            f"ansible_python_interpreter={sys.executable}",
            "",
        ]
    )


def by_source(pair) -> Counter:
    """Connections established at the server's port, by the client address they came from."""
    text = Path(f"/proc/{pair.haproxy[0].pid}/net/tcp").read_text()
    out: Counter = Counter()
    for line in text.splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == PORT:
            raw = int(f[2].split(":")[0], 16)  # host byte order (little-endian here)
            out[".".join(str((raw >> s) & 0xFF) for s in (0, 8, 16, 24))] += 1
    return out


def run_guide(tmp: Path, collections: Path, pair, hosts, *args: str, expect: int | None = None):
    """The guide's playbook in the client namespace; while it holds, what the server sees
    (the most established at once, by source). (exit code, JSON, server's view)."""
    cmd, env = playbook_command(
        tmp,
        guide_block("`probe.yml`:", "yaml"),
        probe_inventory(pair, hosts),
        *args,
        collections=collections,
        netns=pair.client,
    )
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp
    )
    # /proc/net/tcp is not a snapshot: read while sockets are added, a line can be missed
    # or seen twice. A reading counts once two in a row agree (the hold is steady).
    best, last = Counter(), Counter()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        seen = by_source(pair)
        if seen == last and seen.total() > best.total():
            best = seen
        last = seen
        if expect is not None and best.total() >= expect:
            break
        time.sleep(0.3)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, playbook_json(out, err), best


def summary(doc: dict) -> dict:
    results = task_results(doc, "What the fleet held, and what stopped each load generator")
    assert len(results) == 1, "run_once: one result for the play"
    return next(iter(results.values()))["msg"]


def test_three_load_generators_probe_at_once_and_the_summary_adds_them_up(collections, tmp_path):
    with haproxy_target([Frontend(PORT)], sources=3) as pair:
        hosts = {f"lg{i + 1}": {"probe_source_ips": ip} for i, ip in enumerate(pair.client_ips)}
        code, doc, at_server = run_guide(tmp_path, collections, pair, hosts, expect=3 * PER_HOST)
        time.sleep(0.5)
    assert code == 0, task_results(doc, "Probe")
    probes = task_results(doc, "Probe")
    for name, ip in zip(hosts, pair.client_ips, strict=True):
        r = probes[name]
        assert r["changed"] is False and r["complete"] is True and r["verdict"] == "complete"
        assert r["held"] == PER_HOST and r["stopped_by"] is None
        assert r["layout"]["sources"] == [ip] and r["layout"]["source_from"] == "given"
    total = summary(doc)
    assert int(total["held"]) == 3 * PER_HOST and int(total["connections"]) == 3 * PER_HOST
    assert total["stopped_by"] == {} and total["incomplete"] == []
    # the server's namespace held all of them at once, each host from its own address
    assert at_server == Counter(dict.fromkeys(pair.client_ips, PER_HOST))
    assert all(doc["stats"][h]["changed"] == 0 for h in hosts)


def test_a_generator_stopped_short_is_named_in_the_summary(collections, tmp_path):
    """lg3's workers get 300 open files: it stops at EMFILE, the task does not fail, and
    the summary lists it with its stopped_by; the other two hold theirs."""
    with haproxy_target([Frontend(PORT)], sources=3) as pair:
        hosts = {f"lg{i + 1}": {"probe_source_ips": ip} for i, ip in enumerate(pair.client_ips)}
        hosts["lg3"]["probe_nofile"] = "300"
        code, doc, _ = run_guide(tmp_path, collections, pair, hosts)
    assert code == 0, doc["stats"]
    probes = task_results(doc, "Probe")
    short = probes["lg3"]
    assert short["complete"] is False and short["verdict"] == "stopped-short"
    assert short.get("failed", False) is False
    assert 280 <= short["held"] < 300
    total = summary(doc)
    assert int(total["held"]) == 2 * PER_HOST + short["held"]
    assert total["incomplete"] == ["lg3"]
    stop = total["stopped_by"]["lg3"]
    assert list(total["stopped_by"]) == ["lg3"]
    assert (stop["kind"], stop["side"], stop["key"]) == ("EMFILE", "client", "rlimit.nofile.soft")
    assert stop["count"] >= 1 and "300" in stop["fix"]


def test_check_mode_opens_nothing_and_fail_short_fails_the_host(collections, tmp_path):
    with haproxy_target([Frontend(PORT)], sources=2) as pair:
        hosts = {"lg1": {}, "lg2": {"probe_nofile": "300"}}
        code, doc, seen = run_guide(tmp_path, collections, pair, hosts, "--check")
        assert code == 0 and seen.total() == 0, "check mode opens no connection"
        plan = task_results(doc, "Probe")["lg1"]
        assert plan["changed"] is False and plan["would_probe"]["connections"] == PER_HOST
        assert plan["would_probe"]["targets"] == [f"{pair.server_ip}:{PORT}"]
        assert plan["msg"].startswith(f"would open {PER_HOST:,} connections")

        strict = (
            guide_block("`probe.yml`:", "yaml")
            .replace("        hold:", "        fail_short: true\n        hold:", 1)
            .replace("probe_hold | default(30)", "0")
        )
        cmd, env = playbook_command(
            tmp_path,
            strict,
            probe_inventory(pair, hosts),
            collections=collections,
            netns=pair.client,
        )
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    doc = playbook_json(done.stdout, done.stderr)
    probes = task_results(doc, "Probe")
    assert done.returncode != 0 and probes["lg2"]["failed"] is True
    assert probes["lg2"]["msg"].startswith("probe stopped-short: held ")
    assert "EMFILE" in probes["lg2"]["msg"] and probes["lg2"]["exit_code"] == 1
    assert probes["lg1"].get("failed", False) is False and probes["lg1"]["held"] == PER_HOST
    # the failed host is still counted by the summary, with what it held
    total = summary(doc)
    assert int(total["held"]) == PER_HOST + probes["lg2"]["held"]
    assert list(total["stopped_by"]) == ["lg2"]


def test_as_an_async_task_as_the_guide_says_for_long_holds(collections, tmp_path):
    book = guide_block("`probe.yml`:", "yaml")
    said = "      register: probed\n      # a long hold: async: 3600 and poll: 15 here\n"
    assert said in book
    book = book.replace(said, "      register: probed\n      async: 120\n      poll: 1\n")
    with haproxy_target([Frontend(PORT)], sources=2) as pair:
        hosts = {f"lg{i + 1}": {"probe_source_ips": ip} for i, ip in enumerate(pair.client_ips)}
        cmd, env = playbook_command(
            tmp_path, book, probe_inventory(pair, hosts), collections=collections, netns=pair.client
        )
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    doc = playbook_json(done.stdout, done.stderr)
    assert done.returncode == 0, {h: r.get("msg") for h, r in task_results(doc, "Probe").items()}
    probes = task_results(doc, "Probe")
    assert all(probes[h]["held"] == PER_HOST and probes[h]["finished"] == 1 for h in hosts)
    assert int(summary(doc)["held"]) == 2 * PER_HOST
