"""`status`: how close this host is to every limit, now: one reading (`status`), or one
every few seconds (`watch`), each the document the command prints; with `prometheus`,
each reading is also written as a node_exporter textfile.

A reading is cheap on the hosts it is for (bench/status.py): counters from /proc/net
(sockstat, snmp, netstat, nf_conntrack) and fs.file-nr, listeners from inet_diag (the
listening hash only), descriptor counts from stat(/proc/PID/fd), and the one dump that
grows with connections, the ephemeral ports in use, filtered in the kernel to the port
range. Under a --root other than /, only files are read: sockets, processes and the
kernel log are the running host's, not the tree's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tunekit.errors import UsageError
from tunekit.ops import audit
from tunekit.output.documents.status import Status

if TYPE_CHECKING:
    from tunekit.model.profiles import Profile
    from tunekit.model.status import Previous, Profiled, Snapshot

MAX_TOP = 1000
MIN_WATCH = 0.1


@dataclass
class StatusOptions:
    profile: str | None = None  # name or path; None: rows are judged on live limits only
    conns: int | None = None  # rescales the profile
    top: int = 5  # processes and destinations shown
    root: Path | None = None
    prometheus: Path | None = None  # a *.prom file for node_exporter's textfile collector
    watch: float | None = None  # seconds between readings (watch())
    kernel_log: bool = True  # count the limits' messages in /dev/kmsg


def check_options(o: StatusOptions) -> None:
    if o.conns is not None and o.profile is None:
        raise UsageError(
            "--conns rescales a PROFILE: name one", "tunekit status server-1M --conns 2M"
        )
    if not 1 <= o.top <= MAX_TOP:
        raise UsageError(f"--top {o.top}: expected 1 to {MAX_TOP}")
    if o.watch is not None and not MIN_WATCH <= o.watch <= 86_400:
        raise UsageError(f"--watch {o.watch:g}: expected {MIN_WATCH} to 86400 seconds")
    if o.prometheus is not None:
        from tunekit.output.prometheus import check_path

        check_path(o.prometheus, o.root)


class Reader:
    """Reads one reading after another; keeps what the next one compares with."""

    def __init__(self, o: StatusOptions):
        from tunekit.host.facts import check_root

        check_options(o)
        self.o = o
        self.root = o.root or Path("/")
        check_root(self.root)
        self.live = self.root.resolve() == Path("/")
        self.previous: Previous | None = None
        self.kmsg_seq = -1
        self.profile: Profile | None = None
        self.why: str | None = None
        if o.profile is not None:
            state = audit.state_dir(None, o.root)
            self.profile, self.why = audit.load_profile(o.profile, o.conns, state)

    def snapshot(self, timer) -> Snapshot:
        from tunekit.host.counters import read_counters
        from tunekit.host.facts import read_facts
        from tunekit.model.status import Snapshot

        extra = [t.entry for t in self.profile.targets] if self.profile else []
        facts = timer.run("sysctls", read_facts, self.root, False, extra)
        counters = timer.run("counters", read_counters, self.root)
        snap = Snapshot(at=time.monotonic(), facts=facts, tables=counters.tables)
        snap.notes += [f"{path}: not read ({why})" for path, why in counters.unread.items()]
        if self.live:
            from tunekit.host.status import read_live

            since = self.kmsg_seq if self.o.kernel_log else None
            last = read_live(snap, self.o.top, since, timer)
            if last is not None:
                self.kmsg_seq = last
        else:
            snap.notes.append(
                "listeners, processes, ports in use and the kernel log are the running "
                f"host's: not read under --root {self.root}"
            )
        return snap

    def read(self) -> Status:
        from tunekit.host.status import Timer
        from tunekit.model.status import judge

        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        timer = Timer()
        start = time.perf_counter()
        snap = self.snapshot(timer)
        profiled = self._profiled(snap, timer) if self.profile is not None else None
        previous = self.previous
        judged = judge(snap, previous, self.o.top, profiled)
        self.previous = judged.previous
        timer.ms["total"] = round((time.perf_counter() - start) * 1000, 2)
        facts = snap.facts
        doc = Status(
            at=at,
            interval=round(snap.at - previous.at, 3) if previous is not None else None,
            source=facts.source + (f", kernel {facts.kernel}" if facts.kernel else ""),
            profile=profiled.name if profiled else None,
            profile_why=self.why,
            rows=judged.rows,
            sockets=judged.sockets,
            symptoms=judged.symptoms,
            kernel_log=judged.log,
            notes=snap.notes + facts.notes,
            read_ms=timer.ms,
        )
        if self.o.prometheus is not None:
            from tunekit.output.prometheus import write_textfile

            doc.prometheus = str(write_textfile(doc, self.o.prometheus, self.o.root))
        return doc

    def _profiled(self, snap: Snapshot, timer) -> Profiled:
        from tunekit.model.status import Profiled

        prof = self.profile
        assert prof is not None
        result = timer.run("profile", lambda: audit.run(prof, self.why or "", facts=snap.facts))
        return Profiled(
            name=prof.name,
            findings={f.key: f for f in result.findings},
            needs={n.name: n.value for n in result.estimate.needs},
            targets={t.label: t for t in result.targets},
        )


def status(o: StatusOptions) -> Status:
    """One reading."""
    return Reader(o).read()


def watch(o: StatusOptions) -> Iterator[Status]:
    """A reading every `o.watch` seconds until the caller stops (Ctrl-C raises
    KeyboardInterrupt in the sleep; the caller ends there)."""
    if o.watch is None:
        raise UsageError("watch needs --watch SECONDS")
    reader = Reader(o)  # bad options are refused here, when watch() is called
    return _readings(reader, o.watch)


def _readings(reader: Reader, every: float) -> Iterator[Status]:
    while True:
        start = time.monotonic()
        yield reader.read()
        time.sleep(max(0.0, start + every - time.monotonic()))
