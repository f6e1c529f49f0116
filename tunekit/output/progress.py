"""Progress on stderr for long runs: one line rewritten in place on a terminal (with a bar),
a line every few seconds otherwise (logs, CI)."""

from __future__ import annotations

BAR = 20  # characters of the bar on a terminal


class ProbeProgress:
    """Progress of a probe on stderr: one line rewritten in place on a terminal, a line
    every few seconds otherwise (logs, CI)."""

    def __init__(self, total: int, stream, every: float = 5.0):
        self.total, self.stream, self.every = total, stream, every
        self.tty = stream.isatty()
        self.phase, self.last = "", 0.0

    def counts(self, out) -> str:
        return f"(connected {out.connected:,}, accepted {out.accepted:,})"

    def __call__(self, out, phase: str, elapsed: float) -> None:
        if not self.tty and phase == self.phase and elapsed - self.last < self.every:
            return
        self.phase, self.last = phase, elapsed
        line = (
            f"probe: {phase} {out.established:,}/{self.total:,} {self.counts(out)} {elapsed:.1f} s"
        )
        if self.tty:
            done = min(BAR, BAR * out.established // max(1, self.total))
            line = f"[{'#' * done}{'.' * (BAR - done)}] {line}"
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


class TargetProgress(ProbeProgress):
    """probe --target: established from the client's side, and what the server closed."""

    def counts(self, out) -> str:
        return f"(lost {out.lost:,})"
