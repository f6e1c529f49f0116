"""probe --target: the coordinator as a client of a real server.

The same workers as the loopback probe (workers.py), connecting only: no namespace of its
own (it runs in the one it was started in), no listener, no acceptor. It forks the
connectors, says "go", follows their progress (with a ramp, plateau by plateau), the
failures they count by cause and the connections the server closes while they are held,
and tears everything down (loadgen.Coordinator's machinery: on success, on error, on
Ctrl-C). What the failures mean is causes.py's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tunekit.host import procfs
from tunekit.knowledge import catalogue as K
from tunekit.probe import causes, verdicts
from tunekit.probe.layout import Layout, Ramp, shares
from tunekit.probe.loadgen import Coordinator
from tunekit.probe.workers import Spec, Worker, spawn


@dataclass
class Plateau:
    step: int
    target: int  # connections the step asked for, all workers together
    established: int
    lost: int
    seconds: float  # since "go", when the plateau was reached


@dataclass
class TargetOutcome:
    connected: int = 0  # established, from the client's side (ever)
    lost: int = 0  # established, then closed or reset by the server (or a worker died)
    dead: int = 0  # held by workers that died
    connect_seconds: float = 0.0  # climbing, plateaus left out
    hold_seconds: float = 0.0
    failure: verdicts.Failure | None = None  # the first (what loadgen's machinery reads)
    events: list[verdicts.Failure] = field(default_factory=list)  # symptoms, in order
    failures: dict[int, list[list]] = field(default_factory=dict)  # pid -> rows
    losses: dict[int, list[list]] = field(default_factory=dict)  # pid -> rows (cumulative)
    seen: dict[tuple[str, str], causes.Seen] = field(default_factory=dict)
    first: tuple[str, str] | None = None  # (kind, op) that stopped the climb
    plateaus: list[Plateau] = field(default_factory=list)
    symptoms: dict[str, int] = field(default_factory=dict)  # counters that grew here

    @property
    def established(self) -> int:
        return self.connected

    @property
    def held(self) -> int:
        return self.connected - self.lost

    @property
    def rate(self) -> float:
        return self.connected / self.connect_seconds if self.connect_seconds else 0.0

    def rows(self) -> list[list]:
        return [r for rows in (*self.failures.values(), *self.losses.values()) for r in rows]


def read_counters() -> dict[str, int]:
    """This namespace's symptom counters and the client-side signs of a server dropping."""
    names = (*K.symptoms(), *causes.SERVER_COUNTERS)
    return procfs.tcpext(Path("/"), names)


class TargetCoordinator(Coordinator):
    def __init__(
        self,
        layout: Layout,
        rate: float,
        timeout: float,
        hold: float,
        ramp: Ramp | None = None,
        progress=None,
        send: int = 0,
    ):
        super().__init__(layout, rate, timeout, hold, 0.0, progress=progress, send=send)
        self.ramp = ramp
        self.out: TargetOutcome = TargetOutcome()  # type: ignore[assignment]
        # the rate's clock: time spent climbing, plateaus left out
        self.climbed, self.segment = 0.0, 0.0

    def _caps(self, step: int) -> list[int]:
        """Each connector's cap at `step` of the ramp: the step's total, spread as the
        shares are (each cap within its worker's share)."""
        assert self.ramp is not None
        total = min(self.layout.conns, step * self.ramp.step)
        return shares(total, len(self.layout.connectors))

    def _specs(self) -> list[Spec]:
        lay = self.layout
        caps = self._caps(1) if self.ramp else [0] * len(lay.connectors)
        specs, offset = [], 0
        per_rate = self.rate / len(lay.connectors) if self.rate else 0.0
        for count, cap in zip(lay.connectors, caps, strict=True):
            specs.append(
                Spec(
                    "connect",
                    count,
                    lay.nofile,
                    lay.all_pairs(),
                    offset,
                    per_rate,
                    self.timeout,
                    send=self.send,
                    cap=cap if cap < count else 0,
                    watch=True,
                )
            )
            offset += count
        return specs

    def _on_message(self, w: Worker, raw: bytes) -> None:
        if not raw:  # the worker is gone, and the connections it held with it
            if w.state != "dead":
                self.out.lost += w.count - self._lost_by(w)
                self.out.losses.pop(w.pid, None)
                self.out.dead += w.count
            super()._on_message(w, raw)  # reported as it died: a failure that stops it
            if self.out.first is None:
                self.out.first = ("worker_died", "worker")
                self.out.seen[self.out.first] = causes.Seen(self.out.connected, self._elapsed())
                self.out.failures[w.pid] = [["worker_died", "worker", "-", "-", 1]]
            return
        msg = json.loads(raw)
        out = self.out
        if "ready" in msg:
            w.state = "ready"
        w.count = msg.get("done", msg.get("n", w.count))
        w.at = msg.get("at", w.at)
        if msg.get("plateau"):
            w.state = "plateau"
        out.connected = sum(x.count for x in self.workers)
        if msg.get("losses"):
            self._new_rows(msg["losses"])
            out.losses[w.pid] = msg["losses"]
            out.lost = out.dead + sum(sum(r[4] for r in rows) for rows in out.losses.values())
            self._stop_on("closed by the server", msg["losses"][0])
        if "failures" in msg:
            w.state = "failed"
            self._new_rows(msg["failures"])
            out.failures[w.pid] = msg["failures"]
            self._stop_on(f"{msg['op']}() failed with {msg['error']}", [msg["error"], msg["op"]])
        if "done" in msg and w.state != "failed":
            w.state = "done"

    def _lost_by(self, w: Worker) -> int:
        return sum(r[4] for r in self.out.losses.get(w.pid, []))

    def _new_rows(self, rows: list[list]) -> None:
        for kind, op, *_ in rows:
            if (kind, op) not in self.out.seen:
                self.out.seen[kind, op] = causes.Seen(self.out.connected, self._elapsed())

    def _stop_on(self, detail: str, row: list) -> None:
        """The first failure ends the climb: every connector is told to stop."""
        if self.out.first is None:
            self.out.first = (row[0], row[1])
        if self.out.failure is None:
            _, key, _, _ = causes.classify(row[0], row[1])
            self._fail(verdicts.failure(row[0], key, detail, self.out.connected, self._elapsed()))

    def _read_counters(self) -> dict[str, int]:
        return read_counters()

    def _symptoms(self, base: dict[str, int], now: dict[str, int]) -> list[verdicts.Failure]:
        self.out.symptoms = {
            **{k: now[k] - base.get(k, 0) for k in K.symptoms() if now.get(k, 0) > base.get(k, 0)},
            **causes.server_symptoms(base, now),
        }
        return []  # a symptom here is this namespace's, shared: reported, never a stop

    # the run
    def run(self, conntrack: bool = False) -> TargetOutcome:  # type: ignore[override]
        try:
            for spec in self._specs():
                self.workers.append(spawn(spec, []))
            if self._await_ready():
                base = read_counters()
                self._go()
                self._climb(base)
                self._hold_phase()
                self._watch_counters(base, self._seen)
        finally:
            self.teardown()
        return self.out

    def _climb(self, base: dict[str, int]) -> None:
        """Until every connector is done or failed (or one died); at each plateau of the
        ramp, hold `ramp.seconds`, then raise the caps."""
        step = 1
        self.segment = self.start
        self._next_watch = 0.0
        while True:
            if self._tick(base):
                break
            states = {w.state for w in self.workers}
            if states <= {"done", "failed"}:
                break
            ready = "plateau" in states and states <= {"plateau", "done", "failed"}
            if ready and not self.stopped:
                if not self._plateau(step):
                    break
                step += 1
        self._climbed()
        self.out.connect_seconds = self.climbed

    def _climbed(self) -> None:
        """Add the climb since the last plateau: up to the latest connection any worker
        made (by the workers' own clocks)."""
        latest = max(w.at for w in self.workers)
        self.climbed += max(0.0, latest - self.segment)
        self.segment = max(self.segment, latest)

    def _plateau(self, step: int) -> bool:
        """Every connector reached its cap: record it, hold, go on (False: stopped)."""
        assert self.ramp is not None
        out = self.out
        total = min(self.layout.conns, step * self.ramp.step)
        out.plateaus.append(Plateau(step, total, out.connected, out.lost, self._elapsed()))
        self._climbed()
        began = time.monotonic()
        while time.monotonic() - began < self.ramp.seconds and not self.stopped:
            self.progress(out, f"plateau {step}", time.monotonic() - began)
            self._pump(min(0.5, max(0.0, self.ramp.seconds - (time.monotonic() - began))))
            if any(w.state == "dead" for w in self.workers):
                return False
        if self.stopped:
            return False
        self.segment = time.monotonic()
        for w, cap in zip(self.workers, self._caps(step + 1), strict=True):
            if w.state == "plateau":
                w.chan.send(f"upto {cap}".encode())
                w.state = "running"
        return True

    def _hold_phase(self) -> None:
        self._hold()  # the held count is the workers' own
