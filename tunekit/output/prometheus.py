"""A status reading as a node_exporter textfile: the Prometheus text exposition format,
written atomically.

What node_exporter's textfile collector requires (collector/textfile.go, read in
prometheus/node_exporter): only files matching `*.prom` are read; a file with a
client-side timestamp on any sample is skipped whole and node_textfile_scrape_error set
to 1; a parse error does the same; in releases after 1.5.0 (Debian 12's), a metric whose HELP
differs between files is an error too. A series collected twice is dropped (the handler runs with
promhttp.ContinueOnError, node_exporter.go), so this module refuses to produce one.

The format is prometheus-client's (a CollectorRegistry of metric families, and
generate_latest: classic names, no timestamps, its escaping of label values). The file is
not written with prometheus-client's write_to_textfile: that opens the predictable name
PATH.PID.THREAD with open(), following a symlink planted there, with a mode that follows
the umask. tunekit runs as root and the textfile directory is often writable by the
node_exporter user, so the file is written through rootfs.Root.put instead: a temp file
beside it created O_EXCL|O_NOFOLLOW under an unpredictable name that does not end in .prom
(node_exporter never reads it), fchmod 0644 (node_exporter, another user, reads it),
fsync, rename over the final name (a symlink there is replaced, never followed).

Names follow the Prometheus naming guide: the tunekit_ prefix, base units (TCP memory in
bytes, not pages), `_total` for counters; per resource a used series, a `_limit` series
and a `_ratio` (used / limit), never one series mixing both; labels of low cardinality
(a listener's address and port, a process's name, a source and a destination, for the
--top few). What node_exporter already exports under its own names by default (the
catalogue's Usage.node_exporter and Symptom.node_exporter: node_filefd_*,
node_sockstat_TCP_*, node_nf_conntrack_*, node_netstat_TcpExt_Listen*) is not exported
again; its ratio is.
"""

from __future__ import annotations

import os
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Usage
from tunekit.model.status import Row
from tunekit.output.documents.status import VERDICT_ORDER, Status

PREFIX = "tunekit_"


def check_path(path: Path, root: Path | None) -> str:
    """The file's path relative to the root it is written under: a *.prom file, in an
    existing directory, inside --root when one is given. Refused otherwise (exit 2)."""
    path = Path(os.path.abspath(path))
    if not path.name.endswith(".prom") or path.name.startswith("."):
        raise UsageError(
            f"--prometheus {path}: the name must end in .prom",
            "node_exporter's textfile collector reads only *.prom files",
        )
    base = Path(os.path.abspath(root or "/"))
    try:
        rel = path.relative_to(base)
    except ValueError:
        raise UsageError(
            f"--prometheus {path}: not inside --root {base}",
            "with --root, tunekit writes only under that root",
        ) from None
    if not path.parent.is_dir():
        raise UsageError(f"--prometheus {path}: no directory {path.parent}")
    return str(rel)


class _Families:
    """Metric families by name, refusing a duplicate series."""

    def __init__(self) -> None:
        self.families: dict[str, object] = {}
        self.seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, kind: str, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        full = PREFIX + name
        family = self.families.get(full)
        if family is None:
            make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = make(full, doc, labels=list(labels))
            self.families[full] = family
        series = (full, tuple(labels.values()))
        if series in self.seen:
            raise ValueError(f"duplicate series {full}{labels}")
        self.seen.add(series)
        family.add_metric(list(labels.values()), value)  # type: ignore[attr-defined]

    def collect(self):
        return iter(self.families.values())


def _row_labels(row: Row) -> dict[str, str]:
    return {k: v for k, v in row.labels.items() if k != "pid"}


def _fullest(rows: list[Row]) -> list[Row]:
    """One row per series: of the processes with one name, the closest to its limit."""
    best: dict[tuple, Row] = {}
    for row in rows:
        ident = (row.key, tuple(_row_labels(row).items()))
        kept = best.get(ident)
        if kept is None or (row.percent or 0) > (kept.percent or 0):
            best[ident] = row
    return list(best.values())


def _limits(out: _Families, row: Row, usage: Usage, labels: dict[str, str], scale: int) -> None:
    doc = f"the limit on {usage.resource}: {row.key}"
    name = usage.metric + "_limit"
    if row.limit is None:
        return
    if not (usage.elements and usage.index is not None):
        out.add("gauge", name, doc, labels, row.limit * scale)
        return
    out.add(
        "gauge", name, doc, {**labels, "threshold": usage.elements[usage.index]}, row.limit * scale
    )
    if usage.near_index is not None and row.near_at is not None:
        threshold = {**labels, "threshold": usage.elements[usage.near_index]}
        out.add("gauge", name, doc, threshold, row.near_at * scale)


def _rows(out: _Families, doc: Status, page: int) -> None:
    for row in _fullest(doc.rows):
        key = K.lookup(row.key)
        usage = key.usage
        if usage is None or not usage.metric:
            continue
        labels = _row_labels(row)
        scale = page if key.unit == "pages" else 1
        node_used, node_limit = usage.node_exporter
        if node_used is None:
            out.add("gauge", usage.metric, usage.counts, labels, row.used * scale)
        if node_limit is None:
            _limits(out, row, usage, labels, scale)
        if row.limit:
            doc_ratio = f"{usage.resource} in use / its limit ({key.name})"
            out.add("gauge", usage.metric + "_ratio", doc_ratio, labels, row.used / row.limit)


def registry(doc: Status, page: int | None = None):
    """A prometheus-client registry holding the reading's series."""
    from prometheus_client import CollectorRegistry

    out = _Families()
    _rows(out, doc, page or os.sysconf("SC_PAGE_SIZE"))
    symptoms = K.symptoms()
    for s in doc.symptoms:
        _, symptom = symptoms[s.counter]
        if symptom.node_exporter is None and symptom.metric:
            out.add("counter", symptom.metric, f"{s.table} {s.counter}: {s.meaning}", {}, s.total)
    states = doc.sockets.model_dump(include={"established", "syn_recv", "close_wait"})
    states.update({k.lower(): v for k, v in doc.sockets.others.items()})
    for state, value in states.items():
        if value is not None:
            out.add("gauge", "tcp_sockets", "TCP sockets in this state", {"state": state}, value)
    for verdict in VERDICT_ORDER:
        out.add(
            "gauge",
            "status_rows",
            "status rows with this verdict (ok, near >= 80 %, at-limit, hit: a symptom grew)",
            {"verdict": verdict},
            doc.counts[verdict],
        )
    out.add(
        "gauge",
        "status_read_seconds",
        "what the reading cost",
        {},
        doc.read_ms.get("total", 0.0) / 1000,
    )
    reg = CollectorRegistry(auto_describe=False)
    reg.register(out)
    return reg


def render(doc: Status, page: int | None = None) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry(doc, page)).decode()


def write_textfile(doc: Status, path: Path, root: Path | None) -> Path:
    """Write the reading to `path` atomically, mode 0644; returns the path written."""
    from tunekit.host.rootfs import Root

    rel = check_path(path, root)
    text = render(doc)
    try:
        with Root(root or Path("/")) as r:
            r.write(rel, text, 0o644)
    except OSError as err:
        raise NotPermitted(f"--prometheus {path}: cannot write: {err.strerror or err}") from err
    return Path(os.path.abspath(path))
