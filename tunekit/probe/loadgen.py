"""The probe's coordinator: real connections in a private network namespace.

It enters a namespace of its own (netns.py), listens on the layout's destination ports,
forks the workers (workers.py), says "go", follows their progress and the kernel's symptom
counters, measures what the connections cost, holds them, and tears everything down — on
success, on error, on Ctrl-C. Nothing here decides what a failure means: verdicts.py does.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import time
from dataclasses import dataclass, field

from tunekit.errors import NotPermitted
from tunekit.probe import netns, verdicts
from tunekit.probe.layout import Layout
from tunekit.probe.netns import (
    add_conntrack_rule,
    enter_private_netns,
    fit_buffers,
    memory_delta,
    read_counters,
    read_memory,
    read_netns_sysctls,
)
from tunekit.probe.workers import TICK, Spec, Worker, spawn

SETTLE_SECONDS = 0.5


@dataclass
class Outcome:
    connected: int = 0  # client ends established
    accepted: int = 0  # server ends accepted
    held: int | None = 0  # still established at the end of the hold (None: not counted)
    connect_seconds: float = 0.0
    hold_seconds: float = 0.0
    failure: verdicts.Failure | None = None
    events: list[verdicts.Failure] = field(default_factory=list)
    memory: verdicts.Memory | None = None
    copied_sysctls: list[str] = field(default_factory=list)
    not_copied: dict[str, str] = field(default_factory=dict)
    buffers: dict[str, str] = field(default_factory=dict)  # tcp_rmem/wmem set for --send
    unverified: list[str] = field(default_factory=list)  # what it could not measure, and why

    @property
    def established(self) -> int:
        return min(self.connected, self.accepted)

    @property
    def rate(self) -> float:
        return self.established / self.connect_seconds if self.connect_seconds else 0.0


class Coordinator:
    def __init__(
        self,
        layout: Layout,
        rate: float,
        timeout: float,
        hold: float,
        accept_pause: float,
        progress=None,
        send: int = 0,
    ):
        self.layout, self.rate, self.timeout, self.hold = layout, rate, timeout, hold
        self.accept_pause = accept_pause
        self.send = send
        self.progress = progress or (lambda outcome, phase, elapsed: None)
        self.workers: list[Worker] = []
        self.out = Outcome()
        self.start = 0.0
        self.stopped = False
        self._seen: set[str] = set()  # symptom counters already reported
        self._next_watch = 0.0  # when _tick reads the counters next

    # workers
    def _specs(self) -> list[Spec]:
        lay = self.layout
        pairs = [(s, d) for s in lay.sources for d in lay.destinations]
        specs, offset = [], 0
        per_rate = self.rate / len(lay.connectors) if self.rate else 0.0
        for count in lay.connectors:
            specs.append(
                Spec(
                    "connect",
                    count,
                    lay.nofile,
                    pairs,
                    offset,
                    per_rate,
                    self.timeout,
                    send=self.send,
                )
            )
            offset += count
        specs += [
            Spec(
                "accept",
                lay.per_worker,
                lay.nofile,
                accept_pause=self.accept_pause,
                listener=i % len(lay.destinations),
            )
            for i in range(lay.acceptors)
        ]
        return specs

    def _on_message(self, w: Worker, raw: bytes) -> None:
        if not raw:  # end of file: the worker is gone, and what it held with it
            if w.state != "dead":
                w.state = "dead"
                self._fail(
                    verdicts.failure(
                        "worker_died",
                        None,
                        f"{w.spec.role} worker {w.pid} died: {self._reap(w)}",
                        self.out.established,
                        self._elapsed(),
                    )
                )
            return
        msg = json.loads(raw)
        if "ready" in msg:
            w.state = "ready"
        w.count = msg.get("done", msg.get("n", w.count))
        w.at = msg.get("at", w.at)
        self.out.connected = sum(x.count for x in self.workers if x.spec.role == "connect")
        self.out.accepted = sum(x.count for x in self.workers if x.spec.role == "accept")
        if "error" in msg:
            w.state = "failed"
            self._connect_failed(w, msg)
        if "done" in msg and w.state != "failed":
            w.state = "done"

    def _connect_failed(self, w: Worker, msg: dict) -> None:
        at = self.out.connected if w.spec.role == "connect" else self.out.accepted
        if msg["error"] == "timeout":
            failure = verdicts.explain_timeout(self.out.events, at, self._elapsed(), self.timeout)
        else:
            failure = verdicts.from_errno(
                msg["error"], msg["op"], at, self._elapsed(), msg.get("limit")
            )
        self._fail(failure)

    def _fail(self, failure: verdicts.Failure, stop: bool = True) -> None:
        """Record a failure. A hard one (an error, a dead worker) stops the connectors,
        which keep what they hold; a symptom (a counter grew) does not: the kernel retries."""
        self.out.events.append(failure)
        first = self.out.failure
        if first is None:
            self.out.failure = failure
        elif first.kind in verdicts.counter_limits() and stop and _names_a_limit(failure):
            # a symptom seen first is often the consequence of the error that follows
            # (accept() failing with ENFILE fills the queue: ListenOverflows), so an errno
            # that names a limit is what stopped the climb; a timeout is not one: it is
            # explained by the symptom (explain_timeout)
            self.out.failure = failure
        if stop and not self.stopped:
            self.stopped = True
            for w in self.workers:
                if w.spec.role == "connect" and w.state in ("running", "plateau"):
                    try:
                        w.chan.send(b"stop")
                    except OSError:
                        pass

    def _reap(self, w: Worker) -> str:
        try:
            pid, status = os.waitpid(w.pid, 0)
        except ChildProcessError:
            return "already reaped"
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            hint = " (the OOM killer? see dmesg)" if sig == "SIGKILL" else ""
            return f"killed by {sig}{hint}"
        return f"exit status {os.WEXITSTATUS(status)}"

    def _pump(self, timeout: float) -> None:
        """Handle what the workers send within `timeout` seconds. poll(), not select():
        a probe of many destinations has more channels than select()'s 1,024 descriptors."""
        live = {w.chan.fileno(): w for w in self.workers if w.state != "dead"}
        if not live:
            time.sleep(timeout)
            return
        poller = select.poll()
        for fd in live:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(timeout * 1000):
            w = live[fd]
            try:
                raw = w.chan.recv(4096)
            except ConnectionResetError:
                raw = b""
            self._on_message(w, raw)

    def _elapsed(self) -> float:
        return time.monotonic() - self.start if self.start else 0.0

    def _read_counters(self) -> dict[str, int]:
        return read_counters()

    def _symptoms(self, base: dict[str, int], now: dict[str, int]) -> list[verdicts.Failure]:
        return verdicts.from_counters(base, now, self.out.established, self._elapsed())

    def _watch_counters(self, base: dict[str, int], seen: set[str]) -> None:
        for f in self._symptoms(base, self._read_counters()):
            if f.kind not in seen:
                seen.add(f.kind)
                self._fail(f, stop=False)
            else:
                next(e for e in self.out.events if e.kind == f.kind).count = f.count

    # the run
    def run(self, conntrack: bool) -> Outcome:
        copy = read_netns_sysctls()
        self.out.copied_sysctls, self.out.not_copied = enter_private_netns(copy)
        if self.send:
            self.out.buffers = fit_buffers(self.send)
        if conntrack:
            add_conntrack_rule()
        listeners = []
        for addr in self.layout.destinations:
            lsock = socket.socket()
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind(addr)
            lsock.listen(65535)  # the kernel caps it to net.core.somaxconn
            # an idle blocking accept() returns EAGAIN after TICK (see _accept_loop)
            lsock.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, int(TICK * 1e6))
            )
            listeners.append(lsock)
        try:
            for spec in self._specs():
                self.workers.append(spawn(spec, listeners))
            for lsock in listeners:
                lsock.close()
            self._connect_phase()
            self._hold_phase()
        finally:
            self.teardown()
        return self.out

    def _connect_phase(self) -> None:
        """Workers ready, "go", connections followed to the end, then what they cost."""
        if not self._await_ready():
            return
        self.base_memory, base_counters = read_memory(), read_counters()
        self._go()
        self._follow(base_counters)
        # from "go" to the latest connection any worker made (0 if none was)
        self.out.connect_seconds = max(0.0, max(w.at for w in self.workers) - self.start)
        self._watch_counters(base_counters, self._seen)
        time.sleep(SETTLE_SECONDS)
        sockets = self.out.connected + self.out.accepted
        after = read_memory()
        unread = list(dict.fromkeys(self.base_memory.unread + after.unread))
        if unread:  # a delta against a 0 read would be a made-up figure: none is reported
            self.out.unverified.append(
                f"memory: {', '.join(unread)} could not be read: what the connections cost "
                "was not measured"
            )
        else:
            self.out.memory = memory_delta(self.base_memory, after, sockets)

    def _await_ready(self) -> bool:
        """Every worker said "ready" (False: one failed first)."""
        wait = 30 + len(self.workers) * 0.1
        deadline = time.monotonic() + wait
        while any(w.state == "starting" for w in self.workers):
            if time.monotonic() > deadline:
                raise NotPermitted(f"the probe's workers did not start within {wait:.0f} s")
            self._pump(TICK)
            if self.out.failure:
                return False
        return True

    def _go(self) -> None:
        self.start = time.monotonic()
        for w in self.workers:
            w.chan.send(b"go")
            w.state = "running"

    def _follow(self, base_counters: dict[str, int]) -> None:
        """Until every connector is done and the acceptors have taken what was connected,
        or have stalled for --connect-timeout (blamed on the latest symptom), or a worker
        died. Symptom counters are read every 0.5 s."""
        connectors = [w for w in self.workers if w.spec.role == "connect"]
        stalled_since, last_accepted = 0.0, -1
        self._next_watch = 0.0
        while True:
            if self._tick(base_counters):
                return
            if not all(w.state in ("done", "failed") for w in connectors):
                continue
            accepting = any(w.state == "running" for w in self.workers if w.spec.role == "accept")
            if self.out.accepted >= self.out.connected or not accepting:
                return
            if self.out.accepted != last_accepted:  # still accepting: wait for it
                stalled_since, last_accepted = time.monotonic(), self.out.accepted
            elif time.monotonic() - stalled_since > self.timeout:
                self._watch_counters(base_counters, self._seen)
                pending = self.out.connected - self.out.accepted
                self._fail(
                    verdicts.explain_timeout(
                        self.out.events, self.out.accepted, self._elapsed(), self.timeout, pending
                    )
                )
                return

    def _tick(self, base: dict[str, int]) -> bool:
        """One tick of a climb: what the workers said, and every 0.5 s the symptom counters
        and the progress line; True if a worker died."""
        self._pump(TICK)
        if time.monotonic() >= self._next_watch:
            self._watch_counters(base, self._seen)
            self._next_watch = time.monotonic() + 0.5
            self.progress(self.out, "connecting", self._elapsed())
        return any(w.state == "dead" for w in self.workers)

    def _hold(self) -> bool:
        """Hold for `self.hold` seconds, following the workers; False if none was held
        (a worker had died already)."""
        if any(w.state == "dead" for w in self.workers):
            return False
        start = time.monotonic()
        while time.monotonic() - start < self.hold:
            self.progress(self.out, "holding", time.monotonic() - start)
            self._pump(min(0.5, max(0.0, self.hold - (time.monotonic() - start))))
            if any(w.state == "dead" for w in self.workers):
                break
        self.out.hold_seconds = time.monotonic() - start
        return True

    def _hold_phase(self) -> None:
        if not self._hold():
            return
        # both ends of an established connection are in the hash tables (TCP inuse)
        end = read_memory()
        unread = [u for u in self.base_memory.unread + end.unread if u.startswith(netns.SOCKSTAT)]
        if unread:
            self.out.held = None
            self.out.unverified.append(
                f"held: {unread[0]} could not be read: the connections still established "
                "at the end of the hold were not counted"
            )
        else:
            self.out.held = max(0, end.tcp_inuse - self.base_memory.tcp_inuse) // 2

    def teardown(self) -> None:
        """Close every channel (workers exit on end-of-file), then kill what is left.
        Runs on success, on error and on Ctrl-C; the namespace dies with the last process."""
        for w in self.workers:
            try:
                w.chan.close()
            except OSError:
                pass
        deadline = time.monotonic() + 10
        pending = {w.pid for w in self.workers if w.state != "dead"}
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    pending.discard(pid)
            time.sleep(0.02)
        for pid in pending:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _names_a_limit(f: verdicts.Failure) -> bool:
    return f.key is not None and f.kind not in ("timeout", "worker_died")
