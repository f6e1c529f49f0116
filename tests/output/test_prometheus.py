"""status --prometheus: the textfile as node_exporter reads it (the real one, Debian's
prometheus-node-exporter, on a loopback port), and how the file is written."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import invoke, require_tool, sysctl_files, write_tree

from tunekit.knowledge import catalogue as K
from tunekit.output.documents.status import Status
from tunekit.output.prometheus import render

NODE_EXPORTER = "prometheus-node-exporter"  # Debian's name for node_exporter


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """Samples of the text format, by (name, sorted labels), with prometheus-client's
    parser (laxer than node_exporter's: not enough alone, hence the real one below)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(directory: Path) -> str:
    """Run node_exporter with only its textfile collector on `directory`, fetch /metrics."""
    require_tool(NODE_EXPORTER)
    port = free_port()
    proc = subprocess.Popen(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={directory}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def reading(tmp_path: Path) -> tuple[Status, Path]:
    """One live reading, as JSON and as the textfile of the same reading."""
    directory = tmp_path / "textfile"
    directory.mkdir()
    prom = directory / "tunekit.prom"
    res = invoke("status", "--json", "--no-kernel-log", "--prometheus", prom)
    assert res.exit_code == 0, res.output
    return Status.model_validate_json(res.output), prom


def test_node_exporter_serves_the_series_with_the_values_of_the_reading(tmp_path):
    doc, prom = reading(tmp_path)
    served = parse(scrape(prom.parent))
    assert served[("node_textfile_scrape_error", ())] == 0
    written = parse(prom.read_text())
    ours = {k: v for k, v in served.items() if k[0].startswith("tunekit_")}
    assert ours == written  # every series, with its value, and nothing else
    rows = {r.key: r for r in doc.rows if not r.labels}
    tw = rows[K.TW_BUCKETS.name]
    assert served[("tunekit_tcp_time_wait_sockets_limit", ())] == tw.limit
    assert served[("tunekit_tcp_time_wait_sockets_ratio", ())] == pytest.approx(tw.used / tw.limit)
    files = rows[K.FILE_MAX.name]
    assert served[("tunekit_file_handles_ratio", ())] == pytest.approx(files.used / files.limit)
    page = os.sysconf("SC_PAGE_SIZE")
    mem = rows.get(K.TCP_MEM.name)
    if mem is not None and mem.limit is not None:  # not visible inside a child namespace
        key = ("tunekit_tcp_memory_bytes_limit", (("threshold", "max"),))
        assert served[key] == mem.limit * page  # base units: bytes, not pages
    for listener in (r for r in doc.rows if r.resource == "listen queue"):
        labels = (("address", listener.labels["address"]), ("port", listener.labels["port"]))
        assert served[("tunekit_listen_queue_connections_limit", labels)] == listener.limit


def test_node_exporter_flags_a_broken_file_so_the_test_above_can_fail(tmp_path):
    directory = tmp_path / "textfile"
    directory.mkdir()
    (directory / "broken.prom").write_text("tunekit_x 1 1700000000000\n")  # a timestamp
    served = parse(scrape(directory))
    assert served[("node_textfile_scrape_error", ())] == 1


def test_the_file_has_no_timestamps_no_duplicates_and_no_node_exporter_names(tmp_path):
    doc, prom = reading(tmp_path)
    text = prom.read_text()
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    values = [ln.rsplit("}", 1)[1] if "}" in ln else ln.split(None, 1)[1] for ln in samples]
    assert samples and all(len(v.split()) == 1 for v in values)  # a value, no timestamp
    series = [ln.rsplit(" ", 1)[0] for ln in samples]
    assert len(series) == len(set(series))
    assert all(s.startswith("tunekit_") for s in series)
    for key in K.with_usage():
        used, limit = key.usage.node_exporter
        if used:  # node_exporter has it: only the ratio is ours
            assert not any(s.split("{")[0] == "tunekit_" + key.usage.metric for s in series)
        if limit:
            assert not any(
                s.split("{")[0] == "tunekit_" + key.usage.metric + "_limit" for s in series
            )
    types = [ln.split()[2:] for ln in text.splitlines() if ln.startswith("# TYPE")]
    counters = [name for name, kind in types if kind == "counter"]
    assert counters and all(n.endswith("_total") for n in counters)


def test_written_atomically_0644_whatever_the_umask_and_never_through_a_symlink(tmp_path):
    files = sysctl_files({K.FILE_MAX.name: "1000"}) | {"proc/sys/fs/file-nr": "10\t0\t1000\n"}
    root = write_tree(tmp_path / "root", files)
    (root / "var/lib/node").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    target = root / "var/lib/node/tunekit.prom"
    target.symlink_to(victim)  # planted where the file goes
    old = os.umask(0o077)
    try:
        res = invoke("status", "--root", root, "--prometheus", target, "--json")
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["prometheus"] == str(target)
    assert victim.read_text() == "keep\n"  # the link was replaced, not followed
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert "tunekit_file_handles_ratio 0.01" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["tunekit.prom"]  # no temp left


def test_render_refuses_a_duplicate_series():
    doc = Status.model_validate(
        {
            "at": "2026-01-01T00:00:00Z",
            "source": "test",
            "rows": [],
            "sockets": {},
            "symptoms": [
                {
                    "counter": "TCPMemoryPressures",
                    "table": "TcpExt",
                    "key": K.TCP_MEM.name,
                    "total": n,
                    "grown": 0,
                    "meaning": "",
                    "verdict": "ok",
                }
                for n in (1, 2)
            ],
            "kernel_log": [],
        }
    )
    with pytest.raises(ValueError, match="duplicate series"):
        render(doc)
