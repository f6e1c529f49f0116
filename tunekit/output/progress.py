"""Progress on stderr for long runs: one line rewritten in place on a terminal, a line
every few seconds otherwise (logs, CI)."""

from __future__ import annotations


class ProbeProgress:
    """Progress of a probe on stderr: one line rewritten in place on a terminal, a line
    every few seconds otherwise (logs, CI)."""

    def __init__(self, total: int, stream, every: float = 5.0):
        self.total, self.stream, self.every = total, stream, every
        self.tty = stream.isatty()
        self.phase, self.last = "", 0.0

    def __call__(self, out, phase: str, elapsed: float) -> None:
        if not self.tty and phase == self.phase and elapsed - self.last < self.every:
            return
        self.phase, self.last = phase, elapsed
        line = (
            f"probe: {phase} {out.established:,}/{self.total:,} "
            f"(connected {out.connected:,}, accepted {out.accepted:,}) {elapsed:.1f} s"
        )
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
